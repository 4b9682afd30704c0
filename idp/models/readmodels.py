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

from idp.models.base import DbSession
from idp.models.members import Affiliation, Company, Member
from idp.models.tokens import Token

_tokens = cast(Table, Token.__table__)
_members = cast(Table, Member.__table__)
_affiliations = cast(Table, Affiliation.__table__)
_companies = cast(Table, Company.__table__)


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

    @property
    def is_active(self) -> bool:
        return self.status == "active"


_MEMBER_COLUMNS = [
    _members.c.id, _members.c.subject, _members.c.member_type, _members.c.login_id,
    _members.c.name, _members.c.email, _members.c.email_verified, _members.c.phone,
    _members.c.phone_verified, _members.c.status, _members.c.updated_at,
    _affiliations.c.method, _affiliations.c.established_at,
    _companies.c.business_number, _companies.c.name.label("company_name"),
]
_MEMBER_BY_ID = (
    select(*_MEMBER_COLUMNS)
    .select_from(
        _members.outerjoin(
            _affiliations,
            and_(_affiliations.c.member_id == _members.c.id, _affiliations.c.revoked_at.is_(None)),
        ).outerjoin(_companies, _companies.c.id == _affiliations.c.company_id)
    )
    .where(_members.c.id == bindparam("member_id"))
)


def load_member(session: DbSession, member_id: int) -> MemberView | None:
    row = session.connection().execute(_MEMBER_BY_ID, {"member_id": member_id}).first()
    if row is None:
        return None
    affiliation = None
    if row.method is not None:
        affiliation = AffiliationView(
            row.method, row.established_at, CompanyView(row.business_number, row.company_name)
        )
    return MemberView(
        id=row.id, subject=row.subject, member_type=row.member_type, login_id=row.login_id,
        name=row.name, email=row.email, email_verified=bool(row.email_verified),
        phone=row.phone, phone_verified=bool(row.phone_verified), status=row.status,
        updated_at=row.updated_at, affiliation=affiliation,
    )


@dataclass(frozen=True)
class TokenRecord:
    """A row of `tokens`, with authlib's TokenMixin methods."""

    id: int
    client_id: str
    member_id: int | None
    scope: str
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
_TOKEN_BY = {
    column: select(*_TOKEN_COLUMNS).where(
        getattr(_tokens.c, column) == bindparam("digest"))
    for column in ("access_token_hash", "refresh_token_hash")
}


def load_token(session: DbSession, column: str, digest: str) -> TokenRecord | None:
    """The token whose `column` (access_token_hash | refresh_token_hash) equals `digest`."""
    row = session.connection().execute(_TOKEN_BY[column], {"digest": digest}).first()
    if row is None:
        return None
    values = row._asdict()
    # JSON stored as text (JSONText); the Core select applies the column type already.
    return TokenRecord(**values)
