"""Read models for the hot protocol paths (token, userinfo, introspection).

One Core SELECT each into frozen dataclasses: the ORM's identity map and object loading cost
more than everything else these endpoints do. Writes still go through the ORM or Core
statements in the services.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, fields
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.orm import scoped_session

from idp.models.base import DbSession, utcnow
from idp.models.clients import OAuthClient
from idp.models.members import Affiliation, Company, Member
from idp.models.sns import SnsLink
from idp.models.tokens import AuthorizationCode, Token

_tokens = cast(Table, Token.__table__)
_clients = cast(Table, OAuthClient.__table__)
_members = cast(Table, Member.__table__)
_affiliations = cast(Table, Affiliation.__table__)
_companies = cast(Table, Company.__table__)
_codes = cast(Table, AuthorizationCode.__table__)
# A company manager's company (members.managed_company_id), beside an affiliation's company.
_managed = _companies.alias("managed_companies")


@dataclass(frozen=True)
class CompanyView:
    business_number: str
    name: str


@dataclass(frozen=True)
class AffiliationView:
    method: str
    established_at: dt.datetime
    company: CompanyView


@dataclass(frozen=True)
class MemberView:
    id: int
    subject: str
    member_type: str
    login_id: str | None
    name: str
    email: str | None
    email_verified: bool
    phone: str | None
    phone_verified: bool
    status: str
    updated_at: dt.datetime
    affiliation: AffiliationView | None
    password_change_required: bool = False
    # For a company manager (기업정보 관리자): the company this principal manages.
    managed_company: CompanyView | None = None
    # For a simple member (간편회원): the SNS it joined with (issue 9).
    sns_provider: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


_MEMBER_COLUMNS = [
    *(c.label(f"m_{c.name}") for c in (
        _members.c.id, _members.c.subject, _members.c.member_type, _members.c.login_id,
        _members.c.name, _members.c.email, _members.c.email_verified, _members.c.phone,
        _members.c.phone_verified, _members.c.status, _members.c.updated_at,
        _members.c.password_change_required,
    )),
    _affiliations.c.method.label("a_method"),
    _affiliations.c.established_at.label("a_established_at"),
    _companies.c.business_number.label("c_business_number"),
    _companies.c.name.label("c_name"),
    _managed.c.business_number.label("mc_business_number"),
    _managed.c.name.label("mc_name"),
]
_sns_links = cast(Table, SnsLink.__table__)
# The SNS a simple member joined with (its first link; sns_links is indexed by member).
_MEMBER_COLUMNS.append(
    select(_sns_links.c.provider).where(_sns_links.c.member_id == _members.c.id)
    .order_by(_sns_links.c.id).limit(1).correlate(_members).scalar_subquery()
    .label("s_provider"))
_MEMBER_JOIN = _members.outerjoin(
    _affiliations,
    and_(_affiliations.c.member_id == _members.c.id, _affiliations.c.revoked_at.is_(None)),
).outerjoin(_companies, _companies.c.id == _affiliations.c.company_id
).outerjoin(_managed, _managed.c.id == _members.c.managed_company_id)
_MEMBER_BY_ID = (
    select(*_MEMBER_COLUMNS).select_from(_MEMBER_JOIN)
    .where(_members.c.id == bindparam("member_id"))
)


def _member_from(row: Any) -> MemberView | None:
    if row.m_id is None:
        return None
    affiliation = None
    if row.a_method is not None:
        affiliation = AffiliationView(
            row.a_method, row.a_established_at, CompanyView(row.c_business_number, row.c_name)
        )
    managed = None
    if row.mc_business_number is not None:
        managed = CompanyView(row.mc_business_number, row.mc_name)
    return MemberView(
        id=row.m_id, subject=row.m_subject, member_type=row.m_member_type,
        login_id=row.m_login_id, name=row.m_name, email=row.m_email,
        email_verified=bool(row.m_email_verified), phone=row.m_phone,
        phone_verified=bool(row.m_phone_verified), status=row.m_status,
        updated_at=row.m_updated_at, affiliation=affiliation, managed_company=managed,
        password_change_required=bool(row.m_password_change_required),
        sns_provider=row.s_provider if row.m_member_type == "simple" else None,
    )


def load_member(session: DbSession, member_id: int) -> MemberView | None:
    row = session.connection().execute(_MEMBER_BY_ID, {"member_id": member_id}).first()
    return None if row is None else _member_from(row)


# Password sign-in (idp/services/members.py): the member and its password hash in one read,
# so that the authorization request resumed after the sign-in reads the member no second time.
# (A failed sign-in reads the joined row too: a few microseconds beside its hash.)
_MEMBER_BY_LOGIN_ID = (
    select(*_MEMBER_COLUMNS, _members.c.password_hash.label("m_password_hash"))
    .select_from(_MEMBER_JOIN).where(_members.c.login_id == bindparam("login_id"))
)


def load_member_with_password(
    session: DbSession, login_id: str
) -> tuple[MemberView, str | None] | None:
    """The member whose login ID this is, and its password hash (None without a password)."""
    row = session.connection().execute(_MEMBER_BY_LOGIN_ID, {"login_id": login_id}).first()
    if row is None:
        return None
    member = _member_from(row)
    assert member is not None
    return member, row.m_password_hash


@dataclass(frozen=True)
class TokenRecord:
    """A row of `tokens`, with authlib's TokenMixin methods."""

    id: int
    client_id: str
    member_id: int | None
    scope: str
    refresh_scope: str | None
    access_token_hash: str
    refresh_token_hash: str | None
    family_id: str
    code_hash: str | None
    sid: str | None
    auth_time: int | None
    acr: str | None
    amr: list[str] | None
    issued_at: int
    access_expires_at: int
    refresh_expires_at: int | None
    rotated_at: int | None
    revoked_at: int | None

    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.access_expires_at - self.issued_at

    def is_expired(self) -> bool:
        return self.access_expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_refresh_usable(self) -> bool:
        return (
            self.refresh_token_hash is not None
            and self.revoked_at is None
            and self.rotated_at is None
            and (self.refresh_expires_at or 0) > time.time()
        )


_TOKEN_COLUMNS = [getattr(_tokens.c, f.name) for f in fields(TokenRecord)]
# Joined with the client's registration: a removed client's tokens are not found at all, in
# every process at once (no per-process cache in the way), for no extra round trip.
_CLIENT_JOIN = _clients.c.client_id == _tokens.c.client_id
_TOKEN_BY = {
    column: select(*_TOKEN_COLUMNS).select_from(_tokens.join(_clients, _CLIENT_JOIN)).where(
        getattr(_tokens.c, column) == bindparam("digest"))
    for column in ("access_token_hash", "refresh_token_hash")
}


_TOKEN_NAMES = [f.name for f in fields(TokenRecord)]
# A token and its member in one round trip (userinfo, refresh).
_TOKEN_AND_MEMBER = {
    column: select(*_TOKEN_COLUMNS, *_MEMBER_COLUMNS)
    .select_from(_tokens.join(_clients, _CLIENT_JOIN)
                 .outerjoin(_MEMBER_JOIN, _members.c.id == _tokens.c.member_id))
    .where(getattr(_tokens.c, column) == bindparam("digest"))
    for column in ("access_token_hash", "refresh_token_hash")
}


# A refresh needs its member's id and status only, not the claims (idp/oidc/hot.py).
REFRESH_WITH_MEMBER_STATUS = (
    select(*_TOKEN_COLUMNS, _members.c.status.label("m_status"))
    .select_from(_tokens.join(_clients, _CLIENT_JOIN)
                 .outerjoin(_members, _members.c.id == _tokens.c.member_id))
    .where(_tokens.c.refresh_token_hash == bindparam("digest"))
)


def _token_from(row: Any) -> TokenRecord:
    return TokenRecord(**{name: getattr(row, name) for name in _TOKEN_NAMES})


def load_token(session: DbSession, column: str, digest: str) -> TokenRecord | None:
    """The token whose `column` (access_token_hash | refresh_token_hash) equals `digest`."""
    row = session.connection().execute(_TOKEN_BY[column], {"digest": digest}).first()
    return None if row is None else _token_from(row)


def load_token_and_member(
    session: DbSession, column: str, digest: str, *, read_only: bool = False
) -> tuple[TokenRecord | None, MemberView | None]:
    """The token whose `column` equals `digest`, and its member.

    `read_only` (userinfo): on PostgreSQL, outside a transaction (autocommit) when none is
    open yet, so that the server sees one statement instead of BEGIN, SELECT and ROLLBACK.
    (SQLite's transactions cost nothing to begin; switching its isolation level does.)
    """
    real = session() if isinstance(session, scoped_session) else session
    if read_only and not real.in_transaction() and real.get_bind().dialect.name == "postgresql":
        conn = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    else:
        conn = session.connection()
    row = conn.execute(_TOKEN_AND_MEMBER[column], {"digest": digest}).first()
    if row is None:
        return None, None
    return _token_from(row), _member_from(row)


@dataclass(frozen=True)
class CodeRecord:
    """A row of `authorization_codes`, with authlib's AuthorizationCodeMixin methods."""

    code_hash: str
    client_id: str
    member_id: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    sid: str | None
    auth_time: int
    acr: str | None
    amr: list[str] | None
    expires_at: dt.datetime
    used_at: dt.datetime | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str] | None:
        return self.amr

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()


_CODE_NAMES = [f.name for f in fields(CodeRecord)]


# A code and its member in one round trip (the code exchange needs both: the Authlib grant in
# idp/oidc/server.py and the hot path in idp/oidc/hot.py).
CODE_AND_MEMBER = (
    select(*(getattr(_codes.c, name) for name in _CODE_NAMES), *_MEMBER_COLUMNS)
    .select_from(_codes.outerjoin(_MEMBER_JOIN, _members.c.id == _codes.c.member_id))
    .where(_codes.c.code_hash == bindparam("digest"))
)


def load_code_and_member(
    session: DbSession, digest: str
) -> tuple[CodeRecord | None, MemberView | None]:
    """The authorization code whose hash is `digest`, and its member."""
    row = session.connection().execute(CODE_AND_MEMBER, {"digest": digest}).first()
    if row is None:
        return None, None
    return CodeRecord(**{n: getattr(row, n) for n in _CODE_NAMES}), _member_from(row)
