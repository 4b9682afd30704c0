"""기업정보 등록: company registration (SPEC §3.4; the manual's ch. 04; issue 7).

약관동의 → 기업 인증 (사업자등록번호 → lookup) → 기업체정보 입력 → 가입완료, in one
`company_register` flow (idp/services/flows.py: bound to the browser, 30 minutes, single use),
built like the general sign-up (idp/services/signup.py). The lookup has the four outcomes of
SPEC §3.4 (and "try again later" when the tax office does not answer):

    registered | pending  -> 존재하는 기업회원입니다 (the company-manager login)
    closed | suspended    -> refused with the manual's message (휴업/폐업), nothing written
    unavailable           -> 잠시 후 다시 시도, nothing written
    directory             -> the record -> corporate certificate of THIS business number
                             -> the company form -> Company(active) + its manager
    not_found             -> the new-company form (a signed-in general member, with the
                             사업자등록증) -> Company(pending) + CompanyRequest(registration)

    flow = begin(flows, browser=b, ia=uid)
    agree_terms(session, flows, flow, agreed)
    found = look_up(session, flows, flow, registry, directory, "123-45-67890")
    certified(flows, flow, certificate)                     # directory: take_certificate's
    hashes = check_secrets(passwords, policy, ...)          # both passwords, hashed
    result = complete(session, flows, store, flow_id, browser=b, info=..., secrets=hashes)
    result = submit_new(session, flows, store, pd, flow_id, ..., document=bytes)
    session.commit()

`complete` and `submit_new` consume the flow (a double submit writes one company; the other
request finds the result with `result_of`), and write everything in the caller's transaction;
the UNIQUE business_number is the last word when two registrations of one company race: the
loser gets AlreadyRegistered, never a 500. A company an operator rejected keeps its row (and
the UNIQUE number): registering it again, by either path, takes that row over (`_reapply`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from idp.errors import IdpError, InvalidInput
from idp.models import Company, CompanyRequest, CompanyStatus, Member, MemberType
from idp.models.base import DbSession
from idp.services import audit, companies, uploads
from idp.services.approval_passwords import WeakApprovalPassword, check_new_approval_password
from idp.services.business_numbers import normalise_business_number
from idp.services.company_lookup import lookup_business
from idp.services.company_profile import CompanyInfo, InfoErrors
from idp.services.flows import Flow, FlowKind, Flows
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.personal_data import PersonalData
from idp.services.ports import (
    BusinessRegistry,
    BusinessRegistryUnavailable,
    CertifiedCompany,
    CompanyDirectory,
    DirectoryRecord,
)
from idp.services.terms import current_documents, record_consents
from idp.stores import Store

REGISTER = FlowKind("company_register", ttl=1800)
RESULT_TTL = 1800
# The flow's steps (the page it is at), in order. FOUND: the directory record is shown and
# the certificate is next; FORM: certified, the company form; NEW: not found, the new form.
TERMS, NUMBER, FOUND, FORM, NEW = "terms", "number", "found", "form", "new"
STEPS = (TERMS, NUMBER, FOUND, FORM, NEW)
OUTCOMES = ("registered", "pending", "closed", "suspended", "directory", "not_found",
            "unregistered", "unavailable")
CONSENT_SOURCE = "company_register"


class RegisterGone(IdpError):
    """The flow is expired, used, another browser's or never existed."""


class StepMissing(IdpError):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


class TermsChanged(IdpError):
    """A required document got a new version after step 1: agree again."""


class CertificateMismatch(IdpError):
    """The certificate authenticated another business number than the flow's."""


class AlreadyRegistered(IdpError):
    """The company was registered meanwhile (another registration won the race)."""


# A member may have this many new-company applications waiting for review at once: each one
# holds a business number in review (nobody else can register it meanwhile).
MAX_OPEN_APPLICATIONS = 3


class TooManyApplications(IdpError):
    """The member already has MAX_OPEN_APPLICATIONS applications waiting for review."""


@dataclass(frozen=True)
class Found:
    """The lookup's answer: `outcome` in OUTCOMES, the directory `record` when there is one."""

    outcome: str
    business_number: str
    record: DirectoryRecord | None = None


@dataclass(frozen=True)
class Secrets:
    password_hash: str
    approval_hash: str


@dataclass(frozen=True)
class RegisterResult:
    company_id: int
    business_number: str
    name: str
    status: str  # active | pending
    ia: str | None


# The lookup -----------------------------------------------------------------------------------

def lookup(session: DbSession, registry: BusinessRegistry | None,
           directory: CompanyDirectory, business_number: str) -> Found:
    """The outcomes of SPEC §3.4 for a normalised business number (company_lookup), plus
    "unregistered": a number the tax office does not know and KOTRA's directory lacks cannot
    apply as a new company (anyone could otherwise hold a real company's number in review).
    Tests monkeypatch this function."""
    try:
        answer = lookup_business(session, registry, directory, business_number)
    except BusinessRegistryUnavailable:
        return Found("unavailable", business_number)
    if (answer.outcome == "not_found" and answer.status is not None
            and answer.status.state == "unregistered"):
        return Found("unregistered", business_number)
    return Found(str(answer.outcome), business_number, answer.record)


# The flow -------------------------------------------------------------------------------------

def begin(flows: Flows, *, browser: str, ia: str | None) -> Flow:
    return flows.start(REGISTER, {"step": TERMS, "ia": ia, "agreed": {}, "versions": {},
                                  "business_number": None, "record": None,
                                  "certified": None}, browser=browser)


def load(flows: Flows, flow_id: str | None, browser: str | None) -> Flow:
    flow = flows.get(REGISTER, flow_id, browser=browser)
    if flow is None:
        raise RegisterGone(flow_id or "")
    return flow


def at(flow: Flow) -> str:
    return str(flow.data["step"])


def agree_terms(session: DbSession, flows: Flows, flow: Flow, agreed: dict[str, bool]) -> None:
    """STEP1: every required document agreed to (InvalidInput(kind) otherwise)."""
    documents = [d for d in current_documents(session) if d.required]
    for doc in documents:
        if not agreed.get(doc.kind):
            raise InvalidInput(doc.kind, "a required document must be agreed to")
    data = dict(flow.data)
    data.update(step=NUMBER if at(flow) == TERMS else at(flow),
                agreed={d.kind: True for d in documents},
                versions={d.kind: d.version for d in documents})
    flows.update(flow, data)


def look_up(session: DbSession, flows: Flows, flow: Flow, registry: BusinessRegistry | None,
            directory: CompanyDirectory, typed: str) -> Found:
    """STEP2 조회: InvalidInput("business_number") for a malformed number; otherwise the
    outcome. `directory` and `not_found` move the flow on (to FOUND / NEW) with the number;
    every other outcome leaves it where it was (nothing written)."""
    if at(flow) == TERMS:
        raise StepMissing(TERMS)
    try:
        business_number = normalise_business_number(typed)
    except ValueError:
        raise InvalidInput("business_number", "invalid") from None
    found = lookup(session, registry, directory, business_number)
    if found.outcome not in OUTCOMES:
        found = Found("unavailable", business_number)
    if found.outcome in ("directory", "not_found"):
        data = dict(flow.data)
        data.update(step=FOUND if found.outcome == "directory" else NEW,
                    business_number=business_number, certified=None,
                    record=_record_dict(found.record))
        flows.update(flow, data)
    return found


def _record_dict(record: DirectoryRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: getattr(record, k) for k in DirectoryRecord.__dataclass_fields__}


def record_of(flow: Flow) -> DirectoryRecord | None:
    raw = flow.data.get("record")
    return DirectoryRecord(**raw) if raw else None


def back_to_number(flows: Flows, flow: Flow) -> None:
    """이전으로: enter another business number."""
    data = dict(flow.data)
    data.update(step=NUMBER, business_number=None, record=None, certified=None)
    flows.update(flow, data)


def certified(flows: Flows, flow: Flow, company: CertifiedCompany) -> None:
    """The corporate certificate of the flow's company (take_certificate("register")):
    CertificateMismatch when it authenticated another business number."""
    if at(flow) not in (FOUND, FORM) or not flow.data.get("business_number"):
        raise StepMissing(NUMBER)
    if not secrets.compare_digest(company.business_number, flow.data["business_number"]):
        raise CertificateMismatch(company.business_number)
    data = dict(flow.data)
    data.update(step=FORM, certified={"serial": company.serial, "issuer": company.issuer,
                                      "subject": company.subject,
                                      "policy": company.policy_oid})
    flows.update(flow, data)


def check_secrets(passwords: Passwords, policy: PasswordPolicy, *, business_number: str,
                  password: str, password_confirm: str, approval: str, approval_confirm: str
                  ) -> Secrets:
    """The company login password (the policy: 9+ letters, digits and symbols; not the
    business number) and the 6-digit approval password (not trivial), each confirmed; hashed
    with argon2id. InfoErrors({field: reason}) lists every wrong one."""
    errors: dict[str, str] = {}
    try:
        policy.check_password(password, login_id=business_number)
    except InvalidInput as exc:
        errors["password"] = exc.message if password else "required"
    if "password" not in errors and password != password_confirm:
        errors["password_confirm"] = "mismatch"
    try:
        check_new_approval_password(approval)
    except WeakApprovalPassword as exc:
        errors["approval_password"] = exc.reason if approval else "required"
    if "approval_password" not in errors and approval != approval_confirm:
        errors["approval_password_confirm"] = "mismatch"
    if errors:
        raise InfoErrors(errors)
    return Secrets(passwords.hash(password), passwords.hash(approval))


# The end --------------------------------------------------------------------------------------

def _result_key(flow_id: str) -> str:
    return "company-register-done:" + hashlib.sha256(flow_id.encode()).hexdigest()


def _browser_hash(browser: str) -> str:
    return hashlib.sha256(browser.encode()).hexdigest()


def result_of(store: Store, flow_id: str, *, browser: str | None) -> RegisterResult | None:
    if not flow_id or not browser:
        return None
    data = store.get(_result_key(flow_id))
    if data is None or not secrets.compare_digest(data["browser"], _browser_hash(browser)):
        return None
    return RegisterResult(company_id=data["company_id"], business_number=data["business_number"],
                          name=data["name"], status=data["status"], ia=data.get("ia"))


def _check_terms(session: DbSession, flow: Flow) -> None:
    current = {d.kind: d.version for d in current_documents(session) if d.required}
    if any(flow.data["versions"].get(kind) != version for kind, version in current.items()):
        raise TermsChanged(TERMS)


def _write(session: DbSession, store: Store, flow: Flow, *, browser: str, info: CompanyInfo,
           hashes: Secrets, status: str, now: dt.datetime) -> tuple[Company, Member, bool]:
    """Company + manager + consents, in a savepoint (AlreadyRegistered on the UNIQUE). The
    third value: whether a rejected company's row was taken over (`_reapply`)."""
    business_number = flow.data["business_number"]
    rejected = session.scalar(select(Company.id).where(
        Company.business_number == business_number,
        Company.status == CompanyStatus.REJECTED))
    if rejected is not None:
        company, manager = _reapply(session, rejected, info=info, hashes=hashes,
                                    status=status, now=now)
    else:
        company = Company(business_number=business_number, status=status,
                          profile=info.profile, approval_password_hash=hashes.approval_hash,
                          approval_password_changed_at=now, created_at=now, updated_at=now,
                          **info.columns)
        try:
            with session.begin_nested():
                session.add(company)
                session.flush()
                manager = companies.create_manager(session, company, hashes.password_hash)
        except IntegrityError:
            raise AlreadyRegistered(business_number) from None
        manager.created_at = manager.updated_at = now
    if flow.data["agreed"]:
        record_consents(session, manager.id, agreed=flow.data["agreed"], marketing={},
                        source=CONSENT_SOURCE, now=now)
    return company, manager, rejected is not None


def _reapplied(again: bool) -> dict[str, Any]:
    """The audit detail that marks a rejected company's new application."""
    return {"reapplied": True} if again else {}


def _reapply(session: DbSession, company_id: int, *, info: CompanyInfo, hashes: Secrets,
             status: str, now: dt.datetime) -> tuple[Company, Member]:
    """A company an operator refused applies again (SPEC §3.4: its number may be registered
    again): its row (which keeps the UNIQUE business number) is taken over in the caller's
    transaction — the new form's values, a new approval password, the new status — and its
    manager principal gets the new login password (created if it has none). The takeover is
    a conditional UPDATE ... WHERE status = 'rejected', so of two re-applications at once one
    wins and the other gets AlreadyRegistered, as a second INSERT would. The old requests,
    decided, stay as the company's history."""
    taken = session.execute(
        update(Company).where(Company.id == company_id,
                              Company.status == CompanyStatus.REJECTED)
        .values(status=status, profile=info.profile,
                approval_password_hash=hashes.approval_hash,
                approval_password_changed_at=now, updated_at=now, **info.columns)
        .execution_options(synchronize_session=False))
    if getattr(taken, "rowcount", 0) != 1:
        raise AlreadyRegistered(str(company_id))
    company = session.get(Company, company_id, populate_existing=True)
    assert company is not None  # the UPDATE just matched it
    manager = companies.manager_of(session, company)
    if manager is None:
        manager = companies.create_manager(session, company, hashes.password_hash)
        manager.created_at = now
    else:
        manager.password_hash = hashes.password_hash
        manager.name = company.name
        manager.status = "active"
    manager.updated_at = now
    return company, manager


def _remember(store: Store, flow: Flow, company: Company, browser: str) -> RegisterResult:
    result = RegisterResult(company_id=company.id, business_number=company.business_number,
                            name=company.name, status=company.status, ia=flow.data.get("ia"))
    store.put(_result_key(flow.id), {
        "company_id": result.company_id, "business_number": result.business_number,
        "name": result.name, "status": result.status, "ia": result.ia,
        "browser": _browser_hash(browser)}, RESULT_TTL)
    return result


def complete(session: DbSession, flows: Flows, store: Store, flow_id: str, *, browser: str,
             info: CompanyInfo, hashes: Secrets, now: dt.datetime, ip: str | None = None
             ) -> RegisterResult:
    """The directory path's end: Company(active) + its manager principal + the approval
    password, once (the caller commits). RegisterGone (used: see `result_of`), StepMissing,
    TermsChanged, AlreadyRegistered."""
    flow = load(flows, flow_id, browser)
    if at(flow) != FORM or not flow.data.get("certified"):
        raise StepMissing(FOUND if at(flow) in (FOUND, FORM) else NUMBER)
    _check_terms(session, flow)
    if flows.consume(REGISTER, flow_id, browser=browser) is None:
        raise RegisterGone(flow_id)
    company, manager, again = _write(session, store, flow, browser=browser, info=info,
                                     hashes=hashes, status="active", now=now)
    audit.record(session, "company.registered", member_id=manager.id, ip=ip,
                 company_id=company.id, business_number=company.business_number,
                 method="certificate", serial=flow.data["certified"]["serial"],
                 **_reapplied(again))
    result = _remember(store, flow, company, browser)
    session.flush()
    return result


def submit_new(session: DbSession, flows: Flows, store: Store, pd: PersonalData, flow_id: str,
               *, browser: str, member: Member, info: CompanyInfo, hashes: Secrets,
               document: bytes, filename: str | None, max_bytes: int, now: dt.datetime,
               ip: str | None = None) -> RegisterResult:
    """The not-found path's end: Company(pending) + its manager + the sealed 사업자등록증 +
    a CompanyRequest(registration) for an operator, once. `member` must be a general member
    (InvalidInput("member")); uploads.UploadRefused for a document that is not a sane PDF,
    PNG or JPEG within `max_bytes` (checked before the flow is used)."""
    flow = load(flows, flow_id, browser)
    if at(flow) != NEW:
        raise StepMissing(NUMBER)
    if member.member_type != MemberType.GENERAL or not member.is_active:
        raise InvalidInput("member", "a general member must apply")
    uploads.check_upload(document, max_bytes=max_bytes)
    _check_terms(session, flow)
    waiting = session.scalar(select(func.count()).select_from(CompanyRequest).where(
        CompanyRequest.member_id == member.id, CompanyRequest.kind == "registration",
        CompanyRequest.status == "pending"))
    if (waiting or 0) >= MAX_OPEN_APPLICATIONS:
        raise TooManyApplications()
    if flows.consume(REGISTER, flow_id, browser=browser) is None:
        raise RegisterGone(flow_id)
    company, manager, again = _write(session, store, flow, browser=browser, info=info,
                                     hashes=hashes, status="pending", now=now)
    upload = uploads.store_upload(session, pd, document, filename=filename,
                                  member_id=member.id, max_bytes=max_bytes)
    upload.created_at = now
    session.add(CompanyRequest(kind="registration", company_id=company.id, member_id=member.id,
                               document_id=upload.id, status="pending", created_at=now,
                               data={"business_number": company.business_number,
                                     "name": company.name, "name_en": company.name_en}))
    audit.record(session, "company.registration_submitted", member_id=member.id, ip=ip,
                 company_id=company.id, business_number=company.business_number,
                 upload_id=upload.id, **_reapplied(again))
    result = _remember(store, flow, company, browser)
    session.flush()
    return result
