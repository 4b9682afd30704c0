"""일반회원 전환: a simple (SNS) member becomes a general member (issue 9; SPEC §3.2, §3.6;
manual ch. 02 "이후 일반회원으로 전환 가능").

The general sign-up's steps (idp/services/signup.py) are reused on a `conversion` flow whose
data has the sign-up flow's shape (step, identity, info, tabs_done) plus the member being
converted, so `signup.verified`, `signup.identity_of` and `signup.save_basic` run on it as
they are:

    flow = begin(session, flows, member_id=m, browser=b, ia=uid, via="sso")
    needed_terms(session, member_id, now)        # only what the member has not agreed to
    agree_terms(session, flows, flow, agreed, marketing, now)   # skipped when nothing needed
    signup.verified(session, flows, pd, flow, identity)          # 실명인증 (AlreadyMember)
    signup.save_basic(session, flows, flow, passwords, policy, pd, ...)   # ID + password
    result = complete(session, flows, store, pd, flow_id, browser=b, now=now)
    session.commit()

`complete` changes the SAME `members` row: member_type simple → general, login_id,
password_hash, the verified name and mobile (the verified real name replaces the name the
SNS gave: a general member's name is the one identity verification proved), and adds its
MemberIdentity. Its `sns_links`, consents, sessions and history stay; its `subject` stays, so
SNS sign-in keeps working and relying parties see the same `sub`. The update is conditional
on the member still being simple (`UPDATE ... WHERE member_type = 'simple'`), so of two
racing conversions one wins and the other gets AlreadyConverted; the UNIQUE on the DI hash
and on login_id are the last word against other sign-ups.

Terms: simple and general members agree to the same documents (service, privacy, ...), so
the conversion asks only for the required documents the member's agreement is missing for
(a new version, or past the re-consent period) — usually none, and the step is skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from idp.errors import IdpError, InvalidInput
from idp.models import Member, MemberIdentity, MemberType
from idp.models.base import DbSession
from idp.models.sns import SnsLink
from idp.services import audit
from idp.services import signup as general
from idp.services.flows import Flow, FlowKind, Flows
from idp.services.personal_data import PersonalData
from idp.services.ports import VerifiedIdentity
from idp.services.terms import current_documents, missing_consents, record_consents
from idp.stores import Store

CONVERSION = FlowKind("conversion", ttl=1800)
RESULT_TTL = 1800
VIA = ("sso", "sns_signup")

# Errors shared with the general sign-up (the pages map them the same way).
AlreadyMember = general.AlreadyMember
StepMissing = general.StepMissing
TermsChanged = general.TermsChanged
LoginIdTaken = general.LoginIdTaken


class ConversionGone(IdpError):
    """The flow is expired, used, another browser's or never existed."""


class NotSimpleMember(IdpError):
    """Only an active simple member converts (a general member already is one)."""


class AlreadyConverted(NotSimpleMember):
    """The member became a general member meanwhile (another conversion won)."""


@dataclass(frozen=True)
class ConversionResult:
    member_id: int
    login_id: str
    name: str
    ia: str | None
    via: str


def _simple_member(session: DbSession, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or not member.is_active:
        raise NotSimpleMember("inactive")
    if member.member_type != MemberType.SIMPLE:
        raise NotSimpleMember(str(member.member_type))
    return member


def needed_terms(session: DbSession, member_id: int, *, now: dt.datetime) -> list[str]:
    """The kinds of the required documents this member must still agree to."""
    return [doc.kind for doc in missing_consents(session, member_id, now=now)]


def begin(session: DbSession, flows: Flows, *, member_id: int, browser: str, ia: str | None,
          via: str, now: dt.datetime) -> Flow:
    """A new conversion of `member_id` (a simple member) in this browser; NotSimpleMember."""
    if via not in VIA:
        raise InvalidInput("via", "unknown")
    member = _simple_member(session, member_id)
    terms = needed_terms(session, member.id, now=now)
    return flows.start(CONVERSION, {
        "member_id": member.id, "via": via, "ia": ia,
        "step": general.TERMS if terms else general.VERIFY, "terms_needed": terms,
        "agreed": {}, "marketing": {}, "versions": {}, "terms_done": not terms,
        "identity": None, "info": {"email": member.email or ""}, "tabs_done": [],
    }, browser=browser)


def load(flows: Flows, flow_id: str | None, browser: str | None) -> Flow:
    flow = flows.get(CONVERSION, flow_id, browser=browser)
    if flow is None:
        raise ConversionGone(flow_id or "")
    return flow


def agree_terms(session: DbSession, flows: Flows, flow: Flow, agreed: dict[str, bool],
                marketing: dict[str, bool]) -> None:
    """Keep the answers to the documents the member still needs (recorded at the end);
    InvalidInput(kind) when one of them is declined."""
    documents = [d for d in current_documents(session)
                 if d.kind in flow.data["terms_needed"] or not d.required]
    for doc in documents:
        if doc.required and not agreed.get(doc.kind):
            raise InvalidInput(doc.kind, "a required document must be agreed to")
    if agreed.get("marketing") is False:
        marketing = dict.fromkeys(marketing, False)
    data = dict(flow.data)
    if data["step"] == general.TERMS:
        data["step"] = general.VERIFY
    data.update(terms_done=True,
                agreed={d.kind: bool(agreed.get(d.kind)) for d in documents
                        if d.required or d.kind in agreed},
                marketing={k: bool(v) for k, v in marketing.items()},
                versions={d.kind: d.version for d in documents})
    flows.update(flow, data)


def check_ready(session: DbSession, pd: PersonalData, flow: Flow, *, now: dt.datetime
                ) -> tuple[Member, VerifiedIdentity]:
    member = _simple_member(session, flow.data["member_id"])
    if not flow.data.get("terms_done"):
        raise StepMissing(general.TERMS)
    identity = general.identity_of(pd, flow)
    if identity is None:
        raise StepMissing(general.VERIFY)
    info = flow.data.get("info") or {}
    if not info.get("login_id") or not info.get("password_hash") or not info.get("email"):
        raise StepMissing(general.INFO, "basic")
    versions = flow.data.get("versions") or {}
    for kind in needed_terms(session, member.id, now=now):
        if kind not in versions:
            raise TermsChanged(general.TERMS)  # a document became required or got a version
    current = {d.kind: d.version for d in current_documents(session)}
    if any(current.get(kind) != version for kind, version in versions.items()):
        raise TermsChanged(general.TERMS)
    if general.identity_taken(session, pd, identity):
        raise AlreadyMember(identity.method)
    return member, identity


def _result_key(flow_id: str) -> str:
    return "conversion-done:" + hashlib.sha256(flow_id.encode()).hexdigest()


def _browser_hash(browser: str) -> str:
    return hashlib.sha256(browser.encode()).hexdigest()


def result_of(store: Store, flow_id: str, *, browser: str | None) -> ConversionResult | None:
    """The conversion a finished flow made, for the browser that made it."""
    if not flow_id or not browser:
        return None
    data = store.get(_result_key(flow_id))
    if data is None or not secrets.compare_digest(data["browser"], _browser_hash(browser)):
        return None
    return ConversionResult(member_id=data["member_id"], login_id=data["login_id"],
                            name=data["name"], ia=data.get("ia"), via=data["via"])


def forget_result(store: Store, flow_id: str) -> None:
    store.delete(_result_key(flow_id))


def complete(session: DbSession, flows: Flows, store: Store, pd: PersonalData, flow_id: str,
             *, browser: str, now: dt.datetime, ip: str | None = None) -> ConversionResult:
    """Convert the member, once (the caller commits).

    Raises ConversionGone (expired, another browser's, already used: see `result_of`),
    NotSimpleMember / AlreadyConverted, StepMissing, TermsChanged, AlreadyMember (the DI has
    another account) and LoginIdTaken (taken meanwhile; the flow goes on at the 기본정보 tab).
    """
    flow = load(flows, flow_id, browser)
    member, identity = check_ready(session, pd, flow, now=now)
    info = flow.data["info"]
    if session.scalar(select(Member.id).where(Member.login_id == info["login_id"])) is not None:
        flows.update(flow, general.without_login_id(flow.data))
        raise LoginIdTaken(flow_id)
    if flows.consume(CONVERSION, flow_id, browser=browser) is None:
        raise ConversionGone(flow_id)  # the other request of a double submit has it
    try:
        with session.begin_nested():
            changed = session.execute(
                update(Member)
                .where(Member.id == member.id, Member.member_type == MemberType.SIMPLE)
                .values(member_type=MemberType.GENERAL, login_id=info["login_id"],
                        password_hash=info["password_hash"], name=identity.name,
                        email=info["email"],
                        email_verified=member.email_verified and info["email"] == member.email,
                        phone=general.format_mobile(identity.mobile) or member.phone,
                        phone_verified=bool(identity.mobile) or member.phone_verified,
                        phone_carrier=identity.carrier, updated_at=now)
                .execution_options(synchronize_session=False))
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise AlreadyConverted(member.id)
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
            again = flows.start(CONVERSION, general.without_login_id(flow.data), browser=browser)
            raise LoginIdTaken(again.id) from None
        if "member_id" in detail:
            raise AlreadyConverted(member.id) from None  # a racing conversion added it
        raise AlreadyMember(identity.method) from None
    session.refresh(member)
    if flow.data.get("agreed") or flow.data.get("marketing"):
        record_consents(session, member.id, agreed=flow.data["agreed"],
                        marketing=flow.data["marketing"], source="conversion", now=now)
    providers = sorted(session.scalars(select(SnsLink.provider)
                                       .where(SnsLink.member_id == member.id)))
    audit.record(session, "member.converted", member_id=member.id, ip=ip,
                 method=identity.method, vendor=identity.vendor, sns=providers,
                 via=flow.data["via"])
    result = ConversionResult(member_id=member.id, login_id=info["login_id"],
                              name=identity.name, ia=flow.data.get("ia"),
                              via=flow.data["via"])
    store.put(_result_key(flow_id), {"member_id": result.member_id, "login_id":
                                     result.login_id, "name": result.name, "ia": result.ia,
                                     "via": result.via, "browser": _browser_hash(browser)},
              RESULT_TTL)
    session.flush()
    return result

