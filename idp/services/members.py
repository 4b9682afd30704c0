"""Members: creation and password sign-in (the 일반회원 tab)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Table, bindparam, select, update

from idp.errors import AlreadyExists, InvalidCredentials, InvalidInput, LoginThrottled
from idp.models import Affiliation, Company, Member, MemberType
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.throttle import Throttle


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
# Sign-in reads four columns, not the member with its company (the ORM's joined load).
_LOGIN_LOOKUP = select(
    _members.c.id, _members.c.login_id, _members.c.password_hash, _members.c.status
).where(_members.c.login_id == bindparam("k"))


@dataclass(frozen=True)
class SignedIn:
    """Who a successful sign-in proved to be."""

    member_id: int
    login_id: str | None


def authenticate_password(
    session: DbSession,
    passwords: Passwords,
    throttle: Throttle,
    *,
    login_id: str,
    password: str,
    ip: str,
    client_id: str | None = None,
) -> SignedIn:
    """Return the member whose ID and password match, or raise.

    Raises LoginThrottled before any hash is computed when the account or the IP must wait,
    and InvalidCredentials for an unknown ID and a wrong password alike (same work, same
    message). Commits the throttle state and the audit event in every outcome.
    """
    key = login_id.strip().lower()
    single_flight = False
    try:
        failures = throttle.check(account=key, ip=ip)
        # An account that has failed recently verifies one attempt at a time, so parallel
        # guesses cannot all pass the check above; one that has not (the common case, and
        # a shared account signing in from several places) is not held up.
        if failures["account"]:
            if not throttle.begin("account", key):
                raise LoginThrottled(retry_after=1, locked=False)  # an attempt is in flight
            single_flight = True
    except LoginThrottled as exc:
        audit.record(
            session, "login.throttled", client_id=client_id, ip=ip,
            retry_after=exc.retry_after, locked=exc.locked,
        )
        session.commit()
        raise
    try:
        return _verify(session, passwords, throttle, key=key, password=password, ip=ip,
                       client_id=client_id)
    finally:
        if single_flight:
            throttle.end("account", key)


def _verify(session: DbSession, passwords: Passwords, throttle: Throttle, *, key: str,
            password: str, ip: str, client_id: str | None) -> SignedIn:
    member = session.connection().execute(_LOGIN_LOOKUP, {"k": key}).first() if key else None
    ok = passwords.verify(member.password_hash if member else None, password)
    if not ok or member is None or member.status != "active":
        locked = throttle.record_failure(account=key, ip=ip)
        audit.record(
            session, "login.failure", member_id=member.id if member else None,
            client_id=client_id, ip=ip, reason="password" if member else "unknown_id",
        )
        for kind in locked:
            audit.record(session, "login.locked", member_id=member.id if member else None,
                         ip=ip, key=kind)
        throttle.end("account", key)  # (if held) released in the transaction it commits with
        session.commit()
        raise InvalidCredentials()

    values: dict[str, object] = {"last_login_at": utcnow()}
    if passwords.needs_rehash(member.password_hash or ""):
        values["password_hash"] = passwords.hash(password)
    session.connection().execute(
        update(_members).where(_members.c.id == member.id).values(**values)
    )
    throttle.reset(account=key)
    audit.record(session, "login.success", member_id=member.id, client_id=client_id, ip=ip,
                 method="pwd")
    return SignedIn(member_id=member.id, login_id=member.login_id)
