"""The company console at /company: MY KOTRA for a company's manager (issue 7; SPEC §3.5; the
manual's chapter 05 "기업정보 관리 및 승인비밀번호 변경" and the 소속직원 관리 screen).

Signing in: like MY KOTRA (idp/web/my.py), the console is a first-party client of this
provider (`kotra-company`, registered on first use, redirect URI {issuer}/company/callback).
A visitor without a session is sent through an ordinary authorization request, whose login
page opens on the 기업정보 관리 tab; the callback checks the state (a flow bound to the
browser) and deletes the code unexchanged. Only a `company_manager` principal gets in: a
member signed in as a person is sent to MY KOTRA (/my).

    /company                      MY KOTRA 홈 (the company, unread notices)
    /company/services             기업 신청 사업 내역 (service participations, paged)
    /company/info                 기업정보 수정 (a fresh certificate; a name change is a request)
    /company/approval-password    승인 비밀번호 변경 (a fresh certificate)
    /company/password             기업 로그인 비밀번호 변경
    /company/employees            소속직원 관리 (revoke an affiliation, with confirmation)
    /company/mileage              마일리지 내역
    /company/certified?cr=        the 인증서찾기 widget's return (purpose "manage")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import InvalidCredentials, InvalidInput, LoginThrottled
from idp.extensions import db
from idp.models import Company, Member, MemberType
from idp.oidc.server import client_ip, provider
from idp.services import company_console as console
from idp.services.affiliations import ApprovalLimits, lift_company_lock
from idp.services.approval_passwords import WeakApprovalPassword
from idp.services.business_numbers import format_business_number
from idp.services.claims import ACR_CERTIFICATE
from idp.services.company_profile import FIELDS, InfoErrors
from idp.services.flows import FlowKind
from idp.services.legacy_import import KST
from idp.services.password_change import PasswordUnchanged
from idp.services.sessions import SsoSession
from idp.web.certificate import CertificateError, certificate_message, take_certificate
from idp.web.company_forms import (
    CHOICE_LABELS,
    HINTS,
    INFO_LABELS,
    country_choices,
    info_field_message,
)
from idp.web.first_party import end_sign_in, start_sign_in
from idp.web.interaction import current_session

bp = Blueprint("company_console", __name__, url_prefix="/company")

CONSOLE_LOGIN = FlowKind("company_console_login", 1800)

METHOD_LABELS = {"certificate": _l("범용인증서"), "approval_password": _l("승인 비밀번호")}

# -- who is here ---------------------------------------------------------------------------

@dataclass
class Manager:
    sess: SsoSession
    member: Member
    company: Company


def _manager() -> Manager | Member | None:
    """The signed-in manager; a signed-in member who is not one; or None."""
    sess = current_session()
    if sess is None:
        return None
    member = db.session.get(Member, sess.member_id)
    if member is None or not member.is_active:
        return None
    if member.member_type != MemberType.COMPANY_MANAGER or not member.managed_company_id:
        return member
    company = db.session.get(Company, member.managed_company_id)
    if company is None or company.status != "active":
        return member
    return Manager(sess, member, company)


def _local_company_path(value: str | None) -> str | None:
    """`value` when it is a console path (never another host: no open redirect)."""
    if not value or not value.startswith("/company") or "//" in value or "\\" in value:
        return None
    return value


def manager_only(view: Callable[..., BaseResponse]) -> Callable[..., BaseResponse]:
    """The view runs for a signed-in company manager; a person goes to MY KOTRA; anyone
    else to the sign-in."""

    @wraps(view)
    def wrapper(**kwargs: Any) -> BaseResponse:
        who = _manager()
        if who is None:
            nxt = request.path if request.method == "GET" else url_for("company_console.home")
            return redirect(url_for("company_console.login", next=nxt), 303)
        if not isinstance(who, Manager):
            if who.member_type == MemberType.COMPANY_MANAGER:
                # the company was refused or put back under review since the sign-in
                return Response(render_template("company/console/inactive.html"), 403)
            return redirect(url_for("my.home"), 303)
        return view(who, **kwargs)

    return wrapper


def _certificates() -> console.CertificateFreshness:
    p = provider()
    return console.CertificateFreshness(
        p.store, p.clock, int(p.settings["company_console"]["certificate_seconds"]))


def _certified_seconds(me: Manager) -> int:
    """Seconds the company's certificate still counts on this session: a 기업인증 here, or a
    sign-in by the certificate itself (the login proved the same company's key), each for
    `[company_console] certificate_seconds`."""
    certificates = _certificates()
    remaining = certificates.remaining(me.sess.sid, me.company.business_number)
    if me.sess.acr == ACR_CERTIFICATE:
        since_login = provider().clock.now() - me.sess.auth_time
        remaining = max(remaining, int(certificates.seconds - since_login))
    return max(0, remaining)


def _certified(me: Manager) -> bool:
    return _certified_seconds(me) > 0


def _kst(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.replace(tzinfo=dt.UTC).astimezone(KST).strftime("%Y-%m-%d %H:%M")


def _page(template: str, me: Manager, status: int = 200, **context: Any) -> BaseResponse:
    return Response(render_template(
        f"company/console/{template}", me=me, kst=_kst,
        business_number=format_business_number(me.company.business_number),
        notices=console.notices(db.session, me.company.id), notice_text=_notice_text,
        notice_form=ActionForm(), **context), status)


def _notice_text(kind: str, data: dict[str, Any]) -> str:
    if kind == "approval_password_locked":
        return _("승인 비밀번호가 여러 번 틀려 잠시 잠겼습니다. 직원이 아닌 사람이 시도했을 수 "
                 "있으니 승인 비밀번호 변경을 검토해 주세요.")
    if kind == "affiliation_joined":
        return _("새 직원이 소속기업으로 등록했습니다: %(name)s", name=data.get("name", "-"))
    if kind == "registration_approved":  # (idp/services/company_review.py)
        return _("기업정보 등록 신청이 승인되었습니다. 이제 기업정보 관리 서비스를 이용하실 수 "
                 "있습니다.")
    if kind == "name_change_approved":
        return _("사명 변경신청이 승인되었습니다.")
    if kind == "name_change_rejected":
        return _("사명 변경신청이 반려되었습니다. 사유: %(reason)s", reason=data.get("reason", "-"))
    return _("새 알림이 있습니다.")


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _per_page() -> int:
    return int(provider().settings["company_console"]["page_size"])


class ActionForm(FlaskForm):
    """CSRF only: the buttons carry their values."""


# -- sign-in through the console client ----------------------------------------------------

@bp.get("/login")
def login() -> BaseResponse:
    """Start the console's authorization request (the login page's 기업정보 관리 tab)."""
    nxt = _local_company_path(request.args.get("next")) or url_for("company_console.home")
    if isinstance(_manager(), Manager):
        return redirect(nxt, 303)
    # A person signed in here must sign in as the company: ask for a fresh login.
    return start_sign_in(console.CONSOLE, CONSOLE_LOGIN, nxt,
                         prompt="login" if current_session() is not None else None)


@bp.get("/callback")
def callback() -> BaseResponse:
    """The end of the console's sign-in: state checked, code deleted, on to the page."""
    flow = end_sign_in(console.CONSOLE, CONSOLE_LOGIN)
    if flow is None or _manager() is None:
        return redirect(url_for("web.home"), 303)
    return redirect(_local_company_path(flow.data.get("next"))
                    or url_for("company_console.home"), 303)


# -- pages -----------------------------------------------------------------------------------

@bp.get("")
@manager_only
def home(me: Manager) -> BaseResponse:
    """MY KOTRA 홈 for the company."""
    return _page("home.html", me,
                 employee_count=len(console.employees(db.session, me.company.id)),
                 balance=console.mileage(db.session, me.company.id, per_page=1).balance,
                 pending=console.pending_name_change(db.session, me.company.id),
                 recent=console.participations(db.session, me.company.id, per_page=5))


@bp.post("/notices/<int:notice_id>/read")
@manager_only
def notice_read(me: Manager, notice_id: int) -> BaseResponse:
    """Mark one notice read (it leaves the top of the console)."""
    if not ActionForm().validate_on_submit():
        return _page("message.html", me, 400, title=_("알림"),
                     message=_("요청이 만료되었습니다. 다시 시도해 주세요."))
    console.mark_notice_read(db.session, company_id=me.company.id, notice_id=notice_id)
    nxt = _local_company_path(request.form.get("next")) or url_for("company_console.home")
    return redirect(nxt, 303)


@bp.get("/services")
@manager_only
def services(me: Manager) -> BaseResponse:
    """기업 신청 사업 내역: the services the company took part in."""
    found = console.participations(db.session, me.company.id, page=_page_number(),
                                   per_page=_per_page())
    return _page("services.html", me, found=found)


@bp.get("/mileage")
@manager_only
def mileage(me: Manager) -> BaseResponse:
    """마일리지 내역: the balance and its history."""
    found = console.mileage(db.session, me.company.id, page=_page_number(),
                            per_page=_per_page())
    return _page("mileage.html", me, found=found)


@bp.get("/employees")
@manager_only
def employees(me: Manager) -> BaseResponse:
    """소속직원 관리: the company's employees (name, ID, how and when they joined)."""
    return _employees_page(me)


def _employees_page(me: Manager, message: str | None = None, status: int = 200
                    ) -> BaseResponse:
    return _page("employees.html", me, status, found=console.employees(db.session, me.company.id),
                 method_labels=METHOD_LABELS, message=message,
                 revoked=request.args.get("revoked"))


@bp.route("/employees/<int:affiliation_id>/revoke", methods=["GET", "POST"])
@manager_only
def revoke(me: Manager, affiliation_id: int) -> BaseResponse:
    """소속 해제, after a confirmation page: the member's company entitlements drop at their
    next token refresh and their sites are signed out (back-channel logout)."""
    employee = next((e for e in console.employees(db.session, me.company.id)
                     if e.affiliation_id == affiliation_id), None)
    if employee is None:
        return _employees_page(me, _("소속직원을 찾을 수 없습니다. 이미 해제되었을 수 있습니다."),
                               404)
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _employees_page(me, _("요청이 만료되었습니다. 다시 시도해 주세요."), 400)
        p = provider()
        try:
            console.revoke_employee(db.session, p.sessions, p.outbox,
                                    company_id=me.company.id, affiliation_id=affiliation_id,
                                    ip=client_ip(), actor=me.member.id)
        except console.NotAnEmployee:
            db.session.rollback()
            return _employees_page(
                me, _("소속직원을 찾을 수 없습니다. 이미 해제되었을 수 있습니다."), 404)
        return redirect(url_for("company_console.employees", revoked="1"), 303)
    return _page("revoke.html", me, form=form, employee=employee,
                 method_labels=METHOD_LABELS)


# -- the certificate -------------------------------------------------------------------------

@bp.get("/certified")
@manager_only
def certified(me: Manager) -> BaseResponse:
    """기업인증: the 인증서찾기 widget's return (purpose "manage"); the certificate must be this
    company's. Recorded on the session for a few minutes."""
    nxt = _local_company_path(request.args.get("next")) or url_for("company_console.info")
    try:
        result = take_certificate("manage")
    except CertificateError as exc:
        db.session.commit()
        return _page("message.html", me, 400, title=_("기업인증"),
                     message=certificate_message(exc.reason), back=nxt)
    if result.business_number != me.company.business_number:
        db.session.commit()
        return _page("message.html", me, 403, title=_("기업인증"),
                     message=_("이 기업의 범용인증서가 아닙니다. %(number)s 기업의 인증서로 "
                               "인증해 주세요.", number=format_business_number(
                                   me.company.business_number)), back=nxt)
    _certificates().mark(me.sess.sid, me.company.business_number)
    db.session.commit()
    return redirect(nxt, 303)


def _certificate_context(me: Manager, nxt: str) -> dict[str, Any]:
    seconds = _certified_seconds(me)
    return {"certified": seconds > 0, "certified_minutes": (seconds + 59) // 60,
            "certify_next": url_for("company_console.certified", next=nxt),
            "raw_business_number": me.company.business_number}


# -- changes ---------------------------------------------------------------------------------

@bp.route("/info", methods=["GET", "POST"])
@manager_only
def info(me: Manager) -> BaseResponse:
    """기업정보 수정 (반드시 기업인증절차를 거친 후): the company's fields; a new 기업명 becomes a
    사명 변경신청 to operators."""
    form = ActionForm()
    values = console.company_values(me.company)
    message, errors, status = None, {}, 200
    if request.method == "POST":
        values = {f.key: request.form.get(f.key, "")[:f.max_length * 4 + 10] for f in FIELDS}
        if not form.validate_on_submit():
            message, status = _("요청이 만료되었습니다. 다시 시도해 주세요."), 400
        else:
            try:
                done = console.update_company(
                    db.session, company_id=me.company.id, form=values,
                    now_year=dt.datetime.fromtimestamp(provider().clock.now(), KST).year,
                    certified=_certified(me), ip=client_ip(), actor=me.member.id)
            except console.CertificateRequired:
                db.session.rollback()
                message, status = _("기업정보를 수정하려면 먼저 기업인증(범용인증서)을 해 "
                                    "주세요."), 403
            except InfoErrors as exc:
                db.session.rollback()
                errors = {k: info_field_message(k, v) for k, v in exc.errors.items()}
                message, status = _("입력한 내용을 확인해 주세요."), 400
            else:
                return redirect(url_for(
                    "company_console.info", saved="1" if done.changed else "0",
                    requested="1" if done.name_change_requested else None), 303)
    return _page("info.html", me, status, form=form, values=values, errors=errors,
                 fields=FIELDS, labels=INFO_LABELS, choices=CHOICE_LABELS, hints=HINTS,
                 countries=country_choices(str(get_locale())), message=message,
                 saved=request.args.get("saved"), requested=request.args.get("requested"),
                 pending=console.pending_name_change(db.session, me.company.id),
                 **_certificate_context(me, url_for("company_console.info")))


APPROVAL_MESSAGES = {
    "format": _l("승인 비밀번호는 숫자 6자리로 입력해 주세요."),
    "trivial": _l("000000, 123456, 111111처럼 쉬운 번호는 사용할 수 없습니다."),
    "confirm": _l("승인 비밀번호를 두 번 똑같이 입력해 주세요."),
}


@bp.route("/approval-password", methods=["GET", "POST"])
@manager_only
def approval_password(me: Manager) -> BaseResponse:
    """승인 비밀번호 변경 (a fresh certificate; tell the employees the new one)."""
    form = ActionForm()
    message, field, status = None, None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            message, status = _("요청이 만료되었습니다. 다시 시도해 주세요."), 400
        else:
            try:
                console.change_approval_password(
                    db.session, provider().passwords, company_id=me.company.id,
                    new=request.form.get("approval_password", ""),
                    confirm=request.form.get("approval_password_confirm", ""),
                    certified=_certified(me), ip=client_ip(), actor=me.member.id)
            except console.CertificateRequired:
                db.session.rollback()
                message, status = _("승인 비밀번호를 변경하려면 먼저 기업인증(범용인증서)을 해 "
                                    "주세요."), 403
            except WeakApprovalPassword as exc:
                db.session.rollback()
                field, message, status = "approval_password", str(
                    APPROVAL_MESSAGES[exc.reason]), 400
            except InvalidInput:
                db.session.rollback()
                field, message, status = "approval_password_confirm", str(
                    APPROVAL_MESSAGES["confirm"]), 400
            else:
                p = provider()
                lift_company_lock(p.store, p.clock, ApprovalLimits.from_settings(
                    p.settings["affiliation"]), me.company)
                return redirect(url_for("company_console.approval_password", done="1"), 303)
    return _page("approval_password.html", me, status, form=form, message=message,
                 field=field, done=request.args.get("done"),
                 changed_at=_kst(me.company.approval_password_changed_at)
                 if me.company.approval_password_changed_at else None,
                 **_certificate_context(me, url_for("company_console.approval_password")))


@bp.route("/password", methods=["GET", "POST"])
@manager_only
def password(me: Manager) -> BaseResponse:
    """기업 로그인 비밀번호 변경: the current one (or a fresh certificate), the new one twice."""
    p = provider()
    form = ActionForm()
    message, field, status = None, None, 200
    certified_now = _certified(me)
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if not form.validate_on_submit():
            message, status = _("요청이 만료되었습니다. 다시 시도해 주세요."), 400
        elif not new or (not certified_now and not request.form.get("current")):
            message, status = _("비밀번호를 입력해 주세요."), 400
            field = "new_password" if not new else "current"
        elif new != request.form.get("confirm", ""):
            message, field, status = (_("변경 비밀번호를 두 번 똑같이 입력해 주세요."), "confirm",
                                      400)
        else:
            try:
                console.change_company_password(
                    db.session, p.passwords, p.policy, p.throttle, manager_id=me.member.id,
                    current=request.form.get("current", ""), new=new,
                    certified=certified_now, ip=client_ip())
            except LoginThrottled as exc:
                message, field, status = _(
                    "시도가 너무 많습니다. %(minutes)d분 후 다시 시도해 주세요.",
                    minutes=max(1, (exc.retry_after + 59) // 60)), "current", 429
            except InvalidCredentials:
                message, field, status = _("현재 비밀번호가 일치하지 않습니다."), "current", 401
            except PasswordUnchanged:
                db.session.rollback()
                message, field, status = _("현재 비밀번호와 다른 비밀번호를 입력해 주세요."), \
                    "new_password", 400
            except InvalidInput:
                db.session.rollback()
                message, field, status = _(
                    "비밀번호는 영문, 숫자, 특수문자를 모두 포함해 %(min)d~%(max)d자로 입력해 "
                    "주세요.", min=p.policy.password_min, max=p.policy.password_max), \
                    "new_password", 400
            else:
                return redirect(url_for("company_console.password", done="1"), 303)
    return _page("password.html", me, status, form=form, message=message, field=field,
                 done=request.args.get("done"), policy=p.policy,
                 **_certificate_context(me, url_for("company_console.password")))


__all__ = ["bp"]
