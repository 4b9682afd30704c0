"""The operator console (KOTRA staff; issue 7, SPEC §1, §3.4): review of company requests and
the audit trail.

    GET|POST /operator/login                     ID + password (step 1)
    GET|POST /operator/login/otp?f=<flow>        the 6-digit TOTP code (step 2)
    POST     /operator/logout
    GET      /operator/?status=pending|approved|rejected      requests, newest first
    GET      /operator/requests/<id>             a request, its company and its document
    POST     /operator/requests/<id>/decide      approve | reject (with a reason)
    GET      /operator/requests/<id>/document    the uploaded document (operators only)
    GET      /operator/audit                     the audit trail, filtered and paged

The console has its own session (idp/services/operators.OperatorSessions): a cookie of its
own, host-only, HttpOnly, SameSite=Strict, Secure on https, ended after a short idle time. A
member's SSO session opens nothing here. Every POST carries Flask-WTF's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp

from idp.cookies import CookieSpec, browser_id, host_cookie_name
from idp.errors import InvalidCredentials, InvalidInput, LoginThrottled
from idp.extensions import db
from idp.models import Operator
from idp.oidc.server import client_ip, provider
from idp.services import audit, countries
from idp.services import company_review as review
from idp.services import operators as service
from idp.services.business_numbers import (
    InvalidNumber,
    format_business_number,
    is_business_number,
    normalise_business_number,
)
from idp.services.company_profile import AMOUNT, CHOICE, COUNT, COUNTRY, FIELDS, YESNO, Field
from idp.services.flows import FlowKind
from idp.services.throttle import Throttle
from idp.web.company_forms import CHOICE_LABELS, INFO_LABELS
from idp.web.forms import PRINTABLE

bp = Blueprint("operator", __name__, url_prefix="/operator")

# The endpoints a visitor without an operator session may reach.
PUBLIC = {"operator.login", "operator.login_otp"}

WRONG_CREDENTIALS = _l("아이디 또는 비밀번호가 일치하지 않습니다.")
WRONG_CODE = _l("인증 코드가 올바르지 않습니다. 인증 앱에 표시된 6자리 숫자를 입력해 주세요.")
THROTTLED = _l("로그인 시도가 너무 많습니다. %(minutes)d분 후 다시 시도해 주세요.")
WAIT = _l("잠시 후 다시 시도해 주세요. (%(seconds)d초)")
FLOW_GONE = _l("입력 시간이 지났습니다. 아이디와 비밀번호부터 다시 입력해 주세요.")
SIGNED_OUT = _l("로그아웃되었습니다.")
SESSION_ENDED = _l("운영자 세션이 없거나 만료되었습니다. 다시 로그인해 주세요.")
REASON_REQUIRED = _l("반려 사유를 입력해 주세요.")
ALREADY_DECIDED = _l("이미 처리된 신청입니다.")
DONE = {"approved": _l("승인하였습니다. 신청인에게 결과를 이메일로 알렸습니다."),
        "rejected": _l("반려하였습니다. 신청인에게 결과와 사유를 이메일로 알렸습니다.")}
STATUSES = ("pending", "approved", "rejected")


class LoginForm(FlaskForm):
    login_id = StringField(_l("아이디"), validators=[DataRequired(), Length(max=40), PRINTABLE])
    password = PasswordField(_l("비밀번호"),
                             validators=[DataRequired(), Length(max=128), PRINTABLE])


class OtpForm(FlaskForm):
    f = StringField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{1,100}$")])
    code = StringField(_l("인증 코드"), validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$")])


class DecisionForm(FlaskForm):
    decision = StringField(_l("처리"), validators=[DataRequired(),
                                                 AnyOf(("approve", "reject"))])
    reason = TextAreaField(_l("사유"), validators=[Optional(), Length(max=review.REASON_MAX)])


class SignOutForm(FlaskForm):
    pass


def _sign_in_flow() -> FlowKind:
    """The password step's hand-over to the code step (config [operators]
    totp_entry_seconds)."""
    return FlowKind("operator_sign_in",
                    ttl=int(provider().settings["operators"]["totp_entry_seconds"]))


def _cookie() -> CookieSpec:
    secure = bool(current_app.config["SESSION_COOKIE_SECURE"])
    return CookieSpec(host_cookie_name("idp_operator", secure), secure, samesite="Strict")


def _sessions() -> service.OperatorSessions:
    p = provider()
    return service.operator_sessions(p.settings, p.store, p.clock)


def _throttle() -> Throttle:
    p = provider()
    return service.operator_throttle(p.settings, p.store, p.clock)


@bp.before_request
def require_operator() -> Response | None:
    """Every page but the sign-in needs a live operator session (never the SSO session)."""
    g.operator = None
    if request.endpoint in PUBLIC:
        return None
    current = _sessions().current(_cookie().read())
    operator = db.session.get(Operator, current.operator_id) if current else None
    if operator is None or operator.status != "active":
        if request.endpoint == "operator.document":
            abort(403)
        resp = redirect(url_for("operator.login", expired=1 if _cookie().read() else None),
                        303)
        _cookie().delete(resp)
        return resp
    g.operator = operator
    db.session.commit()  # the session's restarted idle time (a database store)
    return None


@bp.app_template_global()
def operator_signed_in() -> Operator | None:
    return g.get("operator")


def _throttled_message(exc: LoginThrottled) -> str:
    if exc.locked:
        return _(str(THROTTLED), minutes=max(1, (exc.retry_after + 59) // 60))
    return _(str(WAIT), seconds=exc.retry_after)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Step 1: ID and password."""
    form = LoginForm()
    message, notice, status = None, None, 200
    if request.method == "GET":
        if _sessions().current(_cookie().read()) is not None:
            return redirect(url_for("operator.index"), 303)
        if request.args.get("out"):
            notice = _(str(SIGNED_OUT))
        elif request.args.get("expired"):
            notice = _(str(SESSION_ENDED))
    elif form.validate_on_submit():
        p = provider()
        try:
            operator_id = service.check_password(
                db.session, p.passwords, _throttle(), login_id=form.login_id.data or "",
                password=form.password.data or "", ip=client_ip())
        except LoginThrottled as exc:
            message, status = _throttled_message(exc), 429
        except InvalidCredentials:
            message, status = _(str(WRONG_CREDENTIALS)), 401
        else:
            flow = p.flows.start(_sign_in_flow(), {"op": operator_id}, browser=browser_id())
            db.session.commit()  # the flow, when the store is the database
            return redirect(url_for("operator.login_otp", f=flow.id), 303)
    else:
        message, status = _(str(WRONG_CREDENTIALS)), 400
    return render_template("operator/login.html", form=form, message=message, notice=notice,
                           login_id=form.login_id.data or ""), status


@bp.route("/login/otp", methods=["GET", "POST"])
def login_otp() -> Any:
    """Step 2: the TOTP code of the operator's authenticator app (RFC 6238)."""
    p = provider()
    form = OtpForm()
    flow_id = request.values.get("f", "")
    flow = p.flows.get(_sign_in_flow(), flow_id, browser=browser_id())
    if flow is None:
        return render_template("operator/login.html", form=LoginForm(formdata=None),
                               message=_(str(FLOW_GONE)), login_id=""), 400
    message, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            message, status = _(str(WRONG_CODE)), 400
        else:
            try:
                operator = service.check_totp(
                    db.session, p.personal_data, _throttle(), p.clock,
                    operator_id=int(flow.data["op"]), code=form.code.data or "",
                    ip=client_ip())
            except LoginThrottled as exc:
                message, status = _throttled_message(exc), 429
            except InvalidCredentials:
                message, status = _(str(WRONG_CODE)), 401
            else:
                p.flows.consume(_sign_in_flow(), flow.id, browser=browser_id())
                db.session.commit()
                resp = redirect(url_for("operator.index"), 303)
                _cookie().set(resp, _sessions().start(operator.id))
                db.session.commit()  # the session, when the store is the database
                return resp
    return render_template("operator/otp.html", form=form, flow_id=flow.id,
                           message=message), status


@bp.post("/logout")
def logout() -> Response:
    """Sign out: the session ends in the store and the cookie goes."""
    form = SignOutForm()
    if not form.validate_on_submit():
        abort(400)
    operator_id = _sessions().end(_cookie().read())
    audit.record(db.session, "operator.logout", operator_id=operator_id, ip=client_ip())
    db.session.commit()
    resp = redirect(url_for("operator.login", out=1), 303)
    _cookie().delete(resp)
    return resp


@bp.get("/")
def index() -> str:
    """Requests waiting for review (or decided ones), newest first."""
    status = request.args.get("status", "pending")
    if status not in STATUSES:
        status = "pending"
    rows = review.list_requests(db.session, status=status)
    return render_template("operator/requests.html", rows=rows, status=status)


def _view(request_id: int) -> review.RequestView:
    try:
        return review.get_request(db.session, request_id)
    except review.RequestNotFound:
        abort(404)


def _render_request(view: review.RequestView, form: DecisionForm, message: str | None = None,
                    done: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("operator/request.html", v=view, form=form, message=message,
                           done=DONE.get(done or ""), new_names=review.new_names(view.request),
                           profile_items=_profile_items(view.company.profile),
                           data_items=_items(view.request.data)), status


def _profile_items(profile: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """The company form's other fields (Company.profile, keyed as the registration's
    company_profile.FIELDS), as (label, text, is_key) triples in the form's order with the
    form's labels (idp/web/company_forms.py); a key the form does not know is shown by its
    name, after them."""
    profile = profile or {}
    items = []
    for f in FIELDS:
        if f.column or profile.get(f.key) in (None, "", [], {}):
            continue
        items.append((str(INFO_LABELS[f.key]), _profile_text(f, profile[f.key]), False))
    known = {f.key for f in FIELDS}
    for key, value in profile.items():
        if key in known or value in (None, "", [], {}):
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        items.append((str(key), text, True))
    return items


def _profile_text(f: Field, value: Any) -> str:
    if f.kind == YESNO:
        return _("예") if value else _("아니오")
    if f.kind == CHOICE:
        return str(CHOICE_LABELS.get(f.key, {}).get(str(value), value))
    if f.kind == COUNTRY:
        country = countries.get(str(value))
        return country.name(str(get_locale())) if country is not None else str(value)
    if f.kind in (AMOUNT, COUNT) and isinstance(value, int):
        return f"{value:,}"
    return str(value)
# Labels of the company form's usual fields (SPEC §3.4); a key not listed is shown as it is.
PROFILE_LABELS = {
    "postcode": _l("우편번호"), "address_ko": _l("주소"), "address": _l("주소"),
    "address_detail": _l("상세주소"), "address_en": _l("영문주소"), "phone": _l("전화번호"),
    "fax": _l("팩스번호"), "email": _l("이메일"), "homepage": _l("홈페이지"),
    "trade_license": _l("무역업신고번호"), "business_type": _l("업태"),
    "business_item": _l("업종"), "main_product": _l("주요 생산품"),
}


def _text(key: str, value: Any) -> str:
    """A stored value as the company form shows it: choices and yes/no by their labels, a
    country by its name, lists joined (idp/web/company_forms.py holds the form's labels)."""
    if isinstance(value, bool):
        return str(_("예") if value else _("아니오"))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if key == "export_country" and (country := countries.get(str(value))):
        return country.name(str(get_locale() or "ko"))
    return str(CHOICE_LABELS.get(key, {}).get(str(value), value))


def _items(data: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """The company form's fields, as (label, text, is_key) triples: the form's own label when
    the field is a known one (idp/web/company_forms.py), else its key."""
    items = []
    for key, value in (data or {}).items():
        if value in (None, "", [], {}):
            continue
        if key == "business_number":
            label: Any = _l("사업자등록번호")
            text = format_business_number(str(value)) if is_business_number(str(value)) \
                else str(value)
        else:
            label = INFO_LABELS.get(str(key)) or PROFILE_LABELS.get(str(key))
            text = _text(str(key), value)
        items.append((str(label) if label else str(key), text, label is None))
    return items


@bp.get("/requests/<int:request_id>")
def request_detail(request_id: int) -> tuple[str, int]:
    """A request with the company's data and its document."""
    return _render_request(_view(request_id), DecisionForm(formdata=None),
                           done=request.args.get("done"))


@bp.post("/requests/<int:request_id>/decide")
def decide(request_id: int) -> Any:
    """Approve or reject (a rejection needs a reason); the applicant is told by email."""
    form = DecisionForm()
    view = _view(request_id)
    if not form.validate_on_submit():
        return _render_request(view, form, _(str(REASON_REQUIRED)) if form.reason.errors
                               else _("승인 또는 반려를 선택해 주세요."), status=400)
    try:
        decision = review.decide(db.session, request_id=request_id,
                                 operator_id=g.operator.id,
                                 approve=form.decision.data == "approve",
                                 reason=form.reason.data, ip=client_ip(),
                                 sessions=provider().sessions, outbox=provider().outbox,
                                 mail=provider().mail)
    except InvalidInput as exc:
        db.session.rollback()
        text = _(str(REASON_REQUIRED)) if exc.field == "reason" else _(
            "신청 내용에 새 기업명이 없어 승인할 수 없습니다.")
        return _render_request(_view(request_id), form, text, status=400)
    except review.AlreadyDecided:
        db.session.rollback()
        return _render_request(_view(request_id), form, _(str(ALREADY_DECIDED)), status=409)
    return redirect(url_for("operator.request_detail", request_id=request_id,
                            done="approved" if decision.approved else "rejected"), 303)


@bp.get("/requests/<int:request_id>/document")
def document(request_id: int) -> Response:
    """The request's uploaded document: inline for PDF and images, else a download; never
    cached, never sniffed."""
    view = _view(request_id)
    if view.request.document_id is None:
        abort(404)
    try:
        doc = review.open_document(db.session, provider().personal_data,
                                   view.request.document_id)
    except review.DocumentUnavailable:
        abort(404)
    resp = send_file(io.BytesIO(doc.content), mimetype=doc.content_type,
                     as_attachment=not doc.inline, download_name=doc.filename,
                     conditional=False, etag=False, max_age=None)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # Nothing in a document runs or loads anything (a PDF's scripts, an SVG's).
    resp.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: str | None) -> dt.date | None:
    if not value or not _DATE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


@bp.get("/audit")
def audit_trail() -> str:
    """The audit trail, newest first: by event name prefix, member, business number, dates."""
    args = request.args
    problems: list[str] = []
    prefix = (args.get("event") or "").strip()[:50]
    member_text = (args.get("member") or "").strip()
    member_id = int(member_text) if member_text.isdigit() and len(member_text) < 12 else None
    if member_text and member_id is None:
        problems.append(_("회원 번호는 숫자로 입력해 주세요."))
    bn_text = (args.get("business_number") or "").strip()
    business_number = ""
    if bn_text:
        try:
            business_number = normalise_business_number(bn_text)
        except InvalidNumber:
            problems.append(_("사업자등록번호가 올바르지 않습니다."))
    since, until = _date(args.get("since")), _date(args.get("until"))
    if (args.get("since") and since is None) or (args.get("until") and until is None):
        problems.append(_("날짜는 YYYY-MM-DD 형식으로 입력해 주세요."))
    page_text = args.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 1
    flt = review.AuditFilter(event_prefix=prefix, member_id=member_id,
                             business_number=business_number, since=since, until=until)
    result = review.audit_events(db.session, flt, page=page)
    query = {k: v for k, v in args.items() if k != "page" and v}
    return render_template("operator/audit.html", result=result, args=args, query=query,
                           problems=problems, describe=review.describe_detail)


@bp.app_template_filter("operator_kst")
def kst(value: dt.datetime | None) -> str:
    """A stored UTC time in Korea's time (UTC+9), to the second."""
    if value is None:
        return ""
    return (value + dt.timedelta(hours=9)).strftime("%Y-%m-%d %H:%M:%S")
