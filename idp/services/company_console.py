"""The company manager (기업정보 관리자): signing in on the 기업정보 관리 tab and the company
console, MY KOTRA for a company (issue 7; SPEC §1, §3.5, §3.6; the manual's chapter 05
"기업정보 관리 및 승인비밀번호 변경" and chapter 06 "기업정보 관리자 로그인").

No Flask: the views (idp/web/company_login.py, idp/web/company_console.py) pass the session,
the provider's collaborators and the client address. Each change is one transaction with its
audit event.

- `authenticate_company` — business number + company login password, throttled per company
  and per client IP with the login rules (idp/services/throttle.py), the same work and the
  same answer for an unknown number and a wrong password;
- `manager_for_certificate` — the manager principal of the company a checked certificate
  proved (the 공동인증서 로그인 button);
- `CertificateFreshness` — "a certificate authentication in the last few minutes" for one SSO
  session: the company info edit and the approval password change need it (the manual: 반드시
  기업인증절차를 거친 후 기업정보 수정 가능);
- `update_company` (a Korean name change becomes a request to operators),
  `change_approval_password`, `change_company_password`;
- the console's lists: `participations`, `employees`, `mileage`, `notices`, and
  `revoke_employee` (idp/services/affiliations.end_affiliation).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from idp.errors import IdpError, InvalidCredentials, InvalidInput, LoginThrottled
from idp.models import (
    Affiliation,
    Company,
    CompanyNotice,
    CompanyRequest,
    Member,
    MemberType,
    MileageAccount,
    MileageEntry,
    ServiceParticipation,
)
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.affiliations import end_affiliation
from idp.services.approval_passwords import check_new_approval_password
from idp.services.backchannel import BackchannelOutbox
from idp.services.business_numbers import InvalidNumber, normalise_business_number
from idp.services.claims import ACR_CERTIFICATE, ACR_PASSWORD
from idp.services.companies import find_company, manager_of
from idp.services.company_profile import (
    COLUMN_KEYS,
    FIELDS,
    PROFILE_KEYS,
    CompanyInfo,
    clean_info,
    display_values,
)
from idp.services.first_party import Console
from idp.services.login import LoginMethod
from idp.services.password_change import PasswordUnchanged
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.ports import Clock
from idp.services.sessions import SsoSessions
from idp.services.throttle import Throttle, ip_bucket
from idp.stores import Store

# What each way of signing in on the 기업정보 관리 tab proves (idp/services/login.py).
# RFC 8176: "pwd" for the company login password; "swk" for the corporate certificate (a
# software-secured key: the NPKI key file, unlocked and used in the browser).
COMPANY_PASSWORD = LoginMethod("company_password", ACR_PASSWORD, ("pwd",))
COMPANY_CERTIFICATE = LoginMethod(
    "certificate", ACR_CERTIFICATE, ("swk",),
    usable_by=lambda principal: principal.member_type == MemberType.COMPANY_MANAGER)

# The company console is a first-party client of this provider, as MY KOTRA is
# (idp/services/my_account.py): signing in to it is an ordinary authorization request.
CONSOLE_CLIENT_ID = "kotra-company"
CONSOLE_CALLBACK = "/company/callback"


class CompanyNotActive(IdpError):
    """The company exists but is waiting for an operator's review ("pending") or was refused
    ("rejected"): nobody signs in as its manager. Raised only to a caller who proved the
    password or the certificate, so it tells a stranger nothing."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class CompanyNotRegistered(IdpError):
    """A checked certificate of a company that is not registered here (yet)."""


class CertificateRequired(IdpError):
    """The change needs a fresh certificate authentication of the company."""


class NotAnEmployee(IdpError):
    """No live affiliation with that id in the manager's company."""


# -- the console client ----------------------------------------------------------------------

CONSOLE = Console(CONSOLE_CLIENT_ID, CONSOLE_CALLBACK, "MY KOTRA (기업정보 관리)")


def ensure_console_client(session: DbSession, issuer: str) -> None:
    """Register the console's client or point it at `issuer` (first_party.Console)."""
    CONSOLE.ensure_client(session, issuer)


def discard_console_code(session: DbSession, code: str) -> bool:
    """Delete the console's sign-in code, unexchanged (first_party.Console). Commits."""
    return CONSOLE.discard_code(session, code)


# -- signing in ------------------------------------------------------------------------------

def throttle_key(business_number: str) -> str:
    """The account key a company's login attempts count under (never a member's login ID:
    those are letters and digits only, so the prefix cannot collide)."""
    return f"company:{business_number}"


@dataclass(frozen=True)
class SignedInManager:
    member_id: int
    company_id: int


def authenticate_company(session: DbSession, passwords: Passwords, throttle: Throttle, *,
                         business_number: str, password: str, ip: str,
                         client_id: str | None = None) -> SignedInManager:
    """The manager of the company whose business number and login password match, or raise.

    As idp/services/members.authenticate_password: the attempt is counted against the
    company (the typed number, normalised when it is one) and the client IP before the hash,
    and committed. An unknown or malformed number costs one hash like a known one and gets
    the same InvalidCredentials. Only the right password of a company that is not active
    learns why (CompanyNotActive). Commits in every outcome."""
    try:
        number: str | None = normalise_business_number(business_number)
    except InvalidNumber:
        number = None
    key = throttle_key(number or business_number.strip()[:20])
    try:
        attempt = throttle.reserve(account=key, ip=ip_bucket(ip))
    except LoginThrottled as exc:
        audit.record(session, "login.throttled", client_id=client_id, ip=ip,
                     retry_after=exc.retry_after, locked=exc.locked, method="company_password")
        session.commit()
        raise
    session.commit()  # the reservation is seen by every other attempt before the slow hash
    company = find_company(session, number) if number else None
    manager = manager_of(session, company) if company is not None else None
    ok = passwords.verify(manager.password_hash if manager else None, password)
    if not ok or manager is None or company is None or not manager.is_active:
        locked = throttle.failed(attempt)
        audit.record(session, "login.failure", member_id=manager.id if manager else None,
                     client_id=client_id, ip=ip, method="company_password",
                     reason="password" if manager else "unknown_company")
        for kind in locked:
            audit.record(session, "login.locked", member_id=manager.id if manager else None,
                         ip=ip, key=kind, method="company_password")
        session.commit()
        raise InvalidCredentials()
    throttle.succeeded(attempt, forgive=("account",))
    if company.status != "active":
        audit.record(session, "login.failure", member_id=manager.id, client_id=client_id,
                     ip=ip, method="company_password", reason=f"company_{company.status}")
        session.commit()
        raise CompanyNotActive(company.status)
    if passwords.needs_rehash(manager.password_hash or ""):
        manager.password_hash = passwords.hash(password)
    manager.last_login_at = utcnow()
    audit.record(session, "login.success", member_id=manager.id, client_id=client_id, ip=ip,
                 method="company_password", company_id=company.id)
    session.commit()
    return SignedInManager(member_id=manager.id, company_id=company.id)


def manager_for_certificate(session: DbSession, business_number: str, *, ip: str,
                            client_id: str | None = None) -> SignedInManager:
    """The manager of the company a checked corporate certificate proved (its business
    number came from the certificate's VID check, never from the CN). CompanyNotRegistered
    or CompanyNotActive otherwise. Commits."""
    company = session.scalar(select(Company).where(
        Company.business_number == business_number))
    manager = session.scalar(select(Member).where(
        Member.managed_company_id == company.id,
        Member.member_type == MemberType.COMPANY_MANAGER)) if company is not None else None
    if company is None or manager is None or not manager.is_active:
        audit.record(session, "login.failure", member_id=manager.id if manager else None,
                     client_id=client_id, ip=ip, method="certificate",
                     reason="unknown_company", business_number=business_number)
        session.commit()
        raise CompanyNotRegistered()
    if company.status != "active":
        audit.record(session, "login.failure", member_id=manager.id, client_id=client_id,
                     ip=ip, method="certificate", reason=f"company_{company.status}")
        session.commit()
        raise CompanyNotActive(company.status)
    manager.last_login_at = utcnow()
    audit.record(session, "login.success", member_id=manager.id, client_id=client_id, ip=ip,
                 method="certificate", company_id=company.id)
    session.commit()
    return SignedInManager(member_id=manager.id, company_id=company.id)


# -- the fresh certificate -------------------------------------------------------------------

class CertificateFreshness:
    """When an SSO session last proved the company's certificate (purpose "manage"), for the
    changes that need it recent. Kept in the store under the session's sid, with the business
    number it proved, so a session of another company never counts."""

    def __init__(self, store: Store, clock: Clock, seconds: int) -> None:
        self._store = store
        self._clock = clock
        self.seconds = seconds

    def mark(self, sid: str, business_number: str) -> None:
        self._store.put(f"company-cert:{sid}",
                        {"at": self._clock.now(), "business_number": business_number},
                        self.seconds + 60)

    def fresh(self, sid: str, business_number: str) -> bool:
        data = self._store.get(f"company-cert:{sid}")
        return (data is not None and data.get("business_number") == business_number
                and self._clock.now() - float(data["at"]) < self.seconds)

    def remaining(self, sid: str, business_number: str) -> int:
        """Seconds the authentication still counts (0: none or too old)."""
        if not self.fresh(sid, business_number):
            return 0
        data = self._store.get(f"company-cert:{sid}") or {}
        return max(0, int(float(data["at"]) + self.seconds - self._clock.now()))


# -- the company's data ----------------------------------------------------------------------

# The company form is the registration's (idp/services/company_profile.py: FIELDS, the
# Company columns COLUMN_KEYS and the Company.profile keys PROFILE_KEYS, `clean_info`), so a
# company has one set of profile keys whichever page wrote them.

def _columns(company: Company) -> dict[str, Any]:
    return {key: getattr(company, key) for key in COLUMN_KEYS}


def company_values(company: Company) -> dict[str, str]:
    """The company form's current values, as the form shows them."""
    return display_values(_columns(company), company.profile or {})


def changed_fields(company: Company, info: CompanyInfo) -> list[str]:
    """The keys (in the form's order) whose cleaned value differs from the stored one (an
    empty field and a missing key are the same)."""
    current = {**(company.profile or {}), **_columns(company)}
    new = {**info.profile, **info.columns}
    return [f.key for f in FIELDS if f.key in new and new[f.key] != current.get(f.key)]


@dataclass(frozen=True)
class CompanyUpdate:
    changed: list[str]
    name_change_requested: bool


def pending_name_change(session: DbSession, company_id: int) -> CompanyRequest | None:
    return session.scalar(select(CompanyRequest).where(
        CompanyRequest.company_id == company_id, CompanyRequest.kind == "name_change",
        CompanyRequest.status == "pending").order_by(CompanyRequest.id.desc()).limit(1))


def update_company(session: DbSession, *, company_id: int, form: Mapping[str, str],
                   now_year: int, certified: bool, ip: str, actor: int) -> CompanyUpdate:
    """기업정보 수정 (needs a fresh certificate: CertificateRequired). The fields are checked by
    the registration's `clean_info` (InfoErrors, every wrong field). A new Korean name is not
    written: it becomes a name_change request for operators (사명 변경신청), with the English
    name that goes with it; everything else is written at once. Commits."""
    if not certified:
        raise CertificateRequired()
    company = session.get(Company, company_id)
    if company is None:
        raise NotAnEmployee()  # (the manager's company is gone: nothing to edit)
    info = clean_info(form, now_year=now_year)
    changed = changed_fields(company, info)
    name_change = "name" in changed
    if name_change:
        changed.remove("name")
        if "name_en" in changed:
            changed.remove("name_en")  # goes with the request: the two names change together
        if pending_name_change(session, company.id) is None:
            session.add(CompanyRequest(kind="name_change", company_id=company.id,
                                       data={"name": info.columns["name"],
                                             "name_en": info.columns["name_en"],
                                             "previous": {"name": company.name,
                                                          "name_en": company.name_en}}))
            audit.record(session, "company.name_change_requested", member_id=actor, ip=ip,
                         company_id=company.id)
        else:
            name_change = False  # one request at a time: the page says it is pending
    for key in changed:
        if key in COLUMN_KEYS:
            setattr(company, key, info.columns[key])
    if any(key in PROFILE_KEYS for key in changed):
        # every form key written (None where left empty, as the registration does); keys
        # the form does not know are kept
        company.profile = {**(company.profile or {}), **info.profile}
    if changed:
        company.updated_at = utcnow()
        audit.record(session, "company.updated", member_id=actor, ip=ip,
                     company_id=company.id, fields=sorted(changed))
    session.commit()
    return CompanyUpdate(changed=changed, name_change_requested=name_change)


def change_approval_password(session: DbSession, passwords: Passwords, *, company_id: int,
                             new: str, confirm: str, certified: bool, ip: str,
                             actor: int) -> None:
    """승인 비밀번호 변경: a fresh certificate (CertificateRequired), 6 digits twice, not a
    trivial sequence (WeakApprovalPassword; InvalidInput("confirm") when the two differ);
    argon2id. Commits."""
    if not certified:
        raise CertificateRequired()
    check_new_approval_password(new)
    if new != confirm:
        raise InvalidInput("confirm", "mismatch")
    company = session.get(Company, company_id)
    if company is None:
        raise NotAnEmployee()
    company.approval_password_hash = passwords.hash(new)
    company.approval_password_changed_at = utcnow()
    company.updated_at = utcnow()
    audit.record(session, "company.approval_password_changed", member_id=actor, ip=ip,
                 company_id=company.id)
    session.commit()


def change_company_password(session: DbSession, passwords: Passwords, policy: PasswordPolicy,
                            throttle: Throttle, *, manager_id: int, current: str, new: str,
                            certified: bool, ip: str) -> None:
    """기업 로그인 비밀번호 변경: the current one (counted like a login of the company) — or,
    for a forgotten one, a fresh certificate authentication instead (`certified`) —, and the
    new one under the member password policy (9–30, letters, digits and symbols). Commits."""
    manager = session.get(Member, manager_id)
    company = session.get(Company, manager.managed_company_id) \
        if manager is not None and manager.managed_company_id else None
    if manager is not None and certified:
        _set_company_password(session, passwords, policy, manager, company, new, ip,
                              current=None)
        return
    key = throttle_key(company.business_number if company else f"#{manager_id}")
    try:
        attempt = throttle.reserve(account=key, ip=ip_bucket(ip))
    except LoginThrottled:
        session.commit()
        raise
    session.commit()
    if manager is None or not passwords.verify(manager.password_hash, current):
        throttle.failed(attempt)
        audit.record(session, "member.reauth_failed", member_id=manager_id, ip=ip,
                     purpose="company_password", reason="password")
        session.commit()
        raise InvalidCredentials()
    throttle.succeeded(attempt, forgive=("account",))
    session.commit()
    _set_company_password(session, passwords, policy, manager, company, new, ip,
                          current=current)


def _set_company_password(session: DbSession, passwords: Passwords, policy: PasswordPolicy,
                          manager: Member, company: Company | None, new: str, ip: str, *,
                          current: str | None) -> None:
    if current == new or (current is None and passwords.verify(manager.password_hash, new)):
        raise PasswordUnchanged()
    policy.check_password(new)
    manager.password_hash = passwords.hash(new)
    manager.updated_at = utcnow()
    audit.record(session, "company.password_changed", member_id=manager.id, ip=ip,
                 company_id=company.id if company else None,
                 proof="certificate" if current is None else "password")
    session.commit()


# -- the console's lists ---------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    page: int
    pages: int


def _page_of(total: int, page: int, per_page: int) -> tuple[int, int]:
    pages = max(1, (total + per_page - 1) // per_page)
    return min(max(1, page), pages), pages


@dataclass(frozen=True)
class Participation:
    service: str
    site: str
    occurred_on: dt.date
    member_name: str | None


def mask_name(name: str | None) -> str | None:
    """홍길동 → 홍*동, 김철 → 김*: who took part, without the full name on a shared screen."""
    if not name:
        return None
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def participations(session: DbSession, company_id: int, *, page: int = 1,
                   per_page: int = 20) -> Page:
    """기업 신청 사업 내역: the services the company took part in, newest first."""
    total = session.scalar(select(func.count()).select_from(ServiceParticipation).where(
        ServiceParticipation.company_id == company_id)) or 0
    page, pages = _page_of(total, page, per_page)
    rows = session.execute(
        select(ServiceParticipation, Member.name)
        .outerjoin(Member, Member.id == ServiceParticipation.member_id)
        .where(ServiceParticipation.company_id == company_id)
        .order_by(ServiceParticipation.occurred_on.desc(), ServiceParticipation.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    return Page([Participation(p.service, p.site, p.occurred_on, mask_name(name))
                 for p, name in rows], total, page, pages)


@dataclass(frozen=True)
class Employee:
    affiliation_id: int
    name: str
    login_id: str | None
    method: str
    since: dt.datetime


def employees(session: DbSession, company_id: int) -> list[Employee]:
    """소속직원 관리: the company's live affiliations, oldest first."""
    rows = session.execute(
        select(Affiliation, Member.name, Member.login_id)
        .join(Member, Member.id == Affiliation.member_id)
        .where(Affiliation.company_id == company_id, Affiliation.revoked_at.is_(None))
        .order_by(Affiliation.established_at, Affiliation.id)).all()
    return [Employee(a.id, name, login_id, a.method, a.established_at)
            for a, name, login_id in rows]


def revoke_employee(session: DbSession, sessions: SsoSessions, outbox: BackchannelOutbox, *,
                    company_id: int, affiliation_id: int, ip: str, actor: int) -> list[str]:
    """End one live affiliation of the company (ended_by "revoked"): the member's
    entitlements drop at their next refresh and their relying parties get back-channel
    logout. NotAnEmployee for anything else (another company's, already ended). Commits."""
    affiliation = session.scalar(select(Affiliation).where(
        Affiliation.id == affiliation_id, Affiliation.company_id == company_id,
        Affiliation.revoked_at.is_(None)).with_for_update(of=Affiliation))
    if affiliation is None:
        raise NotAnEmployee()
    notified = end_affiliation(session, sessions, outbox, affiliation, ended_by="revoked",
                               ip=ip, actor=actor)
    session.commit()
    return notified


@dataclass(frozen=True)
class Mileage:
    balance: int
    entries: Page


def mileage(session: DbSession, company_id: int, *, page: int = 1,
            per_page: int = 20) -> Mileage:
    """마일리지 내역: the balance and the ledger, newest first (read-only here)."""
    balance = session.scalar(select(MileageAccount.balance).where(
        MileageAccount.company_id == company_id)) or 0
    total = session.scalar(select(func.count()).select_from(MileageEntry).where(
        MileageEntry.company_id == company_id)) or 0
    page, pages = _page_of(total, page, per_page)
    rows = list(session.scalars(
        select(MileageEntry).where(MileageEntry.company_id == company_id)
        .order_by(MileageEntry.id.desc()).limit(per_page).offset((page - 1) * per_page)))
    return Mileage(int(balance), Page(rows, total, page, pages))


def notices(session: DbSession, company_id: int) -> list[CompanyNotice]:
    """The manager's unread notices, newest first."""
    return list(session.scalars(select(CompanyNotice).where(
        CompanyNotice.company_id == company_id, CompanyNotice.read_at.is_(None))
        .order_by(CompanyNotice.id.desc()).limit(20)))


def mark_notice_read(session: DbSession, *, company_id: int, notice_id: int) -> bool:
    notice = session.scalar(select(CompanyNotice).where(
        CompanyNotice.id == notice_id, CompanyNotice.company_id == company_id))
    if notice is None:
        return False
    if notice.read_at is None:
        notice.read_at = utcnow()
    session.commit()
    return True
