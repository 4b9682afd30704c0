"""The emulated vendor popups of identity verification (development and testing only).

Registered only when IDP_ENV is development or testing (and each view answers 404 in any
other environment, should it be registered by mistake). They stand in for the vendors'
windows, with their UX (issue 6; the manual's 본인확인 screens):

    GET  /dev/verify/start?req=&sig=     the signed request of EmulatorIdentityVerifier.begin
    GET|POST /dev/verify/<fid>           휴대폰: 통신사, 이름, 생년월일·성별, 휴대폰번호, 동의
                                         → a 6-digit code "sent" by SMS (the development
                                         outbox), 3-minute countdown, 재전송, 5 wrong codes
                                         end the transaction (failed);
                                         간편인증: the app, 이름, 생년월일, 휴대폰번호 →
                                         "approve in the app" → 인증 완료;
                                         신용카드: 카드사, 카드번호, 이름, 생년월일·성별, 휴대폰
    POST /dev/verify/<fid>/cancel        취소 → the caller with reason "cancelled"

Every ending sends the browser with a signed result to the caller's callback
(/verify/callback/<rid>), where EmulatorIdentityVerifier.finish checks it like a vendor's
answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from idp.adapters.identity_emulator import sign, unsign
from idp.cookies import browser_id, cookies
from idp.extensions import db
from idp.oidc.server import provider
from idp.services.flows import Flow, FlowKind
from idp.services.ports import MessageNotSent

Page = BaseResponse | str | tuple[str, int]

bp = Blueprint("idv_emulator", __name__, url_prefix="/dev/verify")

EMULATION = FlowKind("idv-emulator", ttl=900)
CODE_SECONDS = 180  # the vendors' 3 minutes
MAX_WRONG_CODES = 5
MAX_SENDS = 5
ENVIRONMENTS = ("development", "testing")

CARRIERS = [("SKT", "SKT"), ("KT", "KT"), ("LGU", "LG U+"), ("MVNO", _l("알뜰폰"))]
APPS = [("kakao", _l("카카오톡")), ("naver", _l("네이버")), ("pass", "PASS"),
        ("toss", _l("토스")), ("samsung", _l("삼성패스")), ("kb", _l("KB국민인증서")),
        ("shinhan", _l("신한인증서")), ("payco", _l("페이코"))]
CARDS = [("shinhan", _l("신한카드")), ("kb", _l("KB국민카드")), ("samsung", _l("삼성카드")),
         ("hyundai", _l("현대카드")), ("lotte", _l("롯데카드")), ("bc", _l("BC카드")),
         ("hana", _l("하나카드")), ("woori", _l("우리카드")), ("nh", _l("NH농협카드"))]
TITLES = {"mobile": _l("휴대폰 본인확인"), "simple": _l("간편인증"),
          "card": _l("신용카드 본인확인")}

NAME = re.compile(r"[가-힣A-Za-z][가-힣A-Za-z .]{0,29}")
MOBILE = re.compile(r"01[016789]\d{7,8}")
CARD_NUMBER = re.compile(r"\d{15,16}")


@bp.before_request
def _only_in_development() -> None:
    if provider().settings.get("env") not in ENVIRONMENTS:
        abort(404)


@bp.get("/start")
def start() -> Page:
    """The vendor's entry: check the signed request and open the popup's first screen."""
    req = unsign(request.args.get("req", ""), request.args.get("sig", ""),
                 provider().settings["secret_key"])
    if req is None or req.get("method") not in TITLES:
        abort(400)
    flow = provider().flows.start(EMULATION, {
        "rid": req["rid"], "method": req["method"], "tx": req["tx"],
        "callback": req["callback"], "step": "form", "person": None, "code": None,
        "sent_at": None, "sends": 0, "wrong": 0,
    }, browser=browser_id())
    db.session.commit()
    return redirect(url_for(".page", fid=flow.id), 303)


def _flow(fid: str) -> Flow:
    flow = provider().flows.get(EMULATION, fid, browser=cookies().browser.read())
    if flow is None:
        abort(404)
    return flow


@bp.route("/<fid>", methods=["GET", "POST"])
def page(fid: str) -> Page:
    """The popup: the form of the method, then the SMS code or the app approval."""
    flow = _flow(fid)
    d = flow.data
    if request.method == "GET":
        return _render(flow)
    action = request.form.get("action", "")
    if d["step"] == "form":
        person, errors = _person(d["method"], request.form)
        if errors:
            return _render(flow, errors=errors, status=400)
        if d["method"] == "card":
            return _deliver(flow, "ok", person)
        d = {**d, "person": person}
        if d["method"] == "mobile":
            return _send_code(flow, d)
        provider().flows.update(flow, {**d, "step": "app",
                                       "sent_at": provider().clock.now()})
        db.session.commit()
        return redirect(url_for(".page", fid=flow.id), 303)
    if d["step"] == "code":
        if action == "resend":
            return _send_code(flow, d)
        return _check_code(flow, d, request.form.get("code", "").strip())
    if d["step"] == "app" and action == "approve":
        if provider().clock.now() - float(d["sent_at"]) > CODE_SECONDS:
            return _deliver(flow, "failed", None)
        return _deliver(flow, "ok", d["person"])
    return _render(flow, status=400)


@bp.post("/<fid>/cancel")
def cancel(fid: str) -> Page:
    """취소: back to the caller with the reason 'cancelled'."""
    return _deliver(_flow(fid), "cancelled", None)


def _person(method: str, form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    name = form.get("name", "").strip()
    if not NAME.fullmatch(name):
        errors["name"] = str(_l("이름을 정확히 입력해 주세요."))
    birth = form.get("birthdate", "").strip()
    try:
        birthdate = dt.datetime.strptime(birth, "%Y%m%d").date()
        if not dt.date(1900, 1, 1) <= birthdate <= dt.date.today():
            raise ValueError(birth)
    except ValueError:
        birthdate = None
        errors["birthdate"] = str(_l("생년월일 8자리를 입력해 주세요. (예: 19850301)"))
    gender = form.get("gender")
    if method != "simple" and gender not in ("M", "F"):
        errors["gender"] = str(_l("성별을 선택해 주세요."))
    mobile = re.sub(r"\D", "", form.get("mobile", ""))
    if not MOBILE.fullmatch(mobile):
        errors["mobile"] = str(_l("휴대폰번호를 정확히 입력해 주세요."))
    carrier = form.get("carrier")
    if method == "mobile" and carrier not in dict(CARRIERS):
        errors["carrier"] = str(_l("통신사를 선택해 주세요."))
    if method == "simple" and form.get("app") not in dict(APPS):
        errors["app"] = str(_l("인증할 앱을 선택해 주세요."))
    if method == "card":
        if form.get("card") not in dict(CARDS):
            errors["card"] = str(_l("카드사를 선택해 주세요."))
        if not CARD_NUMBER.fullmatch(re.sub(r"\D", "", form.get("card_number", ""))):
            errors["card_number"] = str(_l("카드번호를 정확히 입력해 주세요."))
    if form.get("agree") != "y":
        errors["agree"] = str(_l("본인확인 서비스 이용에 동의해 주세요."))
    person = {"name": name, "birthdate": birthdate.isoformat() if birthdate else None,
              "gender": gender if method != "simple" else None, "mobile": mobile,
              "carrier": carrier if method == "mobile" else None,
              "nationality": "foreign" if form.get("foreign") == "y" else "domestic",
              "corporate": form.get("corporate") == "y", "app": form.get("app")}
    return person, errors


def _hash(code: str, flow: Flow) -> str:
    return hashlib.sha256(f"{flow.id}|{code}".encode()).hexdigest()


def _send_code(flow: Flow, d: dict[str, Any]) -> Page:
    if d["sends"] >= MAX_SENDS:
        return _render(flow, message=_l("인증번호 재전송 횟수를 초과하였습니다. 처음부터 다시 "
                                         "시도해 주세요."), status=429)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    try:
        provider().notify.sms(to=d["person"]["mobile"], text=str(_l(
            "[KOTRA 본인확인(에뮬레이터)] 인증번호 [%(code)s]를 입력해 주세요.", code=code)))
    except MessageNotSent:
        return _render(flow, message=_l("인증번호를 보내지 못했습니다. 잠시 후 다시 시도해 "
                                        "주세요."), status=503)
    d = {**d, "step": "code", "code": _hash(code, flow), "sent_at": provider().clock.now(),
         "sends": d["sends"] + 1, "wrong": 0}
    provider().flows.update(flow, d)
    db.session.commit()
    return redirect(url_for(".page", fid=flow.id, sent=1), 303)


def _check_code(flow: Flow, d: dict[str, Any], code: str) -> Page:
    if provider().clock.now() - float(d["sent_at"]) > CODE_SECONDS:
        return _render(flow, message=_l("인증시간이 초과되었습니다. [재전송]을 눌러 새 인증번호를 "
                                        "받아 주세요."), status=400)
    if not re.fullmatch(r"\d{6}", code) or not secrets.compare_digest(_hash(code, flow),
                                                                      d["code"]):
        wrong = d["wrong"] + 1
        if wrong >= MAX_WRONG_CODES:
            return _deliver(flow, "failed", None)
        provider().flows.update(flow, {**d, "wrong": wrong})
        db.session.commit()
        return _render(flow, message=_l(
            "인증번호가 일치하지 않습니다. 다시 입력해 주세요. (%(wrong)d/%(limit)d회 오류)",
            wrong=wrong, limit=MAX_WRONG_CODES), status=400)
    return _deliver(flow, "ok", d["person"])


def _deliver(flow: Flow, outcome: str, person: dict[str, Any] | None) -> Page:
    """End the popup: post the signed result to the caller's callback (like a vendor)."""
    d = flow.data
    if provider().flows.consume(EMULATION, flow.id, browser=cookies().browser.read()) is None:
        abort(404)
    db.session.commit()
    payload: dict[str, Any] = {"rid": d["rid"], "method": d["method"], "tx": d["tx"],
                               "outcome": outcome}
    if person is not None:
        payload["person"] = {k: v for k, v in person.items() if k != "app"}
    data, sig = sign(payload, provider().settings["secret_key"])
    # A GET navigation, not a form: the callback's redirects may end at a relying party
    # (간편인증 login), and Chromium applies this page's CSP form-action to the redirects of a
    # form submission.
    url = f"{d['callback']}?{urlencode({'result': data, 'sig': sig})}"
    return render_template("verify/continue.html", url=url)


def _render(flow: Flow, *, errors: dict[str, str] | None = None, message: Any = None,
            status: int = 200) -> Page:
    d = flow.data
    remaining = 0
    if d["sent_at"] is not None:
        remaining = max(0, int(CODE_SECONDS - (provider().clock.now() - float(d["sent_at"]))))
    html = render_template(
        "verify/emulator.html", flow=flow, d=d, title=TITLES[d["method"]],
        errors=errors or {}, message=message, form=request.form, remaining=remaining,
        carriers=CARRIERS, apps=APPS, cards=CARDS, max_wrong=MAX_WRONG_CODES,
        sent=request.args.get("sent") == "1",
    )
    return html, status
