"""Members: creation and password sign-in (the 일반회원 tab)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast, overload

from sqlalchemy import Table, bindparam, select, update

from idp.errors import AlreadyExists, InvalidCredentials, InvalidInput, LoginThrottled
from idp.models import Affiliation, Company, Member, MemberType
from idp.models.base import DbSession, utcnow
from idp.models.readmodels import MemberView, load_member_with_password
from idp.services import audit
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.throttle import Attempt, Throttle, ip_bucket


def new_subject() -> str:
    return secrets.token_urlsafe(24)


def add_member(
    session: DbSession,
    passwords: Passwords,
    policy: PasswordPolicy,
    *,
    login_id: str,
    name: str,
    email: str | None,
    password: str,
    phone: str | None = None,
    member_type: str = MemberType.GENERAL,
) -> Member:
    """Create a general member with a password; the caller commits."""
    normalised = policy.check_login_id(login_id)
    policy.check_password(password)
    if not name.strip():
        raise InvalidInput("name", "required")
    if email is not None:
        email = _checked_email(email)
    if session.scalar(select(Member.id).where(Member.login_id == normalised)) is not None:
        raise AlreadyExists("login_id")
    member = Member(
        subject=new_subject(),
        member_type=member_type,
        login_id=normalised,
        name=name.strip(),
        email=email,
        email_verified=False,
        phone=phone,
        password_hash=passwords.hash(password),
    )
    session.add(member)
    session.flush()
    audit.record(session, "member.added", member_id=member.id)
    return member


def _checked_email(email: str) -> str:
    """The address in normal form (domain lower-cased, Unicode NFC), or InvalidInput.

    RFC 5321/5322 syntax (strict: a local part of at most 64 octets, RFC 5321 §4.5.3.1.1),
    at most 254 characters (the column), a public domain, no quoted local parts, no
    domain literals, no display names, no control characters.

    Syntax only: no DNS lookups (a member's mail server may be down when they sign up).
    """
    from email_validator import EmailNotValidError, validate_email  # lazy: issue 10, memory

    try:
        checked = validate_email(email, check_deliverability=False, strict=True)
    except EmailNotValidError as exc:
        raise InvalidInput("email", str(exc)) from None
    normalized: str = checked.normalized
    return normalized


def affiliate(
    session: DbSession, member: Member, company: Company, method: str
) -> Affiliation:
    """Attach a member to a company (the company capability adds the proofs before this)."""
    affiliation = Affiliation(member_id=member.id, company_id=company.id, method=method)
    session.add(affiliation)
    session.flush()
    session.expire(member, ["affiliation"])
    return affiliation


_members = cast(Table, Member.__table__)
# A successful sign-in's update, built once (building it per sign-in cost as much as running
# it); a password rehash adds the new hash to a per-call statement instead.
_TOUCH_LOGIN = update(_members).where(_members.c.id == bindparam("m_id")).values(
    last_login_at=bindparam("login_at"))


@dataclass(frozen=True)
class SignedIn:
    """Who a successful sign-in proved to be."""

    member_id: int
    login_id: str | None
    # The member as read at sign-in (password sign-in): the authorization request resumed
    # right after it needs no second read (idp/web/interaction.finish_login).
    member: MemberView | None = None


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class PasswordFallback(Protocol[T_co]):
    """Credentials kept outside `members`, tried when no member matched the ID and password
    (the old sites' accounts: idp.services.legacy_conversion.LegacyPasswordCheck). `verify`
    costs the same whether or not it finds something; `spend` costs the same, for a failure
    that does not consult it (so no response time tells the failures apart)."""

    def verify(self, session: DbSession, key: str, password: str) -> T_co | None: ...

    def spend(self) -> None: ...


@overload
def authenticate_password(
    session: DbSession, passwords: Passwords, throttle: Throttle, *, login_id: str,
    password: str, ip: str, client_id: str | None = None, fallback: None = None,
) -> SignedIn: ...


@overload
def authenticate_password(
    session: DbSession, passwords: Passwords, throttle: Throttle, *, login_id: str,
    password: str, ip: str, client_id: str | None = None, fallback: PasswordFallback[T],
) -> SignedIn | T: ...


def authenticate_password(
    session: DbSession,
    passwords: Passwords,
    throttle: Throttle,
    *,
    login_id: str,
    password: str,
    ip: str,
    client_id: str | None = None,
    fallback: PasswordFallback[T] | None = None,
) -> SignedIn | T:
    """Return the member whose ID and password match, or raise.

    The attempt is counted against the account and the client IP (an IPv6 address by its
    /64) *before* the hash, and committed, so parallel guesses see each other: at most the
    lock threshold's worth are ever verified. Raises LoginThrottled before any hash is
    computed when the account or the IP must wait, and InvalidCredentials for an unknown ID
    and a wrong password alike (same work, same message). Commits the throttle state and the
    audit event in every outcome.
    """
    key = login_id.strip().lower()
    try:
        attempt = throttle.reserve(account=key, ip=ip_bucket(ip))
    except LoginThrottled as exc:
        audit.record(
            session, "login.throttled", client_id=client_id, ip=ip,
            retry_after=exc.retry_after, locked=exc.locked,
        )
        session.commit()
        raise
    session.commit()  # the reservation is seen by every other attempt before the slow hash
    return _verify(session, passwords, throttle, attempt, key=key, password=password, ip=ip,
                   client_id=client_id, fallback=fallback)


def _verify(session: DbSession, passwords: Passwords, throttle: Throttle, attempt: Attempt, *,
            key: str, password: str, ip: str, client_id: str | None,
            fallback: PasswordFallback[T] | None) -> SignedIn | T:
    row = load_member_with_password(session, key) if key else None
    member, password_hash = row if row is not None else (None, None)
    ok = passwords.verify(password_hash, password)
    if fallback is not None and not ok:
        # Issue 8: an old site's ID and password, for an ID no member has or not with this
        # password (an old ID a unified member took since: its owner converts under a new
        # ID). Counted and forgiven like a sign-in; the caller starts the conversion.
        found = fallback.verify(session, key, password)
        if found is not None:
            throttle.succeeded(attempt, forgive=("account",))
            audit.record(session, "legacy.matched", client_id=client_id, ip=ip)
            session.commit()
            return found
    elif fallback is not None and member is not None and not member.is_active:
        fallback.spend()  # the same time as a failed old-password check
    if not ok or member is None or not member.is_active:
        locked = throttle.failed(attempt)
        audit.record(
            session, "login.failure", member_id=member.id if member else None,
            client_id=client_id, ip=ip, reason="password" if member else "unknown_id",
        )
        for kind in locked:
            audit.record(session, "login.locked", member_id=member.id if member else None,
                         ip=ip, key=kind)
        session.commit()
        raise InvalidCredentials()

    if passwords.needs_rehash(password_hash or ""):
        session.connection().execute(
            update(_members).where(_members.c.id == member.id)
            .values(last_login_at=utcnow(), password_hash=passwords.hash(password)))
    else:
        session.connection().execute(_TOUCH_LOGIN, {"m_id": member.id, "login_at": utcnow()})
    throttle.succeeded(attempt, forgive=("account",))
    audit.record(session, "login.success", member_id=member.id, client_id=client_id, ip=ip,
                 method="pwd")
    session.commit()  # (the counters' rows are not held while the caller starts the session)
    return SignedIn(member_id=member.id, login_id=member.login_id, member=member)
