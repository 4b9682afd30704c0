"""소속기업 등록 on pages: what the sign-up's 소속기업 tab and MY KOTRA 소속기업 관리 share
(issue 7; SPEC §3.3 tab 4, §3.8; idp/services/affiliations.py).

Both pages search a business number (a plain form: the record is rendered by the server, no
script needed; throttled per client address), show the registered company's record, and join
it by the approval password (checked the moment it is typed, within its limits) or by the
company's corporate certificate (the 인증서찾기 widget, purpose "affiliate").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask import Blueprint, Response, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from idp.extensions import db
from idp.models import AffiliationMethod, Company, Member, MemberIdentity, MemberType
from idp.oidc.server import client_ip, provider
from idp.services import affiliations as service
from idp.services import audit
from idp.services.business_numbers import InvalidNumber
from idp.services.certificates import CertificateError
from idp.services.claims import ACR_CERTIFICATE
from idp.services.legacy_import import KST
from idp.services.login import LoginMethod
from idp.services.members import SignedIn
from idp.services.sessions import Interaction, SsoSession
from idp.services.throttle import ip_bucket
from idp.web.certificate import certificate_message, take_certificate
from idp.web.interaction import (
    current_interaction,
    current_session,
    finish_login,
    register_login_method,
)

# Where a company not yet registered is registered (the registration helper's blueprint).
COMPANY_REGISTER = "/company/register"

METHOD_LABELS = {"certificate": _l("기업 범용인증서"), "approval_password": _l("승인 비밀번호")}

MESSAGES = {
    "business_number": _l("사업자등록번호 10자리를 정확히 입력해 주세요."),
    "not_found": _l("등록된 기업정보가 없습니다. 사업자등록번호를 확인하시거나, 조회가 되지 않는 "
                    "사업자는 아래의 신규 기업정보 등록을 이용해 주십시오."),
    "pending": _l("기업정보 등록 승인을 기다리고 있는 기업입니다. 운영자의 승인이 끝난 뒤 "
                  "소속기업으로 등록하실 수 있습니다."),
    "no_approval_password": _l("승인 비밀번호가 설정되지 않은 기업입니다. 기업 범용인증서로 "
                               "인증해 주세요."),
    "format": _l("승인 비밀번호 6자리 숫자를 입력해 주세요."),
    "busy": _l("승인 비밀번호를 확인하고 있습니다. 잠시 후 다시 시도해 주세요."),
    "certificate": _l("입력하신 사업자등록번호의 인증서가 아닙니다. 소속기업의 범용인증서로 "
                      "인증해 주세요."),
    "already": _l("이미 소속기업이 등록되어 있습니다. 다른 기업으로 바꾸시려면 먼저 소속을 "
                  "해제해 주세요."),
    "not_general": _l("소속기업은 일반회원만 등록할 수 있습니다."),
    "too_many": _l("조회가 너무 많습니다. 잠시 후 다시 시도해 주세요."),
    "search_first": _l("먼저 소속기업의 사업자등록번호를 조회해 주세요."),
}

_DIGITS6 = re.compile(r"\d{6}")


def _until(until: float) -> str:
    return dt.datetime.fromtimestamp(until, KST).strftime("%H:%M")


def refusal_message(exc: service.AffiliationRefused) -> str:
    """The Korean message for a refused search or join."""
    if exc.reason == "wrong_password":
        return _("승인 비밀번호가 일치하지 않습니다. 다시 확인해 주세요. (남은 입력 횟수 %(n)d회)",
                 n=exc.remaining or 0)
    if exc.reason == "locked":
        if exc.scope == "company":
            return _("이 기업의 승인 비밀번호가 여러 번 잘못 입력되어 %(time)s까지 승인 비밀번호로 "
                     "소속기업을 등록할 수 없습니다. 기업 범용인증서로 인증하시거나 기업정보 "
                     "관리자에게 문의해 주세요.", time=_until(exc.until))
        if exc.scope == "member":
            return _("승인 비밀번호를 여러 번 잘못 입력하셨습니다. %(time)s 이후에 다시 시도해 "
                     "주세요.", time=_until(exc.until))
        return _("이 네트워크에서 승인 비밀번호가 여러 번 잘못 입력되었습니다. %(time)s 이후에 "
                 "다시 시도해 주세요.", time=_until(exc.until))
    return str(MESSAGES.get(exc.reason, MESSAGES["not_found"]))


def limits() -> service.ApprovalLimits:
    return service.ApprovalLimits.from_settings(provider().settings["affiliation"])


def search_allowed() -> bool:
    """One more business-number search for this client address within its window."""
    p = provider()
    section = p.settings["affiliation"]
    window = int(section["search_window"])
    period = int(p.clock.now() // window)
    count = p.store.incr(f"affil-search:{ip_bucket(client_ip() or '-')}:{period}", window)
    db.session.commit()
    return count <= int(section["searches_per_ip"])


def search(business_number: str) -> tuple[Company, service.CompanyRecord]:
    """The registered company and its record; AffiliationRefused (reason "business_number"
    for a malformed number, "too_many" past the search limit, "not_found", "pending")."""
    if not search_allowed():
        raise service.AffiliationRefused("too_many")
    try:
        return service.find_joinable(db.session, provider().company_directory,
                                     business_number[:20])
    except InvalidNumber:
        raise service.AffiliationRefused("business_number") from None


def person_key(di_hash: str) -> str:
    """The approval password's per-person key: the verified person (their DI's keyed hash),
    the same during sign-up and afterwards in MY KOTRA."""
    return "person:" + di_hash[:32]


def member_key(member: Member) -> str:
    """Whom the per-member limit counts in MY KOTRA: the verified person when the member has
    an identity (so a person locked during sign-up is still locked after it), else the
    member."""
    di_hash = db.session.scalar(select(MemberIdentity.di_hash).where(
        MemberIdentity.member_id == member.id))
    return person_key(di_hash) if di_hash else f"member:{member.id}"


def check_approval_password(company: Company, password: str, *, who: str,
                            member_id: int | None) -> None:
    """The typed approval password, within its limits (AffiliationRefused)."""
    password = password.strip().replace("-", "")
    if not _DIGITS6.fullmatch(password):
        raise service.AffiliationRefused("format")
    p = provider()
    service.check_approval_password(db.session, p.store, p.clock, p.passwords, limits(),
                                    company, password, who=who, member_id=member_id,
                                    ip=client_ip())


# -- step-up to certificate level for a member affiliated by certificate --------------------------
#
# A relying party may demand urn:kotra:acr:certificate (acr_values, or the essential `acr`
# claim) before mileage use (SPEC §2, §5). A general member affiliated by certificate reaches
# it by signing with the company's certificate: the member is identified first (their SSO
# session: ID + password, or any other login), then the 인증서찾기 widget (purpose "login",
# fixed to their company's business number) proves control of the company's certificate now;
# the certified business number must be their affiliation's. The company manager's
# certificate login (the 기업정보 관리 tab) is another view with its own registration.

bp = Blueprint("affiliation", __name__)
MEMBER_CERTIFICATE = LoginMethod(
    "member_certificate", ACR_CERTIFICATE, ("swk",),
    # Only a general member affiliated by certificate holds a company's certificate.
    usable_by=lambda m: m.member_type == MemberType.GENERAL and m.affiliation is not None
    and m.affiliation.method == AffiliationMethod.CERTIFICATE)
register_login_method(bp, MEMBER_CERTIFICATE)


@dataclass(frozen=True)
class CertificateStep:
    """What the login page says about the certificate login (state: identify | ready |
    approval_password | unaffiliated)."""

    state: str
    company: str | None = None
    url: str | None = None


def _session_member() -> tuple[SsoSession, Member] | None:
    sess = current_session()
    if sess is None:
        return None
    member = db.session.get(Member, sess.member_id)
    if member is None or not member.is_active:
        return None
    return sess, member


def certificate_step(ia: Interaction, needed: str | None) -> CertificateStep | None:
    """The login page's 인증서 로그인 for general members, when the request needs the
    certificate level (None otherwise, and for other principals: their own tabs)."""
    if needed != ACR_CERTIFICATE:
        return None
    found = _session_member()
    if found is None:
        return CertificateStep("identify")
    member = found[1]
    if member.member_type != MemberType.GENERAL:
        return None
    affiliation = member.affiliation
    if affiliation is None:
        return CertificateStep("unaffiliated")
    if affiliation.method != AffiliationMethod.CERTIFICATE:
        return CertificateStep("approval_password", company=affiliation.company.name)
    return CertificateStep("ready", company=affiliation.company.name,
                           url=url_for("affiliation.certificate_login", uid=ia.uid))


def _certificate_page(ia: Interaction, member: Member, *, status: int = 200,
                      message: str | None = None) -> BaseResponse:
    affiliation = member.affiliation
    assert affiliation is not None
    return Response(render_template(
        "login/member_certificate.html", ia=ia, member=member, company=affiliation.company,
        message=message), status)


def _eligible(uid: str) -> tuple[Interaction, SsoSession, Member] | BaseResponse:
    ia = current_interaction(uid)
    if ia is None:
        return Response(render_template("oidc/error.html", error="interaction_expired"), 400)
    found = _session_member()
    step = certificate_step(ia, ACR_CERTIFICATE)
    if found is None or step is None or step.state != "ready":
        return redirect(url_for("web.login_page", uid=uid), 303)
    return ia, found[0], found[1]


@bp.get("/interaction/<uid>/certificate")
def certificate_login(uid: str) -> BaseResponse:
    """인증서 로그인: the company's certificate, for a member affiliated by certificate."""
    eligible = _eligible(uid)
    if not isinstance(eligible, tuple):
        return eligible
    ia, _sess, member = eligible
    g.form_target = ia.params.get("redirect_uri")  # (the widget's next ends at the client)
    return _certificate_page(ia, member)


@bp.get("/interaction/<uid>/certificate/done")
def certificate_done(uid: str) -> BaseResponse:
    """The widget comes back here (?cr=): the certificate must be the member's company's."""
    eligible = _eligible(uid)
    if not isinstance(eligible, tuple):
        return eligible
    ia, sess, member = eligible
    affiliation = member.affiliation
    assert affiliation is not None
    try:
        certified = take_certificate("login")
    except CertificateError as exc:
        db.session.commit()
        return _certificate_page(ia, member, status=400,
                                 message=certificate_message(exc.reason))
    if certified.business_number != affiliation.company.business_number:
        audit.record(db.session, "login.failure", member_id=member.id, ip=client_ip(),
                     client_id=ia.params.get("client_id"), method="certificate",
                     reason="other_company")
        db.session.commit()
        return _certificate_page(ia, member, status=400, message=str(MESSAGES["certificate"]))
    audit.record(db.session, "login.success", member_id=member.id, ip=client_ip(),
                 client_id=ia.params.get("client_id"), method="swk",
                 business_number=certified.business_number, serial=certified.serial)
    amr = ["pwd", "swk"] if "pwd" in sess.amr else ["swk"]
    return finish_login(ia, SignedIn(member.id, member.login_id), acr=MEMBER_CERTIFICATE.acr,
                        amr=amr)
