"""회원가입: the hub and the general-member sign-up wizard (SPEC §3.1, §3.3; manual ch. 02).

    GET  /signup?ia=<uid>                  the hub: 일반회원 가입, 기업정보 등록, 간편회원
    POST /signup/general                   starts a flow (idp/services/signup.py)
    GET|POST /signup/<fid>/terms           STEP1 약관동의
    GET  /signup/<fid>/verify              STEP2 실명인증 (verify_buttons)
    GET  /signup/<fid>/verified?vr=<id>    ...the vendor round trip comes back here
    GET|POST /signup/<fid>/info?tab=...    STEP3 회원정보 입력: basic, optional, interests, company
    GET  /signup/<fid>/company/certified?cr=  the 소속기업 tab's certificate comes back here
    GET  /signup/<fid>/check-id?login_id=  ID availability (JSON, throttled per IP)
    POST /signup/<fid>/complete            creates the member (once)
    GET|POST /signup/<fid>/done            STEP4 가입완료; 로그인 resumes the relying party

Views are thin: each parses, calls the service and maps its errors to the manual's messages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from jinja2 import TemplateNotFound
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.errors import AlreadyExists, InvalidInput
from idp.extensions import db
from idp.oidc.server import client_ip, provider
from idp.services import signup as service
from idp.services.certificates import CertificateError
from idp.services.flows import Flow
from idp.services.interests import (
    FIELD_COUNTRY,
    FIELD_HS,
    InterestsRefused,
    parse_picker_form,
)
from idp.services.interests import describe as describe_interests
from idp.services.login import PASSWORD
from idp.services.members import SignedIn
from idp.services.passwords import COMMON_PASSWORD, WEAK_PASSWORD
from idp.services.ports import VerifiedIdentity
from idp.services.terms import current_documents
from idp.services.throttle import ip_bucket
from idp.web import affiliation as aff
from idp.web.certificate import certificate_message, take_certificate
from idp.web.interaction import current_interaction, finish_login
from idp.web.interests import refusal_message as interests_refusal
from idp.web.terms import marketing_answers, terms_answers
from idp.web.verification import VerificationError, refusal_message, take_verification

bp = Blueprint("signup", __name__)

INTERESTS_PICKER = "interests/_picker.html"  # the interests picker (idp/web/interests.py)
MY_KOTRA = "/my"  # MY KOTRA (the my helper's blueprint; linked by path)
FIND_ID = "/find-id"  # 아이디 찾기 (the msg helper's blueprint; linked by path)


class SignupForm(FlaskForm):
    """CSRF only: each page reads its few fields itself."""


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


def _browser() -> str | None:
    return cookies().browser.read()


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    return Response(render_template(template, **context), status)


def _gone() -> BaseResponse:
    return _page("signup/gone.html", 400, form=SignupForm())


def _pending_ia(uid: str | None) -> str | None:
    """`uid` when it is a sign-in still pending in this browser."""
    if not uid or len(uid) > 100:
        return None
    return uid if current_interaction(uid) is not None else None


def _load(fid: str) -> Flow | None:
    try:
        return service.load(provider().flows, fid, _browser())
    except service.SignupGone:
        return None


STEP_ENDPOINTS = {service.TERMS: "signup.terms", service.VERIFY: "signup.verify",
                  service.INFO: "signup.info"}


def _to_step(flow_id: str, step: str, **args: str) -> BaseResponse:
    return redirect(url_for(STEP_ENDPOINTS[step], fid=flow_id, **args), 303)  # type: ignore[arg-type]


def _csrf_ok(form: FlaskForm) -> bool:
    return request.method != "POST" or form.validate_on_submit()


@bp.route("/signup")
def hub() -> BaseResponse:
    """회원가입: the manual's three choices."""
    ia = _pending_ia(request.args.get("ia"))
    return _page("signup/hub.html", form=SignupForm(), ia=ia)


@bp.post("/signup/general")
def general() -> BaseResponse:
    """일반회원 가입: a new sign-up flow for this browser."""
    form = SignupForm()
    if not form.validate_on_submit():
        return _gone()
    flow = service.begin(provider().flows, browser=browser_id(),
                         ia=_pending_ia(request.form.get("ia")))
    db.session.commit()
    return _to_step(flow.id, service.TERMS)


@bp.route("/signup/<fid>/terms", methods=["GET", "POST"])
def terms(fid: str) -> BaseResponse:
    """STEP1 약관동의: the current documents, all-agree, marketing per channel."""
    flow = _load(fid)
    form = SignupForm()
    if flow is None or not _csrf_ok(form):
        return _gone()
    documents = current_documents(db.session)
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
            return _to_step(fid, service.VERIFY)
    elif request.args.get("changed"):
        message = _("약관이 개정되었습니다. 개정된 약관을 확인하고 다시 동의해 주세요.")
    return _page("signup/terms.html", 400 if message and request.method == "POST" else 200,
                 form=form, flow=flow, step=1, documents=documents, message=message,
                 invalid=invalid, checked=checked)


@bp.get("/signup/<fid>/verify")
def verify(fid: str) -> BaseResponse:
    """STEP2 실명인증: the three methods (간편인증, 휴대전화, 신용카드)."""
    flow = _load(fid)
    if flow is None:
        return _gone()
    if not service.reached(flow, service.VERIFY):
        return _to_step(fid, service.TERMS)
    return _page("signup/verify.html", form=SignupForm(), flow=flow, step=2, message=None)


@bp.get("/signup/<fid>/verified")
def verified(fid: str) -> BaseResponse:
    """The vendor round trip ends here: keep the identity, or say why not."""
    flow = _load(fid)
    if flow is None:
        return _gone()
    if not service.reached(flow, service.VERIFY):
        return _to_step(fid, service.TERMS)
    p = provider()
    try:
        identity = take_verification("signup")
        service.verified(db.session, p.flows, p.personal_data, flow, identity)
    except VerificationError as exc:
        db.session.commit()
        return _page("signup/verify.html", 400, form=SignupForm(), flow=flow, step=2,
                     message=refusal_message(exc.reason))
    except service.AlreadyMember:
        db.session.commit()
        return _already(flow.data.get("ia"))
    db.session.commit()
    return _to_step(fid, service.INFO)


def _already(ia: str | None) -> BaseResponse:
    find_id = FIND_ID + (f"?ia={ia}" if ia else "")
    return _page("signup/already.html", 409, form=SignupForm(), find_id=find_id, ia=ia)


def field_message(field: str, reason: str) -> str:
    policy = provider().policy
    if field == "login_id":
        if reason == "taken":
            return _("이미 사용 중인 아이디입니다. 다른 아이디를 입력해 주세요.")
        return _("아이디는 영문과 숫자를 섞어 %(min)d~%(max)d자로 입력해 주세요.",
                 min=policy.login_id_min, max=policy.login_id_max)
    if field == "confirm":
        return _("비밀번호가 일치하지 않습니다. 다시 입력해 주세요.")
    if field == "password":
        if reason == COMMON_PASSWORD:
            return _("널리 쓰이는 비밀번호는 사용할 수 없습니다. 다른 비밀번호를 입력해 주세요.")
        if reason == WEAK_PASSWORD:
            return _("비밀번호 안전도가 낮습니다. "
                     "더 길고 추측하기 어려운 비밀번호를 입력해 주세요.")
        if reason == "again":
            return _("아이디를 바꾸셨습니다. 비밀번호를 다시 입력해 주세요.")
        if reason.startswith("must not contain"):
            return _("비밀번호에 아이디나 이름을 넣을 수 없습니다.")
        return _("비밀번호는 영문, 숫자, 특수문자를 모두 포함해 %(min)d~%(max)d자로 입력해 주세요.",
                 min=policy.password_min, max=policy.password_max)
    if field == "email":
        if reason == "required":
            return _("이메일을 입력해 주세요.")
        return _("이메일 주소를 올바르게 입력해 주세요.")
    if reason == "too_long":
        return _("입력한 내용이 너무 깁니다. 줄여서 입력해 주세요.")
    if field == "name_en":
        return _("영문 이름은 영문자로 입력해 주세요.")
    if field == "fax":
        return _("팩스 번호를 올바르게 입력해 주세요. (예: 02-1234-5678)")
    if field == "address_en":
        return _("영문 주소는 영문으로 입력해 주세요.")
    return _("입력할 수 없는 문자가 있습니다.")


def _has_interests_picker() -> bool:
    try:
        current_app.jinja_env.get_template(INTERESTS_PICKER)
    except TemplateNotFound:
        return False
    return True


def _form_text(name: str, limit: int = 400) -> str:
    return request.form.get(name, "")[:limit]


@bp.route("/signup/<fid>/info", methods=["GET", "POST"])
def info(fid: str) -> BaseResponse:
    """STEP3 회원정보 입력, in the manual's tabs; 다음 saves the tab and opens the next."""
    flow = _load(fid)
    form = SignupForm()
    if flow is None:
        return _after_gone(fid)  # (a double submit, or back after the end: its result)
    if not _csrf_ok(form):
        return _gone()
    p = provider()
    identity = service.identity_of(p.personal_data, flow)
    if identity is None:
        return _to_step(fid, service.VERIFY if service.reached(flow, service.VERIFY)
                        else service.TERMS)
    tab = request.args.get("tab", "basic")
    if tab not in service.TABS:
        tab = "basic"
    if tab == "company":
        return _company_tab(flow, form, identity)
    field = message = None
    values: dict[str, str] = {}
    posted_hs: list[str] = []
    posted_countries: list[str] = []
    picked = None
    status = 200
    if request.method == "POST":
        values = {k: _form_text(k) for k in ("login_id", "email", "name_en", "fax",
                                            "department", "position", "address_en")}
        try:
            if tab == "basic":
                service.save_basic(db.session, p.flows, flow, p.passwords, p.policy,
                                   p.personal_data, login_id=values["login_id"],
                                   password=_form_text("password", 128),
                                   confirm=_form_text("confirm", 128), email=values["email"])
            elif tab == "optional":
                service.save_optional(p.flows, flow, name_en=values["name_en"],
                                      fax=values["fax"], department=values["department"],
                                      position=values["position"],
                                      address_en=values["address_en"])
            elif tab == "interests":
                posted_hs, posted_countries = parse_picker_form(request.form)
                service.save_interests_tab(db.session, p.flows, flow, posted_hs,
                                           posted_countries)
            else:
                service.mark_tab(p.flows, flow, tab)
        except InterestsRefused as exc:
            field, message = exc.field, interests_refusal(exc)
        except AlreadyExists:
            field, message = "login_id", field_message("login_id", "taken")
        except InvalidInput as exc:
            field, message = exc.field, field_message(exc.field, exc.message)
        except service.StepMissing as exc:
            return _to_step(fid, exc.step)
        else:
            db.session.commit()
            if request.form.get("decision") == "complete":
                return _complete(flow)
            if request.form.get("decision") == "back":
                prev = service.TABS[max(0, service.TABS.index(tab) - 1)]
                return _to_step(fid, service.INFO, tab=prev)
            nxt = service.TABS[min(len(service.TABS) - 1, service.TABS.index(tab) + 1)]
            return _to_step(fid, service.INFO, tab=nxt)
        status = 400
    elif request.args.get("taken"):
        field, message = "login_id", field_message("login_id", "taken")
    if tab == "interests":
        chosen = (posted_hs, posted_countries) if status == 400 and field in (
            FIELD_HS, FIELD_COUNTRY) else service.chosen_interests(flow)
        picked = describe_interests(db.session, *chosen)
    saved = flow.data.get("info") or {}
    for key, value in saved.items():
        if key != "password_hash" and key not in values:
            values[key] = value or ""
    return _page("signup/info.html", status, form=form, flow=flow, step=3, tab=tab,
                 identity=identity, mobile=service.format_mobile(identity.mobile),
                 values=values, field=field, message=message, policy=p.policy,
                 password_saved=bool(saved.get("password_hash")),
                 tabs_done=flow.data.get("tabs_done") or [],
                 has_interests_picker=_has_interests_picker(), interests=picked)


# -- 소속기업 등록 (issue 7; SPEC §3.3 tab 4; idp/web/affiliation.py) ---------------------------

def _person(identity: VerifiedIdentity) -> str:
    """Whom the approval password's per-member limit counts during sign-up: the verified
    person (their DI's keyed hash), whichever flow or browser they use."""
    return aff.person_key(provider().personal_data.lookup_hash("di", identity.di))


def _company_tab(flow: Flow, form: FlaskForm, identity: VerifiedIdentity) -> BaseResponse:
    """소속기업 등록 (optional): search (decision=search), the approval password
    (decision=approval), start over (decision=reset), or 가입하기 (decision=complete). The
    certificate comes back at company_certified."""
    p = provider()
    message = field = None
    status = 200
    number = ""
    if request.method == "POST":
        decision = request.form.get("decision", "")
        try:
            if decision == "search":
                number = request.form.get("business_number", "")[:20].strip()
                field = "business_number"
                _company, record = aff.search(number)
                service.choose_company(p.flows, flow, record.business_number)
            elif decision == "approval":
                chosen = service.chosen_company(flow)
                if chosen is None:
                    raise aff.service.AffiliationRefused("search_first")
                number, field = chosen["business_number"], "approval_password"
                company, record = aff.service.find_joinable(db.session, p.company_directory,
                                                            number)
                aff.check_approval_password(company, request.form.get(
                    "approval_password", "")[:20], who=_person(identity), member_id=None)
                service.company_verified(p.flows, flow, number, "approval_password")
            elif decision == "reset":
                service.clear_company(p.flows, flow)
            else:
                service.mark_tab(p.flows, flow, "company")
        except aff.service.AffiliationRefused as exc:
            db.session.rollback()
            message = aff.refusal_message(exc)
            status = 429 if exc.reason in ("locked", "busy", "too_many") else 400
        except service.StepMissing as exc:
            return _to_step(flow.id, exc.step, **({"tab": exc.tab} if exc.tab else {}))
        else:
            db.session.commit()
            if decision == "complete":
                return _complete(flow)
            return _to_step(flow.id, service.INFO, tab="company")
    return _company_page(flow, form, identity, status=status, message=message, field=field,
                         number=number)


def _company_page(flow: Flow, form: FlaskForm, identity: VerifiedIdentity, *,
                  status: int = 200, message: str | None = None, field: str | None = None,
                  number: str = "") -> BaseResponse:
    p = provider()
    chosen = service.chosen_company(flow)
    record = locked = None
    if chosen is not None:
        number = number or chosen["business_number"]
        try:
            company, record = aff.service.find_joinable(db.session, p.company_directory,
                                                        chosen["business_number"])
        except aff.service.AffiliationRefused as exc:
            # Rejected or removed since it was searched: start the tab again.
            service.clear_company(p.flows, flow)
            db.session.commit()
            chosen, message, status = None, aff.refusal_message(exc), 400
        else:
            if not chosen.get("method"):
                refused = aff.service.approval_lock(p.store, p.clock, aff.limits(), company,
                                                    who=_person(identity), ip=client_ip())
                locked = aff.refusal_message(refused) if refused is not None else None
    return _page("signup/info.html", status, form=form, flow=flow, step=3, tab="company",
                 identity=identity, values={}, field=field, message=message,
                 policy=p.policy, tabs_done=flow.data.get("tabs_done") or [],
                 company=chosen, record=record, locked=locked, business_number=number,
                 method_labels=aff.METHOD_LABELS, register_url=aff.COMPANY_REGISTER)


@bp.get("/signup/<fid>/company/certified")
def company_certified(fid: str) -> BaseResponse:
    """The 인증서찾기 widget comes back here (?cr=): the searched company's certificate."""
    flow = _load(fid)
    if flow is None:
        return _gone()
    p = provider()
    identity = service.identity_of(p.personal_data, flow)
    if identity is None:
        return _to_step(fid, service.VERIFY)
    chosen = service.chosen_company(flow)
    try:
        certified = take_certificate("affiliate")
    except CertificateError as exc:
        db.session.commit()
        return _company_page(flow, SignupForm(), identity, status=400,
                             message=certificate_message(exc.reason))
    message = None
    if chosen is None:
        message = str(aff.MESSAGES["search_first"])
    elif certified.business_number != chosen["business_number"]:
        message = str(aff.MESSAGES["certificate"])
    if message is not None:
        db.session.commit()
        return _company_page(flow, SignupForm(), identity, status=400, message=message)
    assert chosen is not None
    service.company_verified(p.flows, flow, chosen["business_number"], "certificate")
    db.session.commit()
    return _to_step(fid, service.INFO, tab="company")


@bp.get("/signup/<fid>/check-id")
def check_id(fid: str) -> BaseResponse:
    """중복확인: available | taken | invalid, at most `signup.id_check_limit` a window per IP."""
    p = provider()
    flow = _load(fid)
    if flow is None or not service.reached(flow, service.INFO):  # (only once verified)
        return _json({"status": "expired", "message": _(
            "회원가입 시간이 지났습니다. 처음부터 다시 진행해 주세요.")}, 404)
    settings = p.settings["signup"]
    window = int(settings["id_check_window"])
    period = int(p.clock.now() // window)
    count = p.store.incr(f"signup-idcheck:{ip_bucket(client_ip() or '')}:{period}", window)
    db.session.commit()
    if count > int(settings["id_check_limit"]):
        resp = _json({"status": "throttled", "message": _(
            "잠시 후 다시 확인해 주세요.")}, 429)
        resp.headers["Retry-After"] = str(window)
        return resp
    status = service.login_id_status(db.session, p.policy,
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


@bp.post("/signup/<fid>/complete")
def complete(fid: str) -> BaseResponse:
    """가입하기: create the member (once)."""
    form = SignupForm()
    if not form.validate_on_submit():
        return _gone()
    flow = _load(fid)
    if flow is None:
        return _after_gone(fid)
    return _complete(flow)


def _after_gone(fid: str) -> BaseResponse:
    """The flow is gone: a double submit whose other request created the member shows its
    result; anything else starts again."""
    if service.result_of(provider().store, fid, browser=_browser()) is not None:
        return redirect(url_for("signup.done", fid=fid), 303)
    return _gone()


def _complete(flow: Flow) -> BaseResponse:
    p = provider()
    try:
        service.complete(db.session, p.flows, p.store, p.personal_data, flow.id,
                         browser=_browser() or "", now=_now(), ip=client_ip())
        db.session.commit()
    except service.SignupGone:
        db.session.rollback()
        return _after_gone(flow.id)
    except service.StepMissing as exc:
        db.session.rollback()
        return _to_step(flow.id, exc.step, **({"tab": exc.tab} if exc.tab else {}))
    except service.TermsChanged:
        db.session.rollback()
        return _to_step(flow.id, service.TERMS, changed="1")
    except service.AlreadyMember:
        db.session.commit()  # (the consumed flow stays consumed)
        return _already(flow.data.get("ia"))
    except service.LoginIdTaken as exc:
        db.session.commit()
        return _to_step(exc.flow_id, service.INFO, tab="basic", taken="1")
    return redirect(url_for("signup.done", fid=flow.id), 303)


@bp.route("/signup/<fid>/done", methods=["GET", "POST"])
def done(fid: str) -> BaseResponse:
    """STEP4 가입완료; 로그인 signs the new member in to the pending relying party."""
    form = SignupForm()
    p = provider()
    result = service.result_of(p.store, fid, browser=_browser())
    if result is None:
        if request.method == "POST":
            return redirect(MY_KOTRA, 303)  # the other of a double click signed in already
        return _gone()
    ia = current_interaction(result.ia) if result.ia else None
    if request.method == "POST":
        if not form.validate_on_submit():
            return _gone()
        service.forget_result(p.store, fid)
        if ia is None:
            db.session.commit()
            return redirect(MY_KOTRA, 303)
        # The password was just set: a password-level login (acr/amr of PASSWORD).
        return finish_login(ia, SignedIn(result.member_id, result.login_id),
                            acr=PASSWORD.acr, amr=list(PASSWORD.amr))
    if ia is not None:
        # 로그인 ends in a 303 to the relying party: allow its origin in form-action (CSP).
        g.form_target = ia.params.get("redirect_uri")
    return _page("signup/done.html", form=form, fid=fid, step=4, result=result,
                 resumes=ia is not None)
