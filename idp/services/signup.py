"""The general-member sign-up wizard (SPEC §3.3; manual ch. 02; issue 6).

Four steps, 약관동의 → 실명인증 → 회원정보 입력 → 가입완료, whose state lives in one `signup`
flow (idp/services/flows.py: bound to the browser, 30 minutes, single use). The browser carries
only the flow id; the verified identity is kept sealed (AES-GCM, idp/services/personal_data)
and the password only as its argon2 hash, so nothing secret sits in the store in clear.

    flow = begin(flows, browser=b, ia=uid)                           # the hub
    agree_terms(session, flows, flow, agreed, marketing)             # step 1
    verified(session, flows, pd, flow, identity)                     # step 2 (AlreadyMember)
    save_basic(session, flows, flow, passwords, policy, ...)         # step 3, 기본정보 tab
    save_optional(flows, flow, ...)                                  # step 3, 선택항목 tab
    save_interests_tab(session, flows, flow, hs_codes, countries)    # step 3, 관심 품목/지역
    choose_company(flows, flow, business_number)                     # step 3, 소속기업 등록:
    company_verified(flows, flow, business_number, method)           #   searched, then proven
    result = complete(session, flows, store, pd, flow_id, browser=b, now=now)   # 가입하기
    session.commit()

`complete` consumes the flow (a double submit creates one member; the other request finds
the result with `result_of`) and creates, in the caller's transaction, the Member, its
MemberIdentity (sealed CI/DI and their keyed hashes), its interests, the terms and marketing
consents and an audit event, and — when the 소속기업 tab proved one (approval password or
certificate, checked when given) — the affiliation (idp/services/affiliations.join). The
database's UNIQUE on the DI hash is the last word when two sign-ups of one person race: the
loser's IntegrityError becomes AlreadyMember.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from idp.errors import AlreadyExists, IdpError, InvalidInput
from idp.models import Company, CompanyStatus, Member, MemberIdentity, MemberType
from idp.models.base import DbSession
from idp.services import affiliations, audit, interests
from idp.services.flows import Flow, FlowKind, Flows
from idp.services.members import _checked_email, new_subject
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.personal_data import PersonalData, PersonalDataError
from idp.services.ports import VerifiedIdentity
from idp.services.terms import current_documents, record_consents
from idp.stores import Store

SIGNUP = FlowKind("signup", ttl=1800)
RESULT_TTL = 1800
# The flow's steps (the page it is at) in order.
TERMS, VERIFY, INFO = "terms", "verify", "info"
STEPS = (TERMS, VERIFY, INFO)
# Step 3's tabs in the manual's order: 기본정보, 선택항목, 관심 품목/지역, 소속기업 등록.
TABS = ("basic", "optional", "interests", "company")
_SEAL_KIND = "signup_identity"

# 선택항목 limits (the Member columns).
NAME_EN_MAX = 100
TEXT_MAX = 100
ADDRESS_EN_MAX = 300
_NAME_EN = re.compile(r"[A-Za-z][A-Za-z .,'-]*")
_PHONE = re.compile(r"0\d{1,2}-?\d{3,4}-?\d{4}")


class SignupGone(IdpError):
    """The flow is expired, used, another browser's or never existed."""


class AlreadyMember(IdpError):
    """The verified person (DI) already has an account (manual: 이미 가입된 회원입니다)."""


class TermsChanged(IdpError):
    """A required document got a new version after step 1: agree again."""


class StepMissing(IdpError):
    """An earlier step is not done (the step to go back to is `step`)."""

    def __init__(self, step: str, tab: str | None = None) -> None:
        super().__init__(step)
        self.step = step
        self.tab = tab


class LoginIdTaken(AlreadyExists):
    """The ID was taken at submit; go on with `flow_id` (back at the 기본정보 tab)."""

    def __init__(self, flow_id: str) -> None:
        super().__init__("login_id")
        self.flow_id = flow_id


@dataclass(frozen=True)
class SignupResult:
    member_id: int
    login_id: str
    name: str
    ia: str | None
    # The company the member was affiliated to at the end (its name), if any (issue 7).
    company: str | None = None


def begin(flows: Flows, *, browser: str, ia: str | None) -> Flow:
    """A new sign-up for this browser (from the hub; `ia` the pending sign-in, if any)."""
    return flows.start(SIGNUP, {"step": TERMS, "ia": ia, "agreed": {}, "marketing": {},
                                "versions": {}, "terms_done": False, "identity": None,
                                "info": {}, "tabs_done": []}, browser=browser)


def load(flows: Flows, flow_id: str | None, browser: str | None) -> Flow:
    flow = flows.get(SIGNUP, flow_id, browser=browser)
    if flow is None:
        raise SignupGone(flow_id or "")
    return flow


def reached(flow: Flow, step: str) -> bool:
    return STEPS.index(flow.data["step"]) >= STEPS.index(step)


def _advance(flow: Flow, step: str) -> dict[str, Any]:
    data = dict(flow.data)
    if STEPS.index(step) > STEPS.index(data["step"]):
        data["step"] = step
    return data


# Step 1 ------------------------------------------------------------------------------------

def agree_terms(session: DbSession, flows: Flows, flow: Flow, agreed: dict[str, bool],
                marketing: dict[str, bool]) -> None:
    """Keep the answers (recorded with the member at the end). InvalidInput(kind) when a
    required document is declined; marketing channels need the marketing consent."""
    documents = current_documents(session)
    for doc in documents:
        if doc.required and not agreed.get(doc.kind):
            raise InvalidInput(doc.kind, "a required document must be agreed to")
    if agreed.get("marketing") is False:
        marketing = dict.fromkeys(marketing, False)
    data = _advance(flow, VERIFY)
    data.update(terms_done=True,
                agreed={d.kind: bool(agreed.get(d.kind)) for d in documents},
                marketing={k: bool(v) for k, v in marketing.items()},
                versions={d.kind: d.version for d in documents})
    flows.update(flow, data)


# Step 2 ------------------------------------------------------------------------------------

def identity_taken(session: DbSession, pd: PersonalData, identity: VerifiedIdentity) -> bool:
    """Whether this person has an account: their DI (the duplicate check KOREA-FACTS names) or
    their CI. The CI too, because DI is per vendor family where a vendor gives none (KG이니시스:
    derived from the CI, docs/identity.md): one person verified by NICE and then by KG이니시스
    has two DIs but one CI. Both hashes are UNIQUE, so a racing insert is refused as well."""
    return session.scalar(select(MemberIdentity.id).where(or_(
        MemberIdentity.di_hash == pd.lookup_hash("di", identity.di),
        MemberIdentity.ci_hash == pd.lookup_hash("ci", identity.ci)))) is not None


def verified(session: DbSession, flows: Flows, pd: PersonalData, flow: Flow,
             identity: VerifiedIdentity) -> None:
    """Keep the verified identity (sealed) for step 3; AlreadyMember when its DI has an
    account."""
    if not reached(flow, VERIFY):
        raise StepMissing(TERMS)
    if identity_taken(session, pd, identity):
        raise AlreadyMember(identity.method)
    data = _advance(flow, INFO)
    data["identity"] = pd.seal(json.dumps(identity.to_dict()), _SEAL_KIND)
    flows.update(flow, data)


def identity_of(pd: PersonalData, flow: Flow) -> VerifiedIdentity | None:
    sealed = flow.data.get("identity")
    if not sealed:
        return None
    try:
        raw = json.loads(pd.open(sealed, _SEAL_KIND))
    except (PersonalDataError, ValueError):
        return None
    raw["birthdate"] = dt.date.fromisoformat(raw["birthdate"])
    return VerifiedIdentity(**raw)


def format_mobile(digits: str | None) -> str | None:
    """01012345678 -> 010-1234-5678 (as members.phone holds it)."""
    if not digits:
        return None
    d = re.sub(r"\D", "", digits)
    if len(d) == 11:
        return f"{d[:3]}-{d[3:7]}-{d[7:]}"
    if len(d) == 10:
        return f"{d[:3]}-{d[3:6]}-{d[6:]}"
    return d


# Step 3 ------------------------------------------------------------------------------------

def login_id_status(session: DbSession, policy: PasswordPolicy, login_id: str) -> str:
    """available | taken | invalid (the availability check)."""
    try:
        normalised = policy.check_login_id(login_id)
    except InvalidInput:
        return "invalid"
    taken = session.scalar(select(Member.id).where(Member.login_id == normalised))
    return "taken" if taken is not None else "available"


def _clean_text(value: str, field: str, limit: int) -> str | None:
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        return None
    if len(value) > limit:
        raise InvalidInput(field, "too_long")
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise InvalidInput(field, "invalid")
    return value


def save_basic(session: DbSession, flows: Flows, flow: Flow, passwords: Passwords,
               policy: PasswordPolicy, pd: PersonalData, *, login_id: str, password: str,
               confirm: str, email: str) -> None:
    """기본정보: ID (free now), password (policy, confirmation; kept as its hash only) and
    email. InvalidInput(field, reason) or AlreadyExists("login_id"). A password left empty
    keeps the one saved before (a reload does not ask for it again)."""
    identity = identity_of(pd, flow)
    if identity is None or not reached(flow, INFO):
        raise StepMissing(VERIFY)
    info = dict(flow.data.get("info") or {})
    normalised = policy.check_login_id(login_id.strip())
    if session.scalar(select(Member.id).where(Member.login_id == normalised)) is not None:
        raise AlreadyExists("login_id")
    if password or confirm or not info.get("password_hash") or (
            info.get("login_id") != normalised):
        if not password and info.get("password_hash"):
            # The saved password was checked against the old ID: type it again.
            raise InvalidInput("password", "again")
        policy.check_password(password, login_id=normalised, name=identity.name)
        if password != confirm:
            raise InvalidInput("confirm", "mismatch")
        info["password_hash"] = passwords.hash(password)
    if not email.strip():
        raise InvalidInput("email", "required")
    info.update(login_id=normalised, email=_checked_email(email.strip()))
    data = dict(flow.data)
    data["info"] = info
    data["tabs_done"] = sorted(set(data.get("tabs_done") or []) | {"basic"})
    flows.update(flow, data)


def save_optional(flows: Flows, flow: Flow, *, name_en: str, fax: str, department: str,
                  position: str, address_en: str) -> None:
    """선택항목: all optional; InvalidInput(field, reason) for a malformed value."""
    if not reached(flow, INFO):
        raise StepMissing(VERIFY)
    fields: dict[str, str | None] = {
        "name_en": _clean_text(name_en, "name_en", NAME_EN_MAX),
        "fax": _clean_text(fax, "fax", 20),
        "department": _clean_text(department, "department", TEXT_MAX),
        "position": _clean_text(position, "position", TEXT_MAX),
        "address_en": _clean_text(address_en, "address_en", ADDRESS_EN_MAX),
    }
    if fields["name_en"] and not _NAME_EN.fullmatch(fields["name_en"]):
        raise InvalidInput("name_en", "invalid")
    if fields["fax"] and not _PHONE.fullmatch(fields["fax"]):
        raise InvalidInput("fax", "invalid")
    if fields["address_en"] and not fields["address_en"].isascii():
        raise InvalidInput("address_en", "invalid")
    data = dict(flow.data)
    data["info"] = {**(data.get("info") or {}), **fields}
    data["tabs_done"] = sorted(set(data.get("tabs_done") or []) | {"optional"})
    flows.update(flow, data)


def save_interests_tab(session: DbSession, flows: Flows, flow: Flow,
                       hs_codes: Sequence[str], countries: Sequence[str]) -> None:
    """관심 품목/지역: the picker's answers, checked (interests.InterestsRefused) and kept in
    the flow as codes until `complete` saves them with the member."""
    if not reached(flow, INFO):
        raise StepMissing(VERIFY)
    chosen = interests.validate(session, hs_codes, countries)
    data = dict(flow.data)
    data["interests"] = {"hs": chosen.hs_codes, "countries": chosen.country_codes}
    data["tabs_done"] = sorted(set(data.get("tabs_done") or []) | {"interests"})
    flows.update(flow, data)


def chosen_interests(flow: Flow) -> tuple[list[str], list[str]]:
    """(hs codes, country codes) the 관심 품목/지역 tab kept in the flow."""
    kept = flow.data.get("interests") or {}
    return list(kept.get("hs") or []), list(kept.get("countries") or [])


def mark_tab(flows: Flows, flow: Flow, tab: str) -> None:
    data = dict(flow.data)
    data["tabs_done"] = sorted(set(data.get("tabs_done") or []) | {tab})
    flows.update(flow, data)


# 소속기업 등록 (issue 7; SPEC §3.3 tab 4) -------------------------------------------------------
# The tab keeps the searched business number, and the way the member proved they belong to the
# company once they did (the approval password is checked, within its limits, the moment it
# is typed: idp/services/affiliations.check_approval_password). `complete` makes the
# affiliation with the member.

def chosen_company(flow: Flow) -> dict[str, Any] | None:
    """{"business_number", "method" (None until proven)} or None."""
    company = flow.data.get("company")
    return dict(company) if company else None


def choose_company(flows: Flows, flow: Flow, business_number: str) -> None:
    if not reached(flow, INFO):
        raise StepMissing(VERIFY)
    data = dict(flow.data)
    data["company"] = {"business_number": business_number, "method": None}
    flows.update(flow, data)


def company_verified(flows: Flows, flow: Flow, business_number: str, method: str) -> None:
    """The member proved they belong to the searched company (`method`: approval_password |
    certificate); StepMissing when another number is searched now."""
    chosen = chosen_company(flow)
    if chosen is None or chosen["business_number"] != business_number:
        raise StepMissing(INFO, "company")
    data = dict(flow.data)
    data["company"] = {"business_number": business_number, "method": method}
    data["tabs_done"] = sorted(set(data.get("tabs_done") or []) | {"company"})
    flows.update(flow, data)


def clear_company(flows: Flows, flow: Flow) -> None:
    data = dict(flow.data)
    data["company"] = None
    data["tabs_done"] = [t for t in data.get("tabs_done") or [] if t != "company"]
    flows.update(flow, data)


def _proven_company(session: DbSession, flow: Flow) -> Company | None:
    """The company the tab proved, still joinable (else StepMissing back at the tab)."""
    chosen = chosen_company(flow)
    if chosen is None or not chosen.get("method"):
        return None
    company = session.scalar(select(Company).where(
        Company.business_number == chosen["business_number"]))
    if company is None or company.status != CompanyStatus.ACTIVE:
        raise StepMissing(INFO, "company")
    return company


# The end -----------------------------------------------------------------------------------

def _result_key(flow_id: str) -> str:
    return "signup-done:" + hashlib.sha256(flow_id.encode()).hexdigest()


def _browser_hash(browser: str) -> str:
    return hashlib.sha256(browser.encode()).hexdigest()


def result_of(store: Store, flow_id: str, *, browser: str | None) -> SignupResult | None:
    """The member a finished sign-up created, for the browser that made it."""
    if not flow_id or not browser:
        return None
    data = store.get(_result_key(flow_id))
    if data is None or not secrets.compare_digest(data["browser"], _browser_hash(browser)):
        return None
    return SignupResult(member_id=data["member_id"], login_id=data["login_id"],
                        name=data["name"], ia=data.get("ia"), company=data.get("company"))


def forget_result(store: Store, flow_id: str) -> None:
    store.delete(_result_key(flow_id))


def check_ready(session: DbSession, pd: PersonalData, flow: Flow) -> VerifiedIdentity:
    """What `complete` needs, or StepMissing / TermsChanged / AlreadyMember."""
    if not flow.data.get("terms_done"):
        raise StepMissing(TERMS)
    identity = identity_of(pd, flow)
    if identity is None:
        raise StepMissing(VERIFY)
    info = flow.data.get("info") or {}
    if not info.get("login_id") or not info.get("password_hash") or not info.get("email"):
        raise StepMissing(INFO, "basic")
    current = {d.kind: d.version for d in current_documents(session) if d.required}
    if any(flow.data["versions"].get(kind) != version for kind, version in current.items()):
        raise TermsChanged(TERMS)
    if identity_taken(session, pd, identity):
        raise AlreadyMember(identity.method)
    return identity


def complete(session: DbSession, flows: Flows, store: Store, pd: PersonalData,
             flow_id: str, *, browser: str, now: dt.datetime, ip: str | None = None
             ) -> SignupResult:
    """Create the member from the flow, once (the caller commits).

    Raises SignupGone (expired, another browser's, or already used: see `result_of`),
    StepMissing, TermsChanged, AlreadyMember (the DI has an account, also when another
    sign-up won a race) and LoginIdTaken (taken meanwhile: its flow_id goes on, back at the
    기본정보 tab).
    """
    flow = load(flows, flow_id, browser)
    identity = check_ready(session, pd, flow)
    info = flow.data["info"]
    taken = session.scalar(select(Member.id).where(Member.login_id == info["login_id"]))
    if taken is not None:
        flows.update(flow, without_login_id(flow.data))
        raise LoginIdTaken(flow_id)
    hs_codes, countries = chosen_interests(flow)
    try:
        interests.validate(session, hs_codes, countries)
    except interests.InterestsRefused:
        raise StepMissing(INFO, "interests") from None  # (the nomenclature changed meanwhile)
    # The company was rejected or removed meanwhile: back to the tab, which says so.
    company = _proven_company(session, flow)
    if flows.consume(SIGNUP, flow_id, browser=browser) is None:
        raise SignupGone(flow_id)  # the other request of a double submit has it
    member = Member(
        subject=new_subject(), member_type=MemberType.GENERAL, login_id=info["login_id"],
        name=identity.name, email=info["email"], email_verified=False,
        phone=format_mobile(identity.mobile), phone_verified=bool(identity.mobile),
        phone_carrier=identity.carrier, password_hash=info["password_hash"],
        name_en=info.get("name_en"), fax=info.get("fax"), department=info.get("department"),
        position=info.get("position"), address_en=info.get("address_en"),
        created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
            session.add(MemberIdentity(
                member_id=member.id, ci_hash=pd.lookup_hash("ci", identity.ci),
                di_hash=pd.lookup_hash("di", identity.di), ci_sealed=pd.seal(identity.ci, "ci"),
                di_sealed=pd.seal(identity.di, "di"), name=identity.name,
                birthdate=identity.birthdate, gender=identity.gender,
                nationality=identity.nationality, carrier=identity.carrier,
                method=identity.method, vendor=identity.vendor, verified_at=now))
            session.flush()
    except IntegrityError as exc:
        detail = str(exc.orig).lower()
        if "login_id" in detail:
            # Taken meanwhile by another sign-up: a fresh flow carries the answers on.
            again = flows.start(SIGNUP, without_login_id(flow.data), browser=browser)
            raise LoginIdTaken(again.id) from None
        raise AlreadyMember(identity.method) from None
    if hs_codes or countries:
        interests.save_interests(session, member.id, hs_codes, countries, commit=False)
    record_consents(session, member.id, agreed=flow.data["agreed"],
                    marketing=flow.data["marketing"], source="signup", now=now)
    audit.record(session, "member.signed_up", member_id=member.id, ip=ip,
                 method=identity.method, vendor=identity.vendor)
    if company is not None:
        affiliations.join(session, member, company, method=flow.data["company"]["method"],
                          ip=ip, now=now)
    result = SignupResult(member_id=member.id, login_id=member.login_id or "",
                          name=member.name, ia=flow.data.get("ia"),
                          company=company.name if company is not None else None)
    store.put(_result_key(flow_id), {"member_id": result.member_id, "login_id":
                                     result.login_id, "name": result.name, "ia": result.ia,
                                     "company": result.company,
                                     "browser": _browser_hash(browser)}, RESULT_TTL)
    session.flush()
    return result


def without_login_id(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data["info"] = {k: v for k, v in (data.get("info") or {}).items() if k != "login_id"}
    data["tabs_done"] = [t for t in data.get("tabs_done") or [] if t != "basic"]
    return data
