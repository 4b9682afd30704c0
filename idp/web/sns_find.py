"""SNS 찾기 (issue 9; manual ch. 06): which SNS (네이버, 카카오, 구글, 페이스북) an account was
made with, linked from the login page's 간편회원 tab. Modelled on 아이디 찾기 (idp/web/find_id.py),
whose forms, limits and SMS codes it reuses:

    GET  /find-sns?way=mobile|verify[&ia=<uid>]   the two ways (sns_find.start)
    POST /find-sns/mobile                         name + mobile -> an SMS code to that number
    GET|POST /find-sns/mobile/<fid>               the code (and 재전송) -> the result
    GET  /find-sns/verified?vr=<request id>       after 본인확인 -> the result

The result: the SNS, its account masked (k***@kakao.com, or the vendor's id masked) and the
date joined (KST). The pages are the same whether or not anything matched (the code goes to
the typed number whoever it belongs to; the result shows only after it); look-ups are limited
per client IP and per number (settings [find_id]).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.extensions import db
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services import sns as service
from idp.services.find_id import FindIdLimits, FindIdThrottled
from idp.services.flows import Flow, FlowKind
from idp.services.sms_codes import SmsCodeRefused, SmsCodes
from idp.web.find_id import (
    FLOW_GONE,
    IA_PATTERN,
    SMS_MESSAGES,
    THROTTLED,
    CodeForm,
    MobileForm,
    login_url,
)
from idp.web.verification import VerificationError, refusal_message, take_verification

bp = Blueprint("sns_find", __name__)

PURPOSE = "sns_find"
WAYS = ("mobile", "verify")
FIND_BY_MOBILE = FlowKind("sns_find_mobile", ttl=600)
LABEL = "SNS 찾기"
PROVIDER_NAMES = {"naver": _l("네이버"), "kakao": _l("카카오"), "google": _l("구글"),
                  "facebook": _l("페이스북")}


def _ia() -> str | None:
    value = request.values.get("ia", "")
    return value if re.fullmatch(IA_PATTERN, value) else None


def _limits() -> FindIdLimits:
    p = provider()
    return FindIdLimits(p.store, p.clock, **p.settings["find_id"])


def _login_url(ia: str | None) -> str:
    """Back to the pending sign-in's 간편회원 tab while it exists, else the home page."""
    url = login_url(ia)
    return url_for("web.login_page", uid=ia, tab="simple") if ia and url != url_for(
        "web.home") else url


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    ia = context.pop("ia", _ia())
    return Response(render_template(template, ia=ia, login_url=_login_url(ia),
                                    provider_names=PROVIDER_NAMES, **context), status)


def _start_page(way: str, *, message: str | None = None, status: int = 200,
                form: MobileForm | None = None, ia: str | None = None) -> BaseResponse:
    ia = ia if ia is not None else _ia()
    return _page("sns_find/start.html", status, way=way, message=message, ia=ia,
                 mobile_form=form or MobileForm(formdata=None, ia=ia),
                 verified_next=url_for("sns_find.verified", ia=ia))


def _sms_message(exc: SmsCodeRefused) -> str:
    return str(SMS_MESSAGES.get(exc.reason, SMS_MESSAGES["unavailable"])) % {
        "seconds": exc.retry_after, "minutes": max(1, (exc.retry_after + 59) // 60),
        "remaining": exc.remaining}


def _bound(flow: Flow, browser: str) -> str:
    return f"{flow.id}:{browser}"


@bp.route("/find-sns")
def start() -> BaseResponse:
    """SNS 찾기: 휴대폰 (name + mobile + SMS code) or 본인확인."""
    way = request.args.get("way", "mobile")
    return _start_page(way if way in WAYS else "mobile")


@bp.route("/find-sns/mobile", methods=["POST"])
def mobile_send() -> BaseResponse:
    form = MobileForm()
    if not form.validate_on_submit():
        first = next((str(f.errors[0]) for f in form if f.errors), None)
        return _start_page("mobile", form=form, status=400, message=first or str(FLOW_GONE))
    mobile = form.mobile()
    if mobile is None:
        form.phone2.errors = [_("휴대폰 번호를 정확히 입력해 주세요.")]
        return _start_page("mobile", form=form, status=400, message=form.phone2.errors[0])
    p, ip, ia = provider(), client_ip(), form.ia.data or None
    try:
        _limits().count(ip=ip, target=mobile)
    except FindIdThrottled:
        audit.record(db.session, "sns_find.throttled", ip=ip, way="mobile")
        db.session.commit()
        return _start_page("mobile", form=form, status=429, message=str(THROTTLED))
    browser = browser_id()
    flow = p.flows.start(FIND_BY_MOBILE, {"name": form.name.data.strip(), "phone": mobile,
                                          "ia": ia}, browser=browser)
    try:
        SmsCodes.for_provider(p).send(purpose=PURPOSE, phone=mobile,
                                      browser=_bound(flow, browser), ip=ip, label=LABEL)
    except SmsCodeRefused as exc:
        p.flows.discard(flow.id)
        db.session.commit()
        return _start_page("mobile", form=form, message=_sms_message(exc),
                           status=429 if exc.reason != "unavailable" else 503)
    audit.record(db.session, "sns_find.code_sent", ip=ip, way="mobile")
    db.session.commit()
    return redirect(url_for("sns_find.mobile_code", fid=flow.id, ia=ia), 303)


@bp.route("/find-sns/mobile/<fid>", methods=["GET", "POST"])
def mobile_code(fid: str) -> BaseResponse:
    p = provider()
    browser = cookies().browser.read() or ""
    flow = p.flows.get(FIND_BY_MOBILE, fid, browser=browser)
    if flow is None:
        return _start_page("mobile", message=str(FLOW_GONE), status=400)
    ia = flow.data.get("ia")
    phone, form = flow.data["phone"], CodeForm()
    codes = SmsCodes.for_provider(p)
    if request.method == "GET":
        return _code_page(flow, form, ia, info=_("인증번호를 발송했습니다."))
    if not form.validate_on_submit():
        return _code_page(flow, form, ia, message=str(FLOW_GONE), status=400)
    if request.form.get("action") == "resend":
        try:
            codes.send(purpose=PURPOSE, phone=phone, browser=_bound(flow, browser),
                       ip=client_ip(), label=LABEL)
        except SmsCodeRefused as exc:
            db.session.commit()
            return _code_page(flow, form, ia, message=_sms_message(exc), status=429)
        audit.record(db.session, "sns_find.code_sent", ip=client_ip(), way="mobile",
                     resend=True)
        db.session.commit()
        return _code_page(flow, form, ia, info=_("인증번호를 다시 발송했습니다."))
    try:
        codes.verify(purpose=PURPOSE, phone=phone, browser=_bound(flow, browser),
                     code=form.code.data or "")
    except SmsCodeRefused as exc:
        message = _sms_message(exc)
        if exc.reason in ("too_many", "locked"):
            p.flows.discard(flow.id)
            audit.record(db.session, "sns_find.code_locked", ip=client_ip(), way="mobile")
            db.session.commit()
            return _start_page("mobile", message=message, status=429, ia=ia)
        db.session.commit()
        return _code_page(flow, form, ia, message=message, status=400, invalid=True)
    if p.flows.consume(FIND_BY_MOBILE, fid, browser=browser) is None:
        db.session.commit()  # a second tab typed the code at the same moment
        return _start_page("mobile", message=str(FLOW_GONE), status=400, ia=ia)
    found = service.find_sns_by_mobile(db.session, name=flow.data["name"], mobile=phone)
    return _result(found, "mobile", ia)


def _code_page(flow: Flow, form: CodeForm, ia: str | None, *, info: str | None = None,
               message: str | None = None, status: int = 200,
               invalid: bool = False) -> BaseResponse:
    phone = flow.data["phone"]
    masked = f"{phone[:3]}-{phone[3:-4][:2]}{'*' * len(phone[3:-4][2:])}-{phone[-4:]}"
    return _page("sns_find/code.html", status, flow=flow, form=form, ia=ia, info=info,
                 message=message, invalid=invalid, phone=masked,
                 minutes=SmsCodes.for_provider(provider()).settings.ttl // 60)


def _result(found: list[service.FoundSns], way: str, ia: str | None) -> BaseResponse:
    for member_id in sorted({f.member_id for f in found}):
        audit.record(db.session, "sns_find.found", member_id=member_id, ip=client_ip(),
                     way=way)
    if not found:
        audit.record(db.session, "sns_find.not_found", ip=client_ip(), way=way)
    db.session.commit()
    return _page("sns_find/result.html", found=found, ia=ia, way=way)


@bp.route("/find-sns/verified")
def verified() -> BaseResponse:
    """Back from 본인확인: the verified CI, or the verified name and mobile, find the SNS."""
    ia = _ia()
    try:
        _limits().count(ip=client_ip())
    except FindIdThrottled:
        audit.record(db.session, "sns_find.throttled", ip=client_ip(), way="verify")
        db.session.commit()
        return _start_page("verify", message=str(THROTTLED), status=429)
    try:
        identity = take_verification(PURPOSE)
    except VerificationError as exc:
        db.session.commit()
        return _start_page("verify", message=refusal_message(exc.reason), status=400)
    found = service.find_sns_by_identity(
        db.session, ci_hash=provider().personal_data.lookup_hash("ci", identity.ci),
        name=identity.name, mobile=identity.mobile)
    return _result(found, "verify", ia)
