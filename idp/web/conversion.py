"""일반회원 전환: a simple (SNS) member becomes a general member (issue 9; manual ch. 02).

    GET  /my/convert                        who may convert, and 전환 시작 (signed in: SSO)
    POST /my/convert                        starts a flow (idp/services/conversion.py)
    GET|POST /my/convert/<fid>/terms        약관동의: only the documents still missing
    GET  /my/convert/<fid>/verify           실명인증 (verify_buttons, purpose "conversion")
    GET  /my/convert/<fid>/verified?vr=<id> ...the vendor round trip comes back here
    GET|POST /my/convert/<fid>/info         회원정보 입력: ID, password (안전도), email
    GET  /my/convert/<fid>/check-id         ID availability (JSON, throttled per IP)
    GET|POST /my/convert/<fid>/done         전환완료; 로그인 resumes a pending relying party

Two ways in: from MY KOTRA (a signed-in simple member; every step checks the SSO session is
still that member's) and from the SNS sign-up's done page (idp/web/sns.signup_done: the
sign-up just proved the member in this browser; the flow carries the pending sign-in `ia`).
The steps are the general sign-up's (idp/web/signup.py): the same services, messages and
step indicator.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.errors import AlreadyExists, InvalidInput
from idp.extensions import db
from idp.models import Member, MemberType
from idp.oidc.server import client_ip, provider
from idp.services import conversion as service
from idp.services import signup as general
from idp.services.flows import Flow
from idp.services.login import PASSWORD
from idp.services.members import SignedIn
from idp.services.terms import current_documents
from idp.services.throttle import ip_bucket
from idp.web.interaction import current_interaction, current_session, finish_login
from idp.web.signup import FIND_ID, field_message
from idp.web.terms import marketing_answers, terms_answers
from idp.web.verification import VerificationError, refusal_message, take_verification

bp = Blueprint("conversion", __name__, url_prefix="/my/convert")

STEP_ENDPOINTS = {general.TERMS: "conversion.terms", general.VERIFY: "conversion.verify",
                  general.INFO: "conversion.info"}


class ConversionForm(FlaskForm):
    """CSRF only: each page reads its few fields itself."""


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


def _browser() -> str | None:
    return cookies().browser.read()


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    return Response(render_template(template, **context), status)


def _gone() -> BaseResponse:
    return _page("convert/gone.html", 400, form=ConversionForm())


def _signed_in_member() -> Member | None:
    sess = current_session()
    if sess is None:
        return None
    member = db.session.get(Member, sess.member_id)
    return member if member is not None and member.is_active else None


def _load(fid: str) -> Flow | None:
    """The flow, for this browser and (started from MY KOTRA) the member still signed in."""
    try:
        flow = service.load(provider().flows, fid, _browser())
    except service.ConversionGone:
        return None
    if flow.data["via"] == "sso":
        member = _signed_in_member()
        if member is None or member.id != flow.data["member_id"]:
            return None
    return flow


def _to_step(flow_id: str, step: str, **args: str) -> BaseResponse:
    return redirect(url_for(STEP_ENDPOINTS[step], fid=flow_id, **args), 303)  # type: ignore[arg-type]


def _not_simple(member: Member | None) -> BaseResponse:
    return _page("convert/not_simple.html", 409, form=ConversionForm(), member=member)


@bp.route("", methods=["GET", "POST"])
def start() -> BaseResponse:
    """일반회원 전환: what it gives, and 전환 시작 for a signed-in simple member."""
    member = _signed_in_member()
    if member is None:
        return redirect(url_for("my.login", next=url_for("conversion.start")), 303)
    if member.member_type != MemberType.SIMPLE:
        return _not_simple(member)
    form = ConversionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _gone()
        try:
            flow = service.begin(db.session, provider().flows, member_id=member.id,
                                 browser=browser_id(), ia=None, via="sso", now=_now())
        except service.NotSimpleMember:
            return _not_simple(member)
        db.session.commit()
        return _to_step(flow.id, flow.data["step"])
    return _page("convert/start.html", form=form, member=member)


def begin_after_sns_signup(member_id: int, ia_uid: str) -> BaseResponse:
    """The SNS sign-up's done page chose 일반회원 전환 (idp/web/sns.signup_done)."""
    try:
        flow = service.begin(db.session, provider().flows, member_id=member_id,
                             browser=browser_id(), ia=ia_uid, via="sns_signup", now=_now())
    except service.NotSimpleMember:
        db.session.commit()
        return _not_simple(db.session.get(Member, member_id))
    db.session.commit()
    return _to_step(flow.id, flow.data["step"])


@bp.route("/<fid>/terms", methods=["GET", "POST"])
def terms(fid: str) -> BaseResponse:
    """약관동의: only the required documents the member has not agreed to (and the optional
    ones), as the general sign-up shows them."""
    flow = _load(fid)
    form = ConversionForm()
    if flow is None or (request.method == "POST" and not form.validate_on_submit()):
        return _gone()
    needed = set(flow.data["terms_needed"])
    documents = [d for d in current_documents(db.session) if d.kind in needed or not d.required]
    message = None
    invalid: list[str] = []
    checked = [k for k, v in {**flow.data["agreed"], **flow.data["marketing"]}.items() if v]
    if request.method == "POST":
        agreed = terms_answers(request.form, documents)
        marketing = marketing_answers(request.form)
        try:
            service.agree_terms(db.session, provider().flows, flow, agreed, marketing)
        except InvalidInput:
            invalid = [d.kind for d in documents if d.required and not agreed.get(d.kind)]
            checked = [k for k, v in {**agreed, **marketing}.items() if v]
            message = _("필수 약관에 모두 동의해 주세요.")
        else:
            db.session.commit()
            return _to_step(fid, general.VERIFY)
    elif request.args.get("changed"):
        message = _("약관이 개정되었습니다. 개정된 약관을 확인하고 다시 동의해 주세요.")
    return _page("convert/terms.html", 400 if message and request.method == "POST" else 200,
                 form=form, flow=flow, step=1, documents=documents, message=message,
                 invalid=invalid, checked=checked)


@bp.get("/<fid>/verify")
def verify(fid: str) -> BaseResponse:
    """실명인증: the three methods (간편인증, 휴대전화, 신용카드)."""
    flow = _load(fid)
    if flow is None:
        return _gone()
    if not general.reached(flow, general.VERIFY):
        return _to_step(fid, general.TERMS)
    return _page("convert/verify.html", form=ConversionForm(), flow=flow, step=2,
                 message=None)


@bp.get("/<fid>/verified")
def verified(fid: str) -> BaseResponse:
    """The vendor round trip ends here: keep the identity, or say why not."""
    flow = _load(fid)
    if flow is None:
        return _gone()
    if not general.reached(flow, general.VERIFY):
        return _to_step(fid, general.TERMS)
    p = provider()
    try:
        identity = take_verification("conversion")
        general.verified(db.session, p.flows, p.personal_data, flow, identity)
    except VerificationError as exc:
        db.session.commit()
        return _page("convert/verify.html", 400, form=ConversionForm(), flow=flow, step=2,
                     message=refusal_message(exc.reason))
    except general.AlreadyMember:
        db.session.commit()
        return _already(flow.data.get("ia"))
    db.session.commit()
    return _to_step(fid, general.INFO)


def _already(ia: str | None) -> BaseResponse:
    find_id = FIND_ID + (f"?ia={ia}" if ia else "")
    return _page("convert/already.html", 409, form=ConversionForm(), find_id=find_id, ia=ia)


def _form_text(name: str, limit: int = 400) -> str:
    return request.form.get(name, "")[:limit]


@bp.route("/<fid>/info", methods=["GET", "POST"])
def info(fid: str) -> BaseResponse:
    """회원정보 입력: ID, password (안전도), email (prefilled); 전환하기 converts."""
    flow = _load(fid)
    form = ConversionForm()
    if flow is None:
        return _after_gone(fid)
    if request.method == "POST" and not form.validate_on_submit():
        return _gone()
    p = provider()
    identity = general.identity_of(p.personal_data, flow)
    if identity is None:
        return _to_step(fid, general.VERIFY if general.reached(flow, general.VERIFY)
                        else general.TERMS)
    field = message = None
    values: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {k: _form_text(k) for k in ("login_id", "email")}
        try:
            general.save_basic(db.session, p.flows, flow, p.passwords, p.policy,
                               p.personal_data, login_id=values["login_id"],
                               password=_form_text("password", 128),
                               confirm=_form_text("confirm", 128), email=values["email"])
        except AlreadyExists:
            field, message = "login_id", field_message("login_id", "taken")
        except InvalidInput as exc:
            field, message = exc.field, field_message(exc.field, exc.message)
        except general.StepMissing as exc:
            return _to_step(fid, exc.step)
        else:
            db.session.commit()
            return _complete(flow)
        status = 400
    elif request.args.get("taken"):
        field, message = "login_id", field_message("login_id", "taken")
    saved = flow.data.get("info") or {}
    for key, value in saved.items():
        if key != "password_hash" and key not in values:
            values[key] = value or ""
    return _page("convert/info.html", status, form=form, flow=flow, step=3,
                 identity=identity, mobile=general.format_mobile(identity.mobile),
                 values=values, field=field, message=message, policy=p.policy,
                 password_saved=bool(saved.get("password_hash")))


@bp.get("/<fid>/check-id")
def check_id(fid: str) -> BaseResponse:
    """중복확인, as the sign-up's (the same throttle per IP)."""
    p = provider()
    flow = _load(fid)
    if flow is None or not general.reached(flow, general.INFO):
        return _json({"status": "expired", "message": _(
            "일반회원 전환 시간이 지났습니다. 처음부터 다시 진행해 주세요.")}, 404)
    settings = p.settings["signup"]
    window = int(settings["id_check_window"])
    period = int(p.clock.now() // window)
    count = p.store.incr(f"signup-idcheck:{ip_bucket(client_ip() or '')}:{period}", window)
    db.session.commit()
    if count > int(settings["id_check_limit"]):
        resp = _json({"status": "throttled", "message": _("잠시 후 다시 확인해 주세요.")}, 429)
        resp.headers["Retry-After"] = str(window)
        return resp
    status = general.login_id_status(db.session, p.policy,
                                     request.args.get("login_id", "")[:40].strip())
    message = {
        "available": _("사용할 수 있는 아이디입니다."),
        "taken": field_message("login_id", "taken"),
        "invalid": field_message("login_id", "invalid"),
    }[status]
    return _json({"status": status, "message": message}, 200)


def _json(body: dict[str, str], status: int) -> BaseResponse:
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _after_gone(fid: str) -> BaseResponse:
    """The flow is gone: a double submit whose other request converted shows its result."""
    if service.result_of(provider().store, fid, browser=_browser()) is not None:
        return redirect(url_for("conversion.done", fid=fid), 303)
    return _gone()


def _complete(flow: Flow) -> BaseResponse:
    p = provider()
    try:
        service.complete(db.session, p.flows, p.store, p.personal_data, flow.id,
                         browser=_browser() or "", now=_now(), ip=client_ip())
        db.session.commit()
    except service.ConversionGone:
        db.session.rollback()
        return _after_gone(flow.id)
    except service.NotSimpleMember:
        db.session.commit()  # (the consumed flow stays consumed)
        return _not_simple(db.session.get(Member, flow.data["member_id"]))
    except general.StepMissing as exc:
        db.session.rollback()
        return _to_step(flow.id, exc.step)
    except general.TermsChanged:
        db.session.rollback()
        _renew_terms(flow)
        return _to_step(flow.id, general.TERMS, changed="1")
    except general.AlreadyMember:
        db.session.commit()
        return _already(flow.data.get("ia"))
    except general.LoginIdTaken as exc:
        db.session.commit()
        return _to_step(exc.flow_id, general.INFO, taken="1")
    return redirect(url_for("conversion.done", fid=flow.id), 303)


def _renew_terms(flow: Flow) -> None:
    """The documents changed under the flow: ask for the ones now missing."""
    p = provider()
    needed = service.needed_terms(db.session, flow.data["member_id"], now=_now())
    # (The step stays: identity and answers are kept; `complete` waits for terms_done.)
    p.flows.update(flow, {**flow.data, "terms_needed": needed, "terms_done": False,
                          "versions": {}, "agreed": {}})
    db.session.commit()


@bp.route("/<fid>/done", methods=["GET", "POST"])
def done(fid: str) -> BaseResponse:
    """전환완료; 로그인 signs in to the pending relying party (from the SNS sign-up) or goes
    to MY KOTRA."""
    form = ConversionForm()
    p = provider()
    result = service.result_of(p.store, fid, browser=_browser())
    if result is None:
        if request.method == "POST":
            return redirect(url_for("my.home"), 303)  # the other of a double click went on
        return _gone()
    ia = current_interaction(result.ia) if result.ia else None
    if request.method == "POST":
        if not form.validate_on_submit():
            return _gone()
        service.forget_result(p.store, fid)
        if ia is None:
            db.session.commit()
            return redirect(url_for("my.home"), 303)
        # The password was just set and the identity verified: a password-level login.
        return finish_login(ia, SignedIn(result.member_id, result.login_id),
                            acr=PASSWORD.acr, amr=list(PASSWORD.amr))
    if ia is not None:
        g.form_target = ia.params.get("redirect_uri")
    return _page("convert/done.html", form=form, fid=fid, step=4, result=result,
                 resumes=ia is not None)
