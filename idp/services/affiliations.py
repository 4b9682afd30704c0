"""A general member's affiliation (소속) to a company (issue 7, SPEC §1–2, §3.3 tab 4, §3.8).

    company, record = find_joinable(session, directory, "663-85-01035")   # the search
    limits = ApprovalLimits.from_settings(settings["affiliation"])
    check_approval_password(session, store, clock, passwords, limits, company, "347369",
                            who="member:42", ip=ip)                       # the 6 digits
    join(session, member, company, method="approval_password", ip=ip)     # or "certificate"
    end_affiliation(session, sessions, outbox, member.affiliation, ended_by="left")

Joining: a registered company (status active; a company waiting for an operator's review
cannot be joined) by its approval password (승인 비밀번호) or by the company's corporate
certificate (`CertifiedCompany` for purpose "affiliate" whose business number is the
company's). A member has one live affiliation (SPEC §1): to join another company they leave
first.

The approval password is 6 digits, a million values: its guesses are limited per company
across all members (at most `company_failures` wrong tries a window, an hour by default; then
the company cannot be joined by approval password for the rest of the window), per member (or
per verified person during sign-up) and per client address. Each try is counted in the Store
before the argon2 check (one atomic increment per key, committed first, shared by every
process on Redis), so however many guesses arrive at once no more than the limit are ever
checked; a right password gives its try back. Each lock is told once: an audit event
`affiliation.approval_locked` and a `CompanyNotice("approval_password_locked")` for the
company console. The company console calls `end_affiliation` to revoke an employee.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from idp.errors import IdpError
from idp.models import (
    Affiliation,
    AffiliationMethod,
    Company,
    CompanyNotice,
    CompanyStatus,
    Member,
    MemberType,
    Token,
)
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.backchannel import BackchannelOutbox
from idp.services.business_numbers import format_business_number, normalise_business_number
from idp.services.passwords import Passwords
from idp.services.ports import CertifiedCompany, Clock, CompanyDirectory
from idp.services.sessions import SsoSessions
from idp.services.throttle import ip_bucket
from idp.stores import Store

ENDED_BY = ("left", "revoked", "company", "withdrawn")


def end_affiliation(session: DbSession, sessions: SsoSessions, outbox: BackchannelOutbox,
                    affiliation: Affiliation, *, ended_by: str, ip: str | None = None,
                    actor: int | None = None) -> list[str]:
    """End a live affiliation. The member's entitlements change with it: the next token
    refresh, userinfo call and ID token carry no company. When the company ended it
    ("revoked", "company"), the member's SSO sessions end too and every relying party they
    reached gets a logout token (Back-Channel Logout 1.0 §2.4), so no site keeps acting for
    the company on an old session; refresh tokens stay, and refresh without the company.
    Returns the client IDs told. Added to the caller's transaction."""
    if ended_by not in ENDED_BY:
        raise ValueError(f"unknown reason {ended_by!r}")
    if affiliation.revoked_at is not None:
        return []
    affiliation.revoked_at = utcnow()
    affiliation.ended_by = ended_by
    member = session.get(Member, affiliation.member_id)
    notified: list[str] = []
    if member is not None and ended_by in ("revoked", "company"):
        by_sid: dict[str | None, set[str]] = {}
        for sess in sessions.for_member(member.id):
            sessions.end(sess)
            by_sid.setdefault(sess.sid, set()).update(sess.clients)
        for sid, client_id in session.execute(
                select(Token.sid, Token.client_id).where(
                    Token.member_id == member.id, Token.revoked_at.is_(None)).distinct()):
            by_sid.setdefault(sid, set()).add(client_id)
        for sid, clients in sorted(by_sid.items(), key=lambda kv: kv[0] or ""):
            notified += outbox.enqueue(session, client_ids=clients, member_id=member.id,
                                       sub=member.subject, sid=sid,
                                       reason=f"affiliation_{ended_by}")
    event = "affiliation.left" if ended_by == "left" else "affiliation.revoked"
    audit.record(session, event, member_id=affiliation.member_id, ip=ip,
                 company_id=affiliation.company_id, ended_by=ended_by, actor=actor,
                 notified=notified)
    session.flush()
    if member is not None:
        session.expire(member, ["affiliation"])
    return notified


# -- finding the company ---------------------------------------------------------------------

class AffiliationRefused(IdpError):
    """Why a search or a join did not go through. `reason`:

    - not_found: no registered company with the number (it may be registered: /company/register)
    - pending: registered, waiting for an operator's review
    - no_approval_password: the company has none set (join by certificate)
    - wrong_password: the approval password did not match (`remaining` tries before a lock)
    - locked: too many wrong tries (`scope` company | member | ip, until `until`, epoch s)
    - busy: other tries for the same key are still being checked
    - certificate: the certificate is another company's
    - already: the member has a live affiliation (leave it first)
    - not_general: only general members join companies
    """

    def __init__(self, reason: str, *, scope: str | None = None, until: float = 0.0,
                 remaining: int | None = None) -> None:
        super().__init__(reason if scope is None else f"{reason}:{scope}")
        self.reason = reason
        self.scope = scope
        self.until = until
        self.remaining = remaining


@dataclass(frozen=True)
class CompanyRecord:
    """What the search shows and autofills (SPEC §3.3 tab 4: name, CEO, address ko/en, phone,
    fax): the company's own data first, else KOTRA's company directory."""

    business_number: str
    name: str
    name_en: str | None
    ceo_name: str | None
    address_ko: str | None
    address_en: str | None
    phone: str | None
    fax: str | None
    has_approval_password: bool

    @property
    def formatted_number(self) -> str:
        return format_business_number(self.business_number)

    def to_dict(self) -> dict[str, Any]:
        return {"business_number": self.business_number,
                "business_number_formatted": self.formatted_number, "name": self.name,
                "name_en": self.name_en, "ceo_name": self.ceo_name,
                "address_ko": self.address_ko, "address_en": self.address_en,
                "phone": self.phone, "fax": self.fax,
                "has_approval_password": self.has_approval_password}


def _profile_text(profile: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = profile.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def company_record(company: Company, directory: CompanyDirectory | None) -> CompanyRecord:
    profile = company.profile or {}
    entry = directory.find(company.business_number) if directory is not None else None
    address = _profile_text(profile, "address_ko", "address")
    if address and (detail := _profile_text(profile, "address_detail")):
        address = f"{address} {detail}"
    return CompanyRecord(
        business_number=company.business_number, name=company.name,
        name_en=company.name_en or (entry.name_en if entry else None),
        ceo_name=company.ceo_name or (entry.ceo_ko if entry else None),
        address_ko=address or (entry.address_ko if entry else None),
        address_en=_profile_text(profile, "address_en") or (entry.address_en if entry else None),
        phone=_profile_text(profile, "phone") or (entry.phone if entry else None),
        fax=_profile_text(profile, "fax") or (entry.fax if entry else None),
        has_approval_password=bool(company.approval_password_hash))


def find_joinable(session: DbSession, directory: CompanyDirectory | None,
                  business_number: str) -> tuple[Company, CompanyRecord]:
    """The registered company a member may join, and its record. InvalidNumber for a
    malformed number; AffiliationRefused("not_found" | "pending")."""
    number = normalise_business_number(business_number)
    company = session.scalar(select(Company).where(Company.business_number == number))
    if company is None or company.status == CompanyStatus.REJECTED:
        raise AffiliationRefused("not_found")
    if company.status != CompanyStatus.ACTIVE:
        raise AffiliationRefused("pending")
    return company, company_record(company, directory)


# -- the approval password's limits ------------------------------------------------------------

SCOPES = ("company", "member", "ip")


@dataclass(frozen=True)
class ApprovalLimits:
    """Wrong approval passwords allowed per fixed window (config [affiliation])."""

    window_seconds: int = 3600
    company_failures: int = 10
    member_failures: int = 5
    ip_failures: int = 20

    @classmethod
    def from_settings(cls, section: dict[str, Any]) -> ApprovalLimits:
        return cls(window_seconds=int(section["window_seconds"]),
                   company_failures=int(section["company_failures"]),
                   member_failures=int(section["member_failures"]),
                   ip_failures=int(section["ip_failures"]))

    def limit(self, scope: str) -> int:
        return int(getattr(self, f"{scope}_failures"))


def _keys(company: Company, who: str, ip: str | None, window: int) -> dict[str, str]:
    return {"company": f"affil-approval:company:{company.id}:{window}",
            "member": f"affil-approval:who:{who}:{window}",
            "ip": f"affil-approval:ip:{ip_bucket(ip or '-')}:{window}"}


def approval_lock(store: Store, clock: Clock, limits: ApprovalLimits, company: Company, *,
                  who: str, ip: str | None) -> AffiliationRefused | None:
    """The lock that would refuse a try now (for the page to say so before one is typed)."""
    now = clock.now()
    window = int(now // limits.window_seconds)
    until = float((window + 1) * limits.window_seconds)
    for scope, key in _keys(company, who, ip, window).items():
        if store.count(key + ":failures") >= limits.limit(scope):
            return AffiliationRefused("locked", scope=scope, until=until)
    return None


def lift_company_lock(store: Store, clock: Clock, limits: ApprovalLimits,
                      company: Company) -> None:
    """A new approval password (the console's 승인 비밀번호 변경) ends the company-wide lock of
    this window: the guesses counted were against the old one. Per-member and per-address
    counts stay."""
    window = int(clock.now() // limits.window_seconds)
    key = _keys(company, "-", None, window)["company"]
    store.delete(key + ":failures")
    store.delete(key + ":tries")  # a failed try keeps its count here too (then "busy")


def check_approval_password(session: DbSession, store: Store, clock: Clock,
                            passwords: Passwords, limits: ApprovalLimits, company: Company,
                            password: str, *, who: str, member_id: int | None = None,
                            ip: str | None = None) -> None:
    """Check a typed approval password against the company's (argon2), within the limits.

    `who` names the person trying: "member:<id>", or during sign-up the verified person
    ("person:<DI lookup hash>"). Returns when it matches; raises AffiliationRefused
    ("no_approval_password" | "wrong_password" | "locked" | "busy"). Commits: a try and its
    failure stay counted whatever the caller does next."""
    if not company.approval_password_hash:
        raise AffiliationRefused("no_approval_password")
    if (locked := approval_lock(store, clock, limits, company, who=who, ip=ip)) is not None:
        session.commit()
        raise locked
    now = clock.now()
    window = int(now // limits.window_seconds)
    until = float((window + 1) * limits.window_seconds)
    ttl = 2 * limits.window_seconds
    keys = _keys(company, who, ip, window)
    counted: list[str] = []
    try:
        for scope, key in keys.items():
            counted.append(key)
            if store.incr(key + ":tries", ttl) > limits.limit(scope):
                # Earlier tries are still being checked: should they all fail, they lock.
                raise AffiliationRefused("busy", scope=scope, until=until)
    except AffiliationRefused:
        for key in counted:
            store.incr(key + ":tries", ttl, -1)
        session.commit()
        raise
    session.commit()  # every other try sees this one before the slow hash
    if passwords.verify(company.approval_password_hash, password):
        for key in counted:
            store.incr(key + ":tries", ttl, -1)
        return
    failures = {scope: store.incr(keys[scope] + ":failures", ttl) for scope in SCOPES}
    remaining = min(limits.limit(s) - failures[s] for s in SCOPES)
    audit.record(session, "affiliation.approval_failed", member_id=member_id, ip=ip,
                 company_id=company.id, business_number=company.business_number,
                 failures=failures)
    newly = [s for s in SCOPES if failures[s] == limits.limit(s)]
    at = dt.datetime.fromtimestamp(until, dt.UTC).replace(tzinfo=None)
    for scope in newly:  # exactly one try reaches the limit: one event, one notice per lock
        audit.record(session, "affiliation.approval_locked", member_id=member_id, ip=ip,
                     company_id=company.id, business_number=company.business_number,
                     scope=scope, failures=failures[scope], until=at.isoformat())
        session.add(CompanyNotice(company_id=company.id, kind="approval_password_locked",
                                  data={"scope": scope, "failures": failures[scope],
                                        "until": at.isoformat(), "window_seconds":
                                        limits.window_seconds}))
    session.commit()
    over = [s for s in SCOPES if failures[s] >= limits.limit(s)]
    if over:
        raise AffiliationRefused("locked", scope=over[0], until=until)
    raise AffiliationRefused("wrong_password", remaining=max(0, remaining))


# -- joining ---------------------------------------------------------------------------------

def check_certificate(company: Company, certified: CertifiedCompany) -> None:
    """A certificate authentication proves control of `company` only for its own number."""
    if certified.business_number != company.business_number:
        raise AffiliationRefused("certificate")


def can_join(member: Member) -> None:
    if member.member_type != MemberType.GENERAL:
        raise AffiliationRefused("not_general")
    if member.affiliation is not None:
        raise AffiliationRefused("already")


def join(session: DbSession, member: Member, company: Company, *, method: str,
         ip: str | None = None, now: dt.datetime | None = None,
         certified: CertifiedCompany | None = None) -> Affiliation:
    """Affiliate `member` to `company` (after the approval password or the certificate was
    checked). One live affiliation per member: AffiliationRefused("already"). The caller
    commits."""
    if method not in (AffiliationMethod.CERTIFICATE, AffiliationMethod.APPROVAL_PASSWORD):
        raise ValueError(f"unknown method {method!r}")
    can_join(member)
    if company.status != CompanyStatus.ACTIVE:
        raise AffiliationRefused("pending")
    # Concurrent joins of one member: the member row is locked (PostgreSQL) and the live
    # affiliation read again under the lock.
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    live = session.scalar(select(Affiliation.id).where(
        Affiliation.member_id == member.id, Affiliation.revoked_at.is_(None)))
    if live is not None:
        raise AffiliationRefused("already")
    affiliation = Affiliation(member_id=member.id, company_id=company.id, method=str(method),
                              established_at=now or utcnow())
    session.add(affiliation)
    session.flush()
    proof = ({"serial": certified.serial, "policy": certified.policy_oid}
             if certified is not None else {})
    audit.record(session, "affiliation.joined", member_id=member.id, ip=ip,
                 company_id=company.id, business_number=company.business_number,
                 method=str(method), **proof)
    session.add(CompanyNotice(company_id=company.id, kind="affiliation_joined",
                              data={"member_id": member.id, "name": member.name,
                                    "login_id": member.login_id, "method": str(method)}))
    session.flush()
    session.expire(member, ["affiliation"])
    return affiliation
