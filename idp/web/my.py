"""MY KOTRA at /my (issue 6; SPEC §3.8; the manual's §6 "회원정보 수정 및 탈퇴").

Signing in: MY KOTRA is a first-party client of this provider (`mykotra`, registered on first
use; Keycloak's account console is a client of its realm the same way). A visitor without an
SSO session is sent through an ordinary authorization request, so every login method, the
forced password change, the re-consent step and the throttles apply unchanged; the request
ends at /my/callback, which checks its state (a flow bound to this browser) and deletes the
code unexchanged: the console runs inside the provider and reads the SSO session itself.

Every form has a CSRF token (app-wide CSRFProtect); every change is one transaction with an
audit event (idp/services/my_account.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask.sansio.app import App
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from idp.cookies import cookies
from idp.errors import InvalidCredentials, InvalidInput, LoginThrottled
from idp.extensions import db
from idp.models import Company, Member, MemberIdentity, TermsDocument
from idp.oidc.server import client_ip, provider
from idp.services import my_account as my
from idp.services.affiliations import end_affiliation
from idp.services.business_numbers import InvalidNumber
from idp.services.certificates import CertificateError
from idp.services.flows import FlowKind
from idp.services.interests import (
    FIELD_COUNTRY,
    FIELD_HS,
    Interests,
    InterestsRefused,
    load_interests,
    parse_picker_form,
)
from idp.services.interests import describe as describe_interests
from idp.services.legacy_import import KST
from idp.services.password_change import PasswordUnchanged
from idp.services.sessions import SsoSession
from idp.services.terms import CHANNELS, DEFAULT_TITLES
from idp.web import affiliation as aff
from idp.web.certificate import certificate_message, take_certificate
from idp.web.first_party import end_sign_in, start_sign_in
from idp.web.forms import PRINTABLE
from idp.web.interaction import current_session
from idp.web.interests import refusal_message as interests_refusal
from idp.web.verification import VerificationError, refusal_message, take_verification

bp = Blueprint("my", __name__, url_prefix="/my")

MY_LOGIN = FlowKind("my_login", 1800)

CHANNEL_LABELS = {"email": _l("이메일"), "sms": _l("문자(SMS)")}
SOURCE_LABELS = {"signup": _l("회원가입"), "sns_signup": _l("간편회원 가입"),
                 "conversion": _l("기존회원 전환"), "reconsent": _l("재동의"),
                 "mykotra": "MY KOTRA", "demo": _l("시험용")}


# -- who is here ---------------------------------------------------------------------------

@dataclass
class Me:
    sess: SsoSession
    member: Member


def _me() -> Me | None:
    sess = current_session()
    if sess is None:
        return None
    member = db.session.get(Member, sess.member_id)
    if member is None or not member.is_active:
        return None
    return Me(sess, member)


def _local_my_path(value: str | None) -> str | None:
    """`value` when it is a MY KOTRA path (never another host: no open redirect)."""
    if not value or not value.startswith(("/my", "/company/register/")) or "//" in value \
            or "\\" in value:  # (issue 7: a new company's applicant signs in and comes back)
        return None
    return value


def signed_in(view: Callable[[Me], BaseResponse]) -> Callable[[], BaseResponse]:
    """The view runs for a signed-in active member; anyone else goes to the sign-in."""

    @wraps(view)
    def wrapper() -> BaseResponse:
        me = _me()
        if me is None:
            nxt = request.path if request.method == "GET" else url_for("my.home")
            return redirect(url_for("my.login", next=nxt), 303)
        if me.member.member_type == "company_manager":  # issue 7: MY KOTRA for a company
            return redirect(url_for("company_console.home"), 303)
        g.me = me
        return view(me)

    return wrapper


def _now() -> dt.datetime:
    """The provider's clock as naive UTC (the database's convention)."""
    return dt.datetime.fromtimestamp(provider().clock.now(), dt.UTC).replace(tzinfo=None)


def _reauth() -> my.Reauth:
    p = provider()
    return my.Reauth(p.store, p.clock, int(p.settings["mykotra"]["reauth_seconds"]))


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    return Response(render_template(template, **context), status)


def _throttled_message(exc: LoginThrottled) -> str:
    if exc.locked:
        return _("시도가 너무 많습니다. %(minutes)d분 후 다시 시도해 주세요.",
                 minutes=max(1, (exc.retry_after + 59) // 60))
    return _("시도가 너무 많습니다. %(seconds)d초 후 다시 시도해 주세요.",
             seconds=exc.retry_after)


# -- sign-in through the console client ----------------------------------------------------

@bp.get("/login")
def login() -> BaseResponse:
    """Start MY KOTRA's authorization request (the provider's own login page follows)."""
    nxt = _local_my_path(request.args.get("next")) or url_for("my.home")
    if _me() is not None:
        return redirect(nxt, 303)
    return start_sign_in(my.CONSOLE, MY_LOGIN, nxt)


@bp.get("/callback")
def callback() -> BaseResponse:
    """The end of MY KOTRA's sign-in: state checked, code deleted, on to the page asked for."""
    flow = end_sign_in(my.CONSOLE, MY_LOGIN)
    if flow is None or _me() is None:
        # Not this browser's request, or the login ended without a session (declined terms):
        # the home page, which offers the sign-in again.
        return redirect(url_for("web.home"), 303)
    return redirect(_local_my_path(flow.data.get("next")) or url_for("my.home"), 303)


# -- pages -----------------------------------------------------------------------------------

@bp.get("")
@signed_in
def home(me: Me) -> BaseResponse:
    """MY KOTRA 홈: who is signed in and the menu."""
    return _page("my/home.html", me=me, joined=_kst(me.member.created_at))


def _kst(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.replace(tzinfo=dt.UTC).astimezone(KST).strftime("%Y-%m-%d %H:%M")


def _kst_epoch(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, KST).strftime("%Y-%m-%d %H:%M")


class ProfileForm(FlaskForm):
    email = StringField(_l("이메일"), validators=[DataRequired(), Length(max=254), PRINTABLE])
    name_en = StringField(_l("영문 이름"), validators=[Length(max=100), PRINTABLE])
    fax = StringField(_l("팩스번호"), validators=[Length(max=30), PRINTABLE])
    department = StringField(_l("부서"), validators=[Length(max=100), PRINTABLE])
    position = StringField(_l("직위"), validators=[Length(max=100), PRINTABLE])
    address_en = StringField(_l("영문 주소"), validators=[Length(max=300), PRINTABLE])


PROFILE_MESSAGES = {
    "email": _l("올바른 이메일 주소를 입력해 주세요."),
    "fax": _l("팩스번호는 숫자와 -로 입력해 주세요. (예: 02-3460-7114)"),
    "name_en": _l("영문 이름은 영문으로 입력해 주세요."),
    "address_en": _l("영문 주소는 영문으로 입력해 주세요."),
}


@bp.route("/profile", methods=["GET", "POST"])
@signed_in
def profile(me: Me) -> BaseResponse:
    """회원정보 수정: email (needs a fresh re-authentication) and the optional fields; the
    verified name is read-only; the mobile number comes from an identity verification."""
    form = ProfileForm(obj=me.member) if request.method == "GET" else ProfileForm()
    message, field, status, needs_reauth = None, None, 200, False
    if request.method == "POST":
        if not form.validate_on_submit():
            field = next(iter(form.errors), None)
            message, status = str(PROFILE_MESSAGES.get(field or "", _(
                "입력하신 내용을 확인해 주세요."))), 400
        else:
            try:
                changed = my.update_profile(
                    db.session, member_id=me.member.id, email=form.email.data or "",
                    optional={f: getattr(form, f).data or "" for f in my.OPTIONAL_FIELDS},
                    reauthenticated=_reauth().fresh(me.sess.sid), ip=client_ip(),
                    now=_now(), mail=provider().mail,
                    interests=(parse_picker_form(request.form)
                               if request.form.get("interests_shown") else None))
            except my.ReauthRequired:
                db.session.rollback()
                message, field, status = _(
                    "이메일을 변경하려면 본인 확인이 필요합니다. 비밀번호를 다시 입력해 주세요."
                ), "email", 403
                needs_reauth = True
            except InterestsRefused as exc:
                db.session.rollback()
                field, message, status = exc.field, interests_refusal(exc), 400
            except InvalidInput as exc:
                db.session.rollback()
                field = exc.field
                message, status = str(PROFILE_MESSAGES.get(field, _(
                    "입력하신 내용을 확인해 주세요."))), 400
            else:
                return redirect(url_for("my.profile", saved="1" if changed else "0"), 303)
    return _page("my/profile.html", status, me=me, form=form, message=message, field=field,
                 needs_reauth=needs_reauth,
                 saved=request.args.get("saved"), phone_changed=request.args.get("phone"),
                 fresh=_reauth().fresh(me.sess.sid),
                 identity_name=_identity_name(me.member.id),
                 interests=_profile_interests(me.member.id, field))


def _profile_interests(member_id: int, field: str | None) -> Interests:
    """What the picker shows: the member's, or what was posted when it was refused."""
    if request.method == "POST" and field in (FIELD_HS, FIELD_COUNTRY):
        return describe_interests(db.session, *parse_picker_form(request.form))
    return load_interests(db.session, member_id)


def _identity_name(member_id: int) -> str | None:
    return db.session.scalar(select(MemberIdentity.name)
                             .where(MemberIdentity.member_id == member_id))


class ReauthForm(FlaskForm):
    password = PasswordField(_l("비밀번호"), validators=[DataRequired(), Length(max=128),
                                                       PRINTABLE])


@bp.route("/reauth", methods=["GET", "POST"])
@signed_in
def reauth(me: Me) -> BaseResponse:
    """본인 확인: the password again (or an identity verification) before a sensitive change."""
    nxt = _local_my_path(request.values.get("next")) or url_for("my.profile")
    form = ReauthForm()
    message, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            message, status = _("비밀번호를 입력해 주세요."), 400
        else:
            p = provider()
            try:
                my.check_password(db.session, p.passwords, p.throttle, member_id=me.member.id,
                                  password=form.password.data or "", ip=client_ip(),
                                  purpose="reauth")
            except LoginThrottled as exc:
                message, status = _throttled_message(exc), 429
            except InvalidCredentials:
                message, status = _("비밀번호가 일치하지 않습니다."), 401
            else:
                _reauth().mark(me.sess.sid)
                db.session.commit()  # the embedded store writes in this transaction
                return redirect(nxt, 303)
    return _page("my/reauth.html", status, me=me, form=form, message=message, next=nxt)


@bp.get("/reauth/verified")
@signed_in
def reauth_verified(me: Me) -> BaseResponse:
    """본인 확인 by an identity verification (purpose reauth) of this very member."""
    nxt = _local_my_path(request.args.get("next")) or url_for("my.profile")
    try:
        identity = take_verification("reauth")
        my.check_identity(db.session, provider().personal_data, member_id=me.member.id,
                          identity=identity)
    except VerificationError as exc:
        return _page("my/message.html", 400, me=me, title=_("본인 확인"),
                     message=refusal_message(exc.reason), back=url_for("my.reauth", next=nxt))
    except my.NotTheMember:
        return _page("my/message.html", 403, me=me, title=_("본인 확인"),
                     message=_("회원님 본인 명의로 인증해 주세요."),
                     back=url_for("my.reauth", next=nxt))
    _reauth().mark(me.sess.sid)
    db.session.commit()
    return redirect(nxt, 303)


@bp.get("/phone")
@signed_in
def phone(me: Me) -> BaseResponse:
    """휴대폰 번호 변경: the number of an identity verification (purpose reauth) of this very
    member; the verification is itself the re-authentication."""
    p = provider()
    try:
        identity = take_verification("reauth")
    except VerificationError as exc:
        return _page("my/message.html", 400, me=me, title=_("휴대폰 번호 변경"),
                     message=refusal_message(exc.reason), back=url_for("my.profile"))
    try:
        my.change_phone(db.session, p.personal_data, member_id=me.member.id,
                        identity=identity, ip=client_ip(), now=_now(),
                        password_fresh=_reauth().fresh(me.sess.sid))
    except my.NotTheMember:
        db.session.rollback()
        return _page("my/message.html", 403, me=me, title=_("휴대폰 번호 변경"),
                     message=_("회원님 본인 명의로 인증해 주세요."), back=url_for("my.profile"))
    except InvalidInput:
        db.session.rollback()
        return _page("my/message.html", 400, me=me, title=_("휴대폰 번호 변경"),
                     message=_("휴대폰 번호를 확인할 수 없는 인증 수단입니다. "
                               "휴대폰 인증을 이용해 주세요."),
                     back=url_for("my.profile"))
    _reauth().mark(me.sess.sid)
    db.session.commit()
    return redirect(url_for("my.profile", phone="1"), 303)


class PasswordForm(FlaskForm):
    current = PasswordField(_l("현재 비밀번호"),
                            validators=[DataRequired(), Length(max=128), PRINTABLE])
    new_password = PasswordField(_l("변경 비밀번호"),
                                 validators=[DataRequired(), Length(max=128), PRINTABLE])
    confirm = PasswordField(_l("변경 비밀번호 재입력"),
                            validators=[DataRequired(), EqualTo("new_password")])


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def password(me: Me) -> BaseResponse:
    """비밀번호 변경: the current one, the new one twice (안전도); other sessions signed out."""
    p = provider()
    form = PasswordForm()
    message, field, status = None, None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            field = next(iter(form.errors), None)
            message = (_("변경 비밀번호를 두 번 똑같이 입력해 주세요.")
                       if field == "confirm" else _("비밀번호를 입력해 주세요."))
            status = 400
        else:
            try:
                done = my.change_password(
                    db.session, p.passwords, p.policy, p.throttle, p.revocation,
                    member_id=me.member.id, current=form.current.data or "",
                    new=form.new_password.data or "", keep_sid=me.sess.sid, ip=client_ip(),
                    now=_now(), mail=p.mail)
            except LoginThrottled as exc:
                message, field, status = _throttled_message(exc), "current", 429
            except InvalidCredentials:
                message, field, status = _("현재 비밀번호가 일치하지 않습니다."), "current", 401
            except PasswordUnchanged:
                db.session.rollback()
                message, field, status = _("현재 비밀번호와 다른 비밀번호를 입력해 주세요."), \
                    "new_password", 400
            except InvalidInput as exc:
                db.session.rollback()
                field, status = "new_password", 400
                message = (_("비밀번호에 아이디나 이름을 넣을 수 없습니다.")
                           if "must not contain" in exc.message else
                           _("비밀번호는 영문, 숫자, 특수문자를 모두 포함해 %(min)d~%(max)d자로 "
                             "입력해 주세요.", min=p.policy.password_min,
                             max=p.policy.password_max))
            else:
                return redirect(url_for("my.password", done=done.sessions), 303)
    return _page("my/password.html", status, me=me, form=form, message=message, field=field,
                 policy=p.policy, done=request.args.get("done"))


class ActionForm(FlaskForm):
    """CSRF only: the buttons carry their values."""


@bp.route("/consents", methods=["GET", "POST"])
@signed_in
def consents(me: Me) -> BaseResponse:
    """동의 관리: marketing per channel (opt in / out, with history) and the terms agreed."""
    form = ActionForm()
    message, status = None, 200
    if request.method == "POST":
        channel, decision = request.form.get("channel", ""), request.form.get("decision", "")
        if not form.validate_on_submit() or decision not in ("in", "out"):
            message, status = _("잘못된 요청입니다."), 400
        else:
            try:
                my.set_marketing(db.session, member_id=me.member.id, channel=channel,
                                 agreed=decision == "in", ip=client_ip(), now=_now())
            except InvalidInput:
                db.session.rollback()
                message, status = _("잘못된 요청입니다."), 400
            else:
                return redirect(url_for("my.consents", saved=channel), 303)
    marketing, terms = my.consent_history(db.session, me.member.id)
    latest = {c: next((m for m in marketing if m.channel == c), None) for c in CHANNELS}
    return _page("my/consents.html", status, me=me, form=form, message=message,
                 latest=latest, marketing=marketing, terms=terms, kst=_kst,
                 channel_labels=CHANNEL_LABELS, source_labels=SOURCE_LABELS,
                 terms_title=_terms_title, saved=request.args.get("saved"))


def _terms_title(kind: str) -> str:
    doc = db.session.scalar(select(TermsDocument).where(TermsDocument.kind == kind)
                            .order_by(TermsDocument.version.desc()).limit(1))
    ko, en = ((doc.title_ko, doc.title_en) if doc is not None
              else DEFAULT_TITLES.get(kind, (kind, kind)))
    return en if str(get_locale()) == "en" else ko


@bp.get("/sessions")
@signed_in
def sessions(me: Me) -> BaseResponse:
    """로그인 기기 관리: the member's SSO sessions (device, time, IP)."""
    return _sessions_page(me)


def _sessions_page(me: Me, message: str | None = None, status: int = 200) -> BaseResponse:
    live = provider().sessions.for_member(me.member.id)
    return _page("my/sessions.html", status, me=me, form=ActionForm(), live=live,
                 device=my.describe_device, kst=_kst_epoch, message=message,
                 ended=request.args.get("ended"))


@bp.post("/sessions/end")
@signed_in
def end_one_session(me: Me) -> BaseResponse:
    """Sign out one other session of the member (never somebody else's)."""
    p = provider()
    sid = request.form.get("sid", "")
    target = p.sessions.by_sid(sid) if sid else None
    if target is None or target.member_id != me.member.id:
        return _sessions_page(
            me, _("로그인 기록을 찾을 수 없습니다. 이미 로그아웃되었을 수 있습니다."), 404)
    if target.sid == me.sess.sid:
        return _sessions_page(
            me, _("지금 사용 중인 기기는 로그아웃 메뉴로 로그아웃해 주세요."), 400)
    p.revocation.end_session(db.session, target, reason="mykotra_signed_out", ip=client_ip())
    return redirect(url_for("my.sessions", ended="1"), 303)


@bp.post("/sessions/end-others")
@signed_in
def end_other_sessions(me: Me) -> BaseResponse:
    """다른 기기 모두 로그아웃 (back-channel logout for each)."""
    done = provider().revocation.end_other_sessions(
        db.session, me.member.id, keep_sid=me.sess.sid, reason="mykotra_signed_out",
        ip=client_ip())
    return redirect(url_for("my.sessions", ended=str(done.sessions)), 303)


@bp.get("/sites")
@signed_in
def sites(me: Me) -> BaseResponse:
    """연결된 사이트: relying parties the member consented to or holds tokens for."""
    return _sites_page(me)


def _sites_page(me: Me, message: str | None = None, status: int = 200) -> BaseResponse:
    found = my.connected_sites(db.session, me.member.id, now=provider().clock.now())
    return _page("my/sites.html", status, me=me, form=ActionForm(), sites=found,
                 kst=_kst, kst_epoch=_kst_epoch, message=message,
                 revoked=request.args.get("revoked"))


@bp.post("/sites/revoke")
@signed_in
def revoke_site(me: Me) -> BaseResponse:
    """Revoke one site's consent and tokens (it is told by back-channel logout)."""
    p = provider()
    try:
        my.revoke_site(db.session, p.revocation, member_id=me.member.id,
                       client_id=request.form.get("client_id", ""), ip=client_ip(),
                       now=p.clock.now())
    except my.NotConnected:
        db.session.rollback()
        return _sites_page(me, _("연결된 사이트가 아닙니다."), 404)
    return redirect(url_for("my.sites", revoked="1"), 303)


@bp.get("/sns")
@signed_in
def sns(me: Me) -> BaseResponse:
    """SNS 계정 연결 (issue 9): the member's links, 연결 (a fresh SNS round trip) and 연결 해제
    (never the last way to sign in). idp/web/sns_link.py."""
    from idp.web.sns_link import links_page

    return links_page(me.member)


@bp.post("/sns/link")
@signed_in
def sns_link(me: Me) -> BaseResponse:
    """연결: a round trip with the chosen SNS, for this member (the callback adds the link).
    A new way to sign in outlives a password reset, so it needs a fresh 본인 확인 first, like
    an email change: a browser left signed in must not be enough."""
    from idp.web.sns_link import start_link

    if me.member.member_type != "simple" and not _reauth().fresh(me.sess.sid):
        return redirect(url_for("my.reauth", next=url_for("my.sns")), 303)
    return start_link(me.member)  # a simple member is refused there


@bp.post("/sns/unlink")
@signed_in
def sns_unlink(me: Me) -> BaseResponse:
    """연결 해제 of one link of this member."""
    from idp.web.sns_link import unlink

    return unlink(me.member)


# -- 소속기업 관리 (issue 7; SPEC §3.8; idp/web/affiliation.py) ----------------------------------

def _company_page(me: Me, *, status: int = 200, business_number: str = "",
                  record: Any = None, message: str | None = None, field: str | None = None,
                  notice: str | None = None) -> BaseResponse:
    current = me.member.affiliation
    locked = None
    if record is not None and current is None:
        company = db.session.scalar(select(Company).where(
            Company.business_number == record.business_number))
        if company is not None:
            refused = aff.service.approval_lock(
                provider().store, provider().clock, aff.limits(), company,
                who=aff.member_key(me.member), ip=client_ip())
            locked = aff.refusal_message(refused) if refused is not None else None
    return _page("my/company.html", status, me=me, form=ActionForm(), current=current,
                 record=record, business_number=business_number, message=message,
                 field=field, notice=notice, locked=locked, kst=_kst,
                 method_labels=aff.METHOD_LABELS, register_url=aff.COMPANY_REGISTER,
                 general=me.member.member_type == "general")


@bp.get("/company")
@signed_in
def company(me: Me) -> BaseResponse:
    """소속기업 관리: the current affiliation, or the search (?business_number=) to join one."""
    notice = {"joined": _("소속기업이 등록되었습니다."),
              "left": _("소속기업 등록이 해제되었습니다.")}.get(request.args.get("done", ""))
    number = request.args.get("business_number", "")[:20].strip()
    if not number or me.member.affiliation is not None:
        return _company_page(me, notice=notice)
    try:
        _company, record = aff.search(number)
    except aff.service.AffiliationRefused as exc:
        return _company_page(me, status=429 if exc.reason == "too_many" else 400,
                             business_number=number, message=aff.refusal_message(exc),
                             field="business_number")
    return _company_page(me, business_number=record.business_number, record=record)


@bp.post("/company/join")
@signed_in
def company_join(me: Me) -> BaseResponse:
    """승인 비밀번호로 소속기업 등록: checked now, within its limits."""
    form = ActionForm()
    number = request.form.get("business_number", "")[:20]
    if not form.validate_on_submit():
        return _company_page(me, status=400, message=_("잘못된 요청입니다."))
    try:
        aff.service.can_join(me.member)
        company_row, record = aff.service.find_joinable(
            db.session, provider().company_directory, number)
    except InvalidNumber:
        return _company_page(me, status=400, business_number=number, field="business_number",
                             message=str(aff.MESSAGES["business_number"]))
    except aff.service.AffiliationRefused as exc:
        return _company_page(me, status=400, business_number=number,
                             message=aff.refusal_message(exc))
    try:
        aff.check_approval_password(company_row, request.form.get("approval_password", "")[:20],
                                    who=aff.member_key(me.member), member_id=me.member.id)
        aff.service.join(db.session, me.member, company_row, method="approval_password",
                         ip=client_ip(), now=_now())
    except aff.service.AffiliationRefused as exc:
        db.session.rollback()
        status = 429 if exc.reason in ("locked", "busy") else 400
        return _company_page(me, status=status, business_number=record.business_number,
                             record=record, message=aff.refusal_message(exc),
                             field="approval_password")
    db.session.commit()
    return redirect(url_for("my.company", done="joined"), 303)


@bp.get("/company/certified")
@signed_in
def company_certified(me: Me) -> BaseResponse:
    """The 인증서찾기 widget comes back here (?cr=): join by the company's certificate."""
    number = request.args.get("business_number", "")[:20]
    try:
        certified = take_certificate("affiliate")
    except CertificateError as exc:
        db.session.commit()
        return _company_page(me, status=400, business_number=number,
                             message=certificate_message(exc.reason))
    try:
        company_row, record = aff.service.find_joinable(
            db.session, provider().company_directory, number)
        aff.service.check_certificate(company_row, certified)
        aff.service.join(db.session, me.member, company_row, method="certificate",
                         ip=client_ip(), now=_now(), certified=certified)
    except InvalidNumber:
        db.session.rollback()
        return _company_page(me, status=400, message=str(aff.MESSAGES["business_number"]))
    except aff.service.AffiliationRefused as exc:
        db.session.rollback()
        return _company_page(me, status=400, business_number=number,
                             message=aff.refusal_message(exc))
    db.session.commit()
    return redirect(url_for("my.company", done="joined"), 303)


@bp.route("/company/leave", methods=["GET", "POST"])
@signed_in
def company_leave(me: Me) -> BaseResponse:
    """소속 해제, after a confirmation page."""
    current = me.member.affiliation
    if current is None:
        return redirect(url_for("my.company"), 303)
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit() or request.form.get("confirm") != "yes":
            return _page("my/company_leave.html", 400, me=me, form=form, current=current,
                         message=_("소속 해제에 동의해 주세요."))
        p = provider()
        end_affiliation(db.session, p.sessions, p.outbox, current, ended_by="left",
                        ip=client_ip(), actor=me.member.id)
        db.session.commit()
        return redirect(url_for("my.company", done="left"), 303)
    return _page("my/company_leave.html", me=me, form=form, current=current, message=None)


class WithdrawForm(FlaskForm):
    password = PasswordField(_l("비밀번호"), validators=[DataRequired(), Length(max=128),
                                                       PRINTABLE])
    confirm = BooleanField(_l("안내 사항을 모두 확인하였으며, 회원탈퇴에 동의합니다."),
                           validators=[DataRequired()])


@bp.route("/withdraw", methods=["GET", "POST"])
@signed_in
def withdraw(me: Me) -> BaseResponse:
    """회원탈퇴: the password again; then personal data deleted per docs/privacy.md."""
    p = provider()
    form = WithdrawForm()
    message, field, status = None, None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            field = "confirm" if form.confirm.errors else "password"
            message = (_("안내 사항을 확인하고 동의해 주세요.") if field == "confirm"
                       else _("비밀번호를 입력해 주세요."))
            status = 400
        else:
            try:
                my.withdraw(db.session, p.passwords, p.throttle, p.revocation,
                            member_id=me.member.id, password=form.password.data or "",
                            ip=client_ip(), now=_now())
            except LoginThrottled as exc:
                message, field, status = _throttled_message(exc), "password", 429
            except InvalidCredentials:
                message, field, status = _("비밀번호가 일치하지 않습니다."), "password", 401
            else:
                resp = _page("my/withdrawn.html")
                cookies().sso.delete(resp)
                return resp
    return _page("my/withdraw.html", status, me=me, form=form, message=message, field=field)


# -- the header (manual §6: "로그인 성공 시 mykotra/로그아웃 메뉴로 전환") ------------------

def _header_signed_in() -> dict[str, Any]:
    def signed_in_here() -> bool:
        try:
            return current_session() is not None
        except Exception:  # noqa: BLE001 — the header never breaks a page (store outage)
            return False
    return {"header_signed_in": signed_in_here}


def _register(app: App) -> None:
    app.context_processor(_header_signed_in)


bp.record_once(lambda state: _register(state.app))

__all__ = ["bp"]
