"""아이디 찾기 (find ID), manual chapter 07: 휴대폰으로 찾기, 간편인증, 이메일로 찾기.

    GET  /find-id?way=mobile|simple|email[&ia=<uid>]     the three ways (find_id.start)
    POST /find-id/mobile                                  name + mobile -> an SMS code
    GET|POST /find-id/mobile/<fid>                        the code (and 재전송) -> the result
    GET  /find-id/verified?vr=<request id>                after 간편인증 -> the result
    POST /find-id/email                                   name + email -> the result by email

`ia` (a pending sign-in's interaction uid) travels along; the result's 로그인 button goes back
to that login page while it exists, else to the home page. Nothing here tells a visitor
whether an account exists: the SMS code goes to the typed number whatever it belongs to, the
result shows only after it is typed, and the email way always answers the same. Services:
idp/services/find_id.py (look-ups, masking, limits), idp/services/sms_codes.py.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from idp.cookies import browser_id, cookies
from idp.extensions import db
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services import find_id as service
from idp.services.flows import Flow, FlowKind
from idp.services.sms_codes import SmsCodeRefused, SmsCodes
from idp.web.forms import PRINTABLE
from idp.web.verification import VerificationError, refusal_message, take_verification

bp = Blueprint("find_id", __name__)

PURPOSE = "find_id"
WAYS = ("mobile", "simple", "email")
# Name and number typed, the code not yet: 10 minutes (a code lives 3 of them).
FIND_BY_MOBILE = FlowKind("find_id_mobile", ttl=600)
IA_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"

SMS_MESSAGES = {
    "cooldown": _l("인증번호는 %(seconds)s초 후에 다시 받을 수 있습니다."),
    "phone_limit": _l("인증번호 요청 횟수를 초과하였습니다. 잠시 후 다시 시도해 주세요."),
    "ip_limit": _l("인증번호 요청 횟수를 초과하였습니다. 잠시 후 다시 시도해 주세요."),
    "locked": _l("인증번호를 여러 번 잘못 입력하여 잠시 이용할 수 없습니다. %(minutes)s분 후 다시 "
                 "시도해 주세요."),
    "unavailable": _l("인증번호를 보내지 못했습니다. 잠시 후 다시 시도해 주세요."),
    "expired": _l("인증번호 입력 시간이 지났습니다. 인증번호를 다시 받아 주세요."),
    "wrong": _l("인증번호가 일치하지 않습니다. (남은 입력 횟수: %(remaining)s회)"),
    "too_many": _l("인증번호를 5회 잘못 입력하였습니다. %(minutes)s분 후 다시 시도해 주세요."),
}
THROTTLED = _l("조회 요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.")
FLOW_GONE = _l("입력 시간이 지났습니다. 처음부터 다시 진행해 주세요.")


class MobileForm(FlaskForm):
    name = StringField(_l("이름"), validators=[
        DataRequired(_l("이름을 입력해 주세요.")), Length(max=50), PRINTABLE])
    phone1 = StringField(_l("휴대폰 앞자리"), default="010")
    phone2 = StringField(_l("휴대폰 가운데 자리"), validators=[Length(max=4)])
    phone3 = StringField(_l("휴대폰 뒷자리"), validators=[Length(max=4)])
    ia = StringField(validators=[Optional(), Regexp(IA_PATTERN)])

    def mobile(self) -> str | None:
        return service.normalize_mobile(
            f"{self.phone1.data or ''}{self.phone2.data or ''}{self.phone3.data or ''}")


class EmailForm(FlaskForm):
    name = StringField(_l("이름"), validators=[
        DataRequired(_l("이름을 입력해 주세요.")), Length(max=50), PRINTABLE])
    email = StringField(_l("이메일"), validators=[
        DataRequired(_l("이메일 주소를 입력해 주세요.")), Length(max=254),
        Email(_l("이메일 주소를 정확히 입력해 주세요."), check_deliverability=False)])
    ia = StringField(validators=[Optional(), Regexp(IA_PATTERN)])


class CodeForm(FlaskForm):
    code = StringField(_l("인증번호"), validators=[Length(max=10)])


def _ia() -> str | None:
    """The pending sign-in's uid the pages pass along (a well-formed one only)."""
    value = request.values.get("ia", "")
    return value if re.fullmatch(IA_PATTERN, value) else None


def login_url(ia: str | None) -> str:
    """Back to the login page of `ia` while it still exists (this browser's), else home."""
    if ia and provider().interactions.get(ia, cookies().browser.read()) is not None:
        return url_for("web.login_page", uid=ia)
    return url_for("web.home")


def reset_url(ia: str | None) -> str:
    # The reset helper's page (blueprint `reset`), linked by path: it may not be merged yet.
    return "/reset-password" + (f"?ia={ia}" if ia else "")


def _limits() -> service.FindIdLimits:
    p = provider()
    return service.FindIdLimits(p.store, p.clock, **p.settings["find_id"])


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    ia = context.pop("ia", _ia())
    return Response(render_template(template, ia=ia, login_url=login_url(ia),
                                    reset_url=reset_url(ia), **context), status)


def _start_page(way: str, *, message: str | None = None, status: int = 200,
                mobile_form: MobileForm | None = None, email_form: EmailForm | None = None,
                ia: str | None = None) -> BaseResponse:
    ia = ia if ia is not None else _ia()
    return _page("find_id/start.html", status, way=way, message=message, ia=ia,
                 mobile_form=mobile_form or MobileForm(formdata=None, ia=ia),
                 email_form=email_form or EmailForm(formdata=None, ia=ia),
                 verified_next=url_for("find_id.verified", ia=ia))


def _sms_message(exc: SmsCodeRefused) -> str:
    return str(SMS_MESSAGES.get(exc.reason, SMS_MESSAGES["unavailable"])) % {
        "seconds": exc.retry_after, "minutes": max(1, (exc.retry_after + 59) // 60),
        "remaining": exc.remaining}


@bp.route("/find-id")
def start() -> BaseResponse:
    """아이디 찾기: choose 휴대폰, 간편인증 or 이메일."""
    way = request.args.get("way", "mobile")
    return _start_page(way if way in WAYS else "mobile")


@bp.route("/find-id/mobile", methods=["POST"])
def mobile_send() -> BaseResponse:
    """Name and mobile typed: send a code to that number (whoever it belongs to)."""
    form = MobileForm()
    if not form.validate_on_submit():
        return _start_page("mobile", mobile_form=form, status=400,
                           message=_first_error(form) or str(FLOW_GONE))
    mobile = form.mobile()
    if mobile is None:
        form.phone2.errors = [_("휴대폰 번호를 정확히 입력해 주세요.")]
        return _start_page("mobile", mobile_form=form, status=400,
                           message=form.phone2.errors[0])
    p, ip, ia = provider(), client_ip(), form.ia.data or None
    try:
        _limits().count(ip=ip, target=mobile)
    except service.FindIdThrottled:
        audit.record(db.session, "find_id.throttled", ip=ip, way="mobile")
        db.session.commit()
        return _start_page("mobile", mobile_form=form, status=429, message=str(THROTTLED))
    browser = browser_id()
    flow = p.flows.start(FIND_BY_MOBILE, {"name": form.name.data.strip(), "phone": mobile,
                                          "ia": ia}, browser=browser)
    try:
        SmsCodes.for_provider(p).send(purpose=PURPOSE, phone=mobile, browser=_bound(flow,
                                      browser), ip=ip, label="아이디 찾기")
    except SmsCodeRefused as exc:
        p.flows.discard(flow.id)
        db.session.commit()  # the counters stay counted
        return _start_page("mobile", mobile_form=form, status=429 if exc.reason != "unavailable"
                           else 503, message=_sms_message(exc))
    audit.record(db.session, "find_id.code_sent", ip=ip, way="mobile")
    db.session.commit()
    return redirect(url_for("find_id.mobile_code", fid=flow.id, ia=ia), 303)


def _bound(flow: Flow, browser: str) -> str:
    """What a code is bound to: this flow in this browser."""
    return f"{flow.id}:{browser}"


@bp.route("/find-id/mobile/<fid>", methods=["GET", "POST"])
def mobile_code(fid: str) -> BaseResponse:
    """인증번호 입력 (and 재전송); the right code shows the IDs found."""
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
                       ip=client_ip(), label="아이디 찾기")
        except SmsCodeRefused as exc:
            db.session.commit()
            return _code_page(flow, form, ia, message=_sms_message(exc), status=429)
        audit.record(db.session, "find_id.code_sent", ip=client_ip(), way="mobile",
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
            audit.record(db.session, "find_id.code_locked", ip=client_ip(), way="mobile")
            db.session.commit()
            return _start_page("mobile", message=message, status=429, ia=ia)
        db.session.commit()
        return _code_page(flow, form, ia, message=message, status=400, invalid=True)
    if p.flows.consume(FIND_BY_MOBILE, fid, browser=browser) is None:
        db.session.commit()  # a second tab typed the code at the same moment
        return _start_page("mobile", message=str(FLOW_GONE), status=400, ia=ia)
    found = service.find_by_mobile(db.session, name=flow.data["name"], mobile=phone)
    return _result(found, "mobile", ia)


def _code_page(flow: Flow, form: CodeForm, ia: str | None, *, info: str | None = None,
               message: str | None = None, status: int = 200,
               invalid: bool = False) -> BaseResponse:
    phone = flow.data["phone"]
    masked = f"{phone[:3]}-{phone[3:-4][:2]}{'*' * len(phone[3:-4][2:])}-{phone[-4:]}"
    return _page("find_id/code.html", status, flow=flow, form=form, ia=ia, info=info,
                 message=message, invalid=invalid, phone=masked,
                 minutes=SmsCodes.for_provider(provider()).settings.ttl // 60)


def _result(found: list[service.FoundId], way: str, ia: str | None) -> BaseResponse:
    for f in found:
        audit.record(db.session, "find_id.found", member_id=f.member_id, ip=client_ip(),
                     way=way)
    if not found:
        audit.record(db.session, "find_id.not_found", ip=client_ip(), way=way)
    db.session.commit()
    return _page("find_id/result.html", found=found, ia=ia, way=way)


@bp.route("/find-id/verified")
def verified() -> BaseResponse:
    """Back from 간편인증: the CI finds the member."""
    ia = _ia()
    try:
        _limits().count(ip=client_ip())
    except service.FindIdThrottled:
        db.session.commit()
        return _start_page("simple", message=str(THROTTLED), status=429)
    try:
        identity = take_verification(PURPOSE)
    except VerificationError as exc:
        db.session.commit()
        return _start_page("simple", message=refusal_message(exc.reason), status=400)
    found = service.find_by_ci(db.session, provider().personal_data, identity.ci)
    return _result(found, "simple", ia)


@bp.route("/find-id/email", methods=["POST"])
def email_send() -> BaseResponse:
    """Name and email typed: the result goes to that address, if it is a member's."""
    form = EmailForm()
    if not form.validate_on_submit():
        return _start_page("email", email_form=form, status=400,
                           message=_first_error(form) or str(FLOW_GONE))
    ip, ia, address = client_ip(), form.ia.data or None, form.email.data.strip()
    try:
        _limits().count(ip=ip, target=address)
    except service.FindIdThrottled:
        audit.record(db.session, "find_id.throttled", ip=ip, way="email")
        db.session.commit()
        return _start_page("email", email_form=form, status=429, message=str(THROTTLED))
    name = form.name.data.strip()
    found = service.find_by_email(db.session, name=name, email=address)
    mail = provider().mail
    if found:
        # Queued, not sent: the page must take as long for a member's address as for any
        # other (idp/services/mail_outbox.py); a failure reaches the audit trail from there.
        subject, text = service.result_email(found, name=name)
        mail.enqueue(db.session, purpose="find_id", to=address, subject=subject, text=text)
        for f in found:
            audit.record(db.session, "find_id.found", member_id=f.member_id, ip=ip,
                         way="email")
    else:
        audit.record(db.session, "find_id.not_found", ip=ip, way="email")
    db.session.commit()
    if found:
        mail.wake()
    return _page("find_id/email_sent.html", ia=ia, address=address)


def _first_error(form: FlaskForm) -> str | None:
    for field in form:
        if field.errors:
            return str(field.errors[0])
    return None
