"""기업정보 등록: company registration pages (SPEC §3.4; manual ch. 04; issue 7).

    GET|POST /company/register?ia=<uid>        STEP1 약관동의 (the POST starts the flow)
    GET|POST /company/register/<fid>/number    STEP2 기업 인증: 사업자등록번호 → 조회
    GET|POST /company/register/<fid>/found     ... the directory record; 기업인증하기 (the
                                               인증서찾기 widget) or 이전으로
    GET|POST /company/register/<fid>/form      STEP3 기업체정보 입력 (?cr= from the widget)
    GET|POST /company/register/<fid>/new       STEP3 for a company not found: a signed-in
                                               general member, with the 사업자등록증 upload
    GET      /company/register/<fid>/done      STEP4 가입완료 (or: waiting for review)

The state is server-side in one browser-bound flow (idp/services/company_register.py); the
views parse, call the service and map its errors to the manual's messages.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import IO, Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from jinja2 import TemplateNotFound
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.errors import InvalidInput
from idp.extensions import csrf, db
from idp.models import Member, MemberType
from idp.oidc.server import client_ip, provider
from idp.services import audit
from idp.services import company_register as service
from idp.services.business_numbers import format_business_number
from idp.services.certificates import CertificateError
from idp.services.companies import find_company
from idp.services.company_profile import FIELDS, CompanyInfo, InfoErrors, clean_info
from idp.services.flows import Flow
from idp.services.terms import current_documents
from idp.services.throttle import ip_bucket
from idp.services.uploads import UploadRefused, check_upload
from idp.web.certificate import certificate_message, take_certificate
from idp.web.company_forms import (
    CHOICE_LABELS,
    HINTS,
    INFO_LABELS,
    SECRET_LABELS,
    CompanyForm,
    country_choices,
    info_field_message,
    secret_message,
)
from idp.web.interaction import current_interaction, current_session
from idp.web.terms import terms_answers

bp = Blueprint("company_register", __name__)

CERTIFICATE_WIDGET = "certificate/_widget.html"  # 인증서찾기 (the npki-browser helper's)
MY_LOGIN = "/my/login"  # MY KOTRA's sign-in (idp/web/my.py), linked by path
SIGNUP_HUB = "/signup"
_UPLOAD_OVERHEAD = 64 * 1024  # the form's other fields around the file
_SPOOL_IN_MEMORY = 500 * 1024  # larger file parts are spooled to a temporary file


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


def _settings() -> dict[str, Any]:
    settings: dict[str, Any] = provider().settings["company_register"]
    return settings


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    return Response(render_template(template, **context), status)


def _gone() -> BaseResponse:
    return _page("company/register/gone.html", 400)


def _pending_ia(uid: str | None) -> str | None:
    if not uid or len(uid) > 100:
        return None
    return uid if current_interaction(uid) is not None else None


def _load(fid: str) -> Flow | None:
    try:
        return service.load(provider().flows, fid, cookies().browser.read())
    except service.RegisterGone:
        return None


def _csrf_ok(form: CompanyForm) -> bool:
    return request.method != "POST" or form.validate_on_submit()


STEP_ENDPOINTS = {service.TERMS: "company_register.start",
                  service.NUMBER: "company_register.number",
                  service.FOUND: "company_register.found", service.FORM: "company_register.form",
                  service.NEW: "company_register.new"}


def _to_step(flow: Flow | str, step: str | None = None) -> BaseResponse:
    fid = flow if isinstance(flow, str) else flow.id
    step = step or (service.at(flow) if isinstance(flow, Flow) else service.NUMBER)
    if step == service.TERMS:
        return redirect(url_for("company_register.start"), 303)
    return redirect(url_for(STEP_ENDPOINTS[step], fid=fid), 303)


def company_login_url(ia: str | None) -> str:
    """Where "존재하는 기업회원입니다. 로그인해주세요." and 가입완료's 로그인 go: the pending
    sign-in's login page on its 기업정보 관리 tab, else the company console's entry (/company/
    login, idp/web/company_console.py): its own first-party client's authorization request,
    whose login page opens on the 기업정보 관리 tab and which lands the manager in the console
    (MY KOTRA's /my/login is the general members' sign-in: it opens on 일반회원)."""
    if ia and current_interaction(ia) is not None:
        return url_for("web.login_page", uid=ia, tab="company")
    return url_for("company_console.login")


# STEP1 약관동의 ------------------------------------------------------------------------------

@bp.route("/company/register", methods=["GET", "POST"])
def start() -> BaseResponse:
    """약관동의: the required documents (이용약관, 개인정보 수집·이용 동의); the POST starts the
    flow for this browser."""
    form = CompanyForm()
    documents = [d for d in current_documents(db.session) if d.required]
    ia = _pending_ia(request.values.get("ia"))
    message = None
    invalid: list[str] = []
    checked: list[str] = []
    if request.method == "POST":
        if not form.validate_on_submit():
            return _gone()
        agreed = terms_answers(request.form, documents)
        checked = [k for k, v in agreed.items() if v]
        p = provider()
        flow = service.begin(p.flows, browser=browser_id(), ia=ia)
        try:
            service.agree_terms(db.session, p.flows, flow, agreed)
        except InvalidInput:
            p.flows.discard(flow.id)
            invalid = [d.kind for d in documents if not agreed.get(d.kind)]
            message = _("필수 약관에 모두 동의해 주세요.")
        else:
            db.session.commit()
            return _to_step(flow, service.NUMBER)
    elif request.args.get("changed"):
        message = _("약관이 개정되었습니다. 개정된 약관을 확인하고 다시 동의해 주세요.")
    return _page("company/register/terms.html", 400 if message and request.method == "POST"
                 else 200, form=form, step=1, documents=documents, message=message,
                 invalid=invalid, checked=checked, ia=ia)


# STEP2 기업 인증 -----------------------------------------------------------------------------

def _lookups_left() -> bool:
    p = provider()
    settings = _settings()
    window = int(settings["lookup_window"])
    count = p.store.incr(f"company-lookup:{ip_bucket(client_ip() or '')}:"
                         f"{int(p.clock.now() // window)}", window * 2)
    return count <= int(settings["lookups_per_ip"])


OUTCOME_STATUS = {"registered": 409, "pending": 409, "closed": 403, "suspended": 403,
                  "unregistered": 403, "unavailable": 503}


@bp.route("/company/register/<fid>/number", methods=["GET", "POST"])
def number(fid: str) -> BaseResponse:
    """사업자등록번호를 입력해주세요 → 조회: the lookup's outcome."""
    flow = _load(fid)
    form = CompanyForm()
    if flow is None or not _csrf_ok(form):
        return _gone()
    if service.at(flow) == service.TERMS:
        return _to_step(flow, service.TERMS)
    typed = ""
    outcome = message = None
    status = 200
    if request.method == "POST":
        typed = request.form.get("business_number", "")[:20].strip()
        p = provider()
        if not _lookups_left():
            db.session.commit()
            message, status = _("조회 요청이 너무 많습니다. 잠시 후 다시 시도해 주세요."), 429
        else:
            try:
                found = service.look_up(db.session, p.flows, flow, p.business_registry,
                                        p.company_directory, typed)
            except InvalidInput:
                message, status = _("사업자등록번호 10자리를 올바르게 입력해 주세요."), 400
            else:
                outcome = found.outcome
                if outcome in ("closed", "suspended", "unregistered"):
                    audit.record(db.session, "company.registration_refused", ip=client_ip(),
                                 business_number=found.business_number, reason=outcome)
                db.session.commit()
                if outcome in ("directory", "not_found"):
                    return _to_step(flow)
                message, status = _outcome_message(outcome), OUTCOME_STATUS[outcome]
            db.session.commit()
    return _page("company/register/number.html", status, form=form, flow=flow, step=2,
                 typed=typed, outcome=outcome, message=message,
                 login_url=company_login_url(flow.data.get("ia")))


def _outcome_message(outcome: str) -> str:
    if outcome == "registered":
        return _("존재하는 기업회원입니다. 로그인해주세요.")
    if outcome == "pending":
        return _("기업정보 등록을 신청하여 검토 중인 기업입니다. 검토가 끝난 뒤 로그인해주세요.")
    if outcome == "closed":
        return _("조회하신 사업자번호는 폐업된 것으로 확인되어 기업정보 등록이 불가능합니다. "
                 "사업자번호를 확인하시고 재조회해 주시기 바랍니다.")
    if outcome == "unregistered":
        return _("국세청에 등록되지 않은 사업자등록번호입니다. 사업자번호를 확인하시고 재조회해 "
                 "주시기 바랍니다.")
    if outcome == "suspended":
        return _("조회하신 사업자번호는 휴업 중인 것으로 확인되어 기업정보 등록이 불가능합니다. "
                 "사업자번호를 확인하시고 재조회해 주시기 바랍니다.")
    return _("국세청 사업자 상태 조회를 할 수 없습니다. 잠시 후 다시 시도해 주세요.")


@bp.route("/company/register/<fid>/found", methods=["GET", "POST"])
def found(fid: str) -> BaseResponse:
    """조회하신 사업자등록번호와 기업정보: 기업인증하기 (the certificate) or 이전으로."""
    flow = _load(fid)
    form = CompanyForm()
    if flow is None or not _csrf_ok(form):
        return _gone()
    if request.method == "POST":  # 이전으로
        service.back_to_number(provider().flows, flow)
        db.session.commit()
        return _to_step(flow, service.NUMBER)
    if service.at(flow) not in (service.FOUND, service.FORM):
        return _to_step(flow)
    return _found_page(flow)


def _has_widget() -> bool:
    """Whether the 인증서찾기 widget (the npki-browser helper's macro) is installed."""
    try:
        current_app.jinja_env.get_template(CERTIFICATE_WIDGET)
    except TemplateNotFound:
        return False
    return True


def _found_page(flow: Flow, message: str | None = None, status: int = 200) -> BaseResponse:
    record = service.record_of(flow)
    return _page("company/register/found.html", status, form=CompanyForm(), flow=flow,
                 step=2, record=record, message=message, npki_widget_available=_has_widget(),
                 business_number=format_business_number(flow.data["business_number"]))


# STEP3 기업체정보 입력 -----------------------------------------------------------------------

def _form_values() -> dict[str, str]:
    return {f.key: request.form.get(f.key, "")[:f.max_length * 4 + 10] for f in FIELDS}


def _prefill(flow: Flow) -> dict[str, str]:
    """The company form's values from the directory record (SPEC §3.4: autofilled)."""
    record = service.record_of(flow)
    values = {f.key: "" for f in FIELDS}
    if record is not None:
        values.update(name=record.name_ko, name_en=record.name_en or "",
                      ceo_name=record.ceo_ko, ceo_name_en=record.ceo_en or "",
                      corp_number=record.corp_number or "", postcode=record.postcode or "",
                      address=record.address_ko or "", address_en=record.address_en or "",
                      phone=record.phone or "", fax=record.fax or "",
                      email=record.email or "", homepage=record.homepage or "")
    return values


def _check_form(business_number: str) -> tuple[CompanyInfo | None, service.Secrets | None,
                                                dict[str, str]]:
    """Every field and both passwords: (info, hashes, {}) or (None, None, {field: message})."""
    p = provider()
    errors: dict[str, str] = {}
    info = hashes = None
    try:
        info = clean_info(request.form, now_year=_now().year)
    except InfoErrors as exc:
        errors.update({k: info_field_message(k, v) for k, v in exc.errors.items()})
    form = request.form
    try:
        hashes = service.check_secrets(
            p.passwords, p.policy, business_number=business_number,
            password=form.get("password", "")[:128],
            password_confirm=form.get("password_confirm", "")[:128],
            approval=form.get("approval_password", "")[:20],
            approval_confirm=form.get("approval_password_confirm", "")[:20])
    except InfoErrors as exc:
        errors.update({k: secret_message(k, v, password_min=p.policy.password_min,
                                         password_max=p.policy.password_max)
                       for k, v in exc.errors.items()})
    if errors:
        return None, None, errors
    return info, hashes, {}


def _form_context(flow: Flow) -> dict[str, Any]:
    return {"flow": flow, "step": 3, "fields": FIELDS, "labels": INFO_LABELS,
            "secret_labels": SECRET_LABELS, "choices": CHOICE_LABELS, "hints": HINTS,
            "countries": country_choices(str(get_locale())), "policy": provider().policy,
            "business_number": format_business_number(flow.data["business_number"])}


@bp.route("/company/register/<fid>/form", methods=["GET", "POST"])
def form(fid: str) -> BaseResponse:
    """기업 범용인증서 확인 후 기업체 정보 입력 → 완료."""
    flow = _load(fid)
    csrf_form = CompanyForm()
    if flow is None:
        return _after_gone(fid)
    if not _csrf_ok(csrf_form):
        return _gone()
    p = provider()
    if request.method == "GET" and request.args.get("cr"):
        if service.at(flow) not in (service.FOUND, service.FORM):
            return _to_step(flow)
        try:
            company = take_certificate("register")
            service.certified(p.flows, flow, company)
        except CertificateError as exc:
            db.session.commit()
            if service.at(flow) == service.FORM:  # a reload of the used ?cr=: certified already
                return redirect(url_for("company_register.form", fid=fid), 303)
            return _found_page(flow, certificate_message(exc.reason), 400)
        except service.CertificateMismatch as exc:
            audit.record(db.session, "company.registration_refused", ip=client_ip(),
                         business_number=flow.data["business_number"],
                         reason="certificate_mismatch", certified=str(exc))
            db.session.commit()
            return _found_page(flow, _(
                "조회하신 사업자등록번호의 기업 범용인증서가 아닙니다. 해당 기업의 인증서로 "
                "인증해 주세요."), 400)
        db.session.commit()
        return redirect(url_for("company_register.form", fid=fid), 303)  # (no ?cr= to reload)
    if service.at(flow) != service.FORM:
        return _to_step(flow)
    if request.method == "GET":
        return _page("company/register/form.html", form=csrf_form, values=_prefill(flow),
                     errors={}, message=None, **_form_context(flow))
    info, hashes, errors = _check_form(flow.data["business_number"])
    if info is None or hashes is None:
        return _page("company/register/form.html", 400, form=csrf_form, values=_form_values(),
                     errors=errors, message=_("입력한 내용을 확인해 주세요."),
                     **_form_context(flow))
    try:
        service.complete(db.session, p.flows, p.store, fid, browser=cookies().browser.read()
                         or "", info=info, hashes=hashes, now=_now(), ip=client_ip())
        db.session.commit()
    except service.RegisterGone:
        db.session.rollback()
        return _after_gone(fid)
    except service.StepMissing as exc:
        db.session.rollback()
        return _to_step(flow, exc.step)
    except service.TermsChanged:
        db.session.rollback()
        return redirect(url_for("company_register.start", changed="1"), 303)
    except service.AlreadyRegistered:
        db.session.rollback()
        return _already(flow)
    return redirect(url_for("company_register.done", fid=fid), 303)


def _already(flow: Flow) -> BaseResponse:
    """Another registration of this company won the race: registered, or waiting for review."""
    company = find_company(db.session, flow.data.get("business_number") or "")
    pending = company is not None and company.status == "pending"
    return _page("company/register/already.html", 409, step=2,
                 message=_outcome_message("pending" if pending else "registered"),
                 login_url=company_login_url(flow.data.get("ia")))


def _after_gone(fid: str) -> BaseResponse:
    """The flow is gone: a double submit whose other request registered shows its result."""
    if service.result_of(provider().store, fid, browser=cookies().browser.read()) is not None:
        return redirect(url_for("company_register.done", fid=fid), 303)
    return _gone()


def _applicant() -> Member | None:
    """The signed-in general member (the SSO session of this browser), or None."""
    sess = current_session()
    if sess is None:
        return None
    member = db.session.get(Member, sess.member_id)
    if member is None or not member.is_active:
        return None
    return member


def _upload_message(reason: str) -> str:
    mb = int(_settings()["upload_max_bytes"]) // (1024 * 1024)
    return {
        "empty": _("사업자등록증 스캔본 파일을 첨부해 주세요."),
        "too_large": _("파일 크기는 %(mb)dMB 이하여야 합니다.", mb=mb),
        "type": _("사업자등록증은 PDF, PNG, JPG 파일만 첨부할 수 있습니다."),
        "corrupt": _("파일이 손상되었거나 올바른 PDF, PNG, JPG 파일이 아닙니다."),
    }[reason]


@csrf.exempt  # the upload limit must be raised before the form is read: CSRF is checked below
@bp.route("/company/register/<fid>/new", methods=["GET", "POST"])
def new(fid: str) -> BaseResponse:
    """신규 기업정보 등록: the applicant (a signed-in general member), the 사업자등록증 and
    the company form; the company waits for an operator's review."""
    opened: list[IO[bytes]] = []

    def stream_factory(total_content_length: int | None, content_type: str | None,
                       filename: str | None, content_length: int | None = None) -> IO[bytes]:
        # werkzeug's own factory, remembered: a truncated file part's spooled file is in no
        # field, so nobody would close it.
        spooled: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed below)
            max_size=_SPOOL_IN_MEMORY, mode="rb+")
        opened.append(spooled)
        return spooled

    request._get_file_stream = stream_factory  # type: ignore[method-assign,assignment]
    try:
        return _new(fid)
    finally:
        for spooled in opened:
            spooled.close()


def _new(fid: str) -> BaseResponse:
    max_bytes = int(_settings()["upload_max_bytes"])
    if request.method == "POST":
        # This route alone takes a file (the app's limit is 64 KiB): a larger body is a Korean
        # message, never a raw 413.
        request.max_content_length = max_bytes + _UPLOAD_OVERHEAD
        try:
            request.form  # noqa: B018  (parses the body now, under the limit)
        except RequestEntityTooLarge:
            flow = _load(fid)
            if flow is None:
                return _gone()
            member = _applicant()
            return _new_page(flow, member, 413, values=_prefill(flow), errors={
                "document": _upload_message("too_large")})
        if any(not isinstance(key, str) for key in (*request.form, *request.files)):
            return _gone()  # a part without a name (werkzeug keys it None)
        try:
            csrf.protect()
        except CSRFError:
            return _gone()
    flow = _load(fid)
    if flow is None:
        return _after_gone(fid)
    if service.at(flow) != service.NEW:
        return _to_step(flow)
    member = _applicant()
    if member is None or member.member_type != MemberType.GENERAL:
        return _new_page(flow, member, 403 if request.method == "POST" else 200,
                         values={}, errors={})
    if request.method == "GET":
        return _new_page(flow, member, values=_prefill(flow), errors={})
    info, hashes, errors = _check_form(flow.data["business_number"])
    upload = request.files.get("document")
    document = upload.read(max_bytes + 1) if upload is not None else b""
    filename = upload.filename if upload is not None else None
    try:
        check_upload(document, max_bytes=max_bytes)
    except UploadRefused as exc:
        errors["document"] = _upload_message(exc.reason)
    if info is None or hashes is None or errors:
        return _new_page(flow, member, 400, values=_form_values(), errors=errors)
    p = provider()
    try:
        service.submit_new(db.session, p.flows, p.store, p.personal_data, fid,
                           browser=cookies().browser.read() or "", member=member, info=info,
                           hashes=hashes, document=document, filename=filename,
                           max_bytes=max_bytes, now=_now(), ip=client_ip())
        db.session.commit()
    except service.RegisterGone:
        db.session.rollback()
        return _after_gone(fid)
    except service.StepMissing as exc:
        db.session.rollback()
        return _to_step(flow, exc.step)
    except service.TermsChanged:
        db.session.rollback()
        return redirect(url_for("company_register.start", changed="1"), 303)
    except service.AlreadyRegistered:
        db.session.rollback()
        return _already(flow)
    except service.TooManyApplications:
        db.session.rollback()
        return _new_page(flow, member, 429, values=_form_values(), errors={"document": _(
            "검토를 기다리는 기업정보 등록 신청이 이미 %(n)s건 있습니다. 검토가 끝난 뒤 다시 "
            "신청해 주세요.", n=service.MAX_OPEN_APPLICATIONS)})
    except UploadRefused as exc:  # (checked above; kept for safety)
        db.session.rollback()
        return _new_page(flow, member, 400, values=_form_values(),
                         errors={"document": _upload_message(exc.reason)})
    except InvalidInput:
        db.session.rollback()
        return _new_page(flow, None, 403, values={}, errors={})
    return redirect(url_for("company_register.done", fid=fid), 303)


def _new_page(flow: Flow, member: Member | None, status: int = 200, *,
              values: dict[str, str], errors: dict[str, str]) -> BaseResponse:
    applicant = member if member is not None and member.member_type == MemberType.GENERAL \
        else None
    here = url_for("company_register.new", fid=flow.id)
    # (no FlaskForm here: after a 413 it would parse the body again; csrf_token() is enough)
    return _page("company/register/new.html", status, values=values,
                 errors=errors, message=_("입력한 내용을 확인해 주세요.") if errors else None,
                 applicant=applicant, signed_in_other=member is not None and applicant is None,
                 login_url=MY_LOGIN + "?next=" + here, signup_url=SIGNUP_HUB,
                 max_mb=int(_settings()["upload_max_bytes"]) // (1024 * 1024),
                 **_form_context(flow))


# STEP4 가입완료 ------------------------------------------------------------------------------

@bp.get("/company/register/<fid>/done")
def done(fid: str) -> BaseResponse:
    result = service.result_of(provider().store, fid, browser=cookies().browser.read())
    if result is None:
        return _gone()
    return _page("company/register/done.html", step=4, result=result,
                 business_number=format_business_number(result.business_number),
                 login_url=company_login_url(result.ia))
