"""비밀번호 재설정 (manual chapter 08; issue 6; SPEC §3.7): thin pages over
idp/services/password_reset.py.

    GET|POST /reset-password?ia=<uid>          the member's ID (reset.start)
    GET      /reset-password/<fid>             본인확인: 휴대폰 / 신용카드 / 간편인증
    GET      /reset-password/<fid>/verified    the vendor's result (?vr=): the CI must match
    GET|POST /reset-password/<fid>/password    변경 비밀번호, 안전도, 재입력 → 저장하기
    GET      /reset-password/<fid>/done        완료 → 로그인 (the pending sign-in, or home)

Reached from the login page's "비밀번호 재설정" link with the interaction uid (`ia`), kept in
the flow; the done page's 로그인 goes back to that sign-in while it is still pending.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.errors import InvalidInput, LoginThrottled
from idp.extensions import db
from idp.oidc.server import client_ip, provider
from idp.services import password_reset as reset
from idp.services.flows import Flow
from idp.web.verification import VerificationError, refusal_message, take_verification

bp = Blueprint("reset", __name__)

_UID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class ResetForm(FlaskForm):
    """CSRF only: each page reads its few fields itself."""


def _ia_param(value: str | None) -> str | None:
    """An interaction uid as the login page's link passes it (never trusted further than a
    look-up in the browser's own interactions)."""
    return value if value and _UID.match(value) else None


def _use_locale_of(ia: str | None) -> None:
    """Pages of a sign-in speak the language the relying party asked for (ui_locales)."""
    if ia:
        pending = provider().interactions.get(ia, cookies().browser.read())
        if pending is not None:
            g.ui_locales = pending.params.get("ui_locales")


def _login_target(ia: str | None) -> str:
    """Back to the pending sign-in (its login page), else the provider's home page."""
    if ia and provider().interactions.get(ia, cookies().browser.read()) is not None:
        return url_for("web.login_page", uid=ia)
    return url_for("web.home")


def not_matched_message() -> str:
    # One message for an unknown ID, another person, no verified identity, an old site's
    # account: no account enumeration.
    return _("입력하신 아이디와 본인확인 정보가 일치하는 회원을 찾을 수 없습니다. "
             "아이디를 확인하신 후 다시 시도해 주세요.")


def _throttled_message(exc: LoginThrottled) -> str:
    minutes = max(1, (exc.retry_after + 59) // 60)
    return _("비밀번호 재설정 시도가 너무 많습니다. %(minutes)d분 후 다시 시도해 주세요.",
             minutes=minutes)


def _start_page(message: str | None = None, status: int = 200, login_id: str = "",
                ia: str | None = None) -> BaseResponse:
    return Response(render_template(
        "reset/start.html", form=ResetForm(), message=message, login_id=login_id, ia=ia,
        cancel=_login_target(ia)), status)


def _gone() -> BaseResponse:
    """The flow expired, was used, or is another browser's: start again."""
    return _start_page(_("비밀번호 재설정 시간이 지났습니다. 처음부터 다시 진행해 주세요."), 400)


@bp.route("/reset-password", methods=["GET", "POST"])
def start() -> BaseResponse:
    """Step 1: the member's ID."""
    ia = _ia_param(request.values.get("ia"))
    _use_locale_of(ia)
    if request.method == "GET":
        if request.args.get("retry"):  # the verification matched no account (PRG)
            return _start_page(not_matched_message(), 400, ia=ia)
        return _start_page(ia=ia)
    form = ResetForm()
    login_id = request.form.get("login_id", "")[:40]
    if not form.validate_on_submit():
        return _start_page(_("요청이 만료되었습니다. 다시 시도해 주세요."), 400, login_id, ia)
    try:
        flow = reset.begin(provider().flows, login_id=login_id, ia=ia, browser=browser_id())
    except InvalidInput:
        return _start_page(_("아이디를 입력해 주세요."), 400, login_id, ia)
    db.session.commit()
    return redirect(url_for("reset.verify", fid=flow.id), 303)


def _flow(fid: str) -> Flow | None:
    try:
        flow = reset.current(provider().flows, fid, browser=cookies().browser.read())
    except reset.ResetGone:
        return None
    _use_locale_of(flow.data.get("ia"))
    return flow


def _verify_page(flow: Flow, message: str | None = None, status: int = 200) -> BaseResponse:
    return Response(render_template(
        "reset/verify.html", flow=flow, message=message,
        next_path=url_for("reset.verified", fid=flow.id),
        restart=url_for("reset.start", ia=flow.data.get("ia"))), status)


@bp.get("/reset-password/<fid>")
def verify(fid: str) -> BaseResponse:
    """Step 2: 휴대폰 / 신용카드 / 간편인증 (the verify_buttons macro)."""
    flow = _flow(fid)
    if flow is None:
        return _gone()
    if flow.data.get("member_id"):
        return redirect(url_for("reset.password", fid=fid), 303)
    refused = request.args.get("refused")  # the result page sent the browser back (PRG)
    if refused:
        return _verify_page(flow, refusal_message(refused), 400)
    return _verify_page(flow)


@bp.get("/reset-password/<fid>/verified")
def verified(fid: str) -> BaseResponse:
    """The vendor's answer: the verified person must own the account."""
    flow = _flow(fid)
    if flow is None:
        return _gone()
    try:
        identity = take_verification("reset_password")
    except VerificationError as exc:
        db.session.commit()
        return redirect(url_for("reset.verify", fid=fid, refused=exc.reason), 303)
    try:
        reset.match_identity(db.session, provider(), flow, identity, ip=client_ip())
    except LoginThrottled as exc:
        resp = _verify_page(flow, _throttled_message(exc), 429)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except reset.NotMatched:
        # Back to the ID: it may be mistyped. The same words whatever did not match.
        provider().flows.discard(flow.id)
        db.session.commit()
        return redirect(url_for("reset.start", ia=flow.data.get("ia"), retry=1), 303)
    return redirect(url_for("reset.password", fid=fid), 303)


def _field_message(field: str) -> str:
    policy = provider().policy
    if field == "confirm":
        return _("비밀번호가 일치하지 않습니다. 다시 입력해 주세요.")
    return _("비밀번호는 영문, 숫자, 특수문자를 모두 포함해 %(min)d~%(max)d자로 입력해 주세요. "
             "아이디나 이름이 들어간 비밀번호는 사용할 수 없습니다.",
             min=policy.password_min, max=policy.password_max)


@bp.route("/reset-password/<fid>/password", methods=["GET", "POST"])
def password(fid: str) -> BaseResponse:
    """Step 3: 변경 비밀번호 twice, with 안전도; 저장하기 changes it once."""
    p = provider()
    browser = cookies().browser.read()
    if request.method == "POST" and reset.finished(p.store, fid, browser=browser):
        return redirect(url_for("reset.done", fid=fid), 303)  # a double submit
    flow = _flow(fid)
    if flow is None:
        return _gone()
    try:
        member = reset.verified_member(db.session, flow)
    except reset.ResetGone:
        return redirect(url_for("reset.verify", fid=fid), 303)
    form = ResetForm()
    message = field = None
    if request.method == "POST":
        if not form.validate_on_submit():
            return _gone()
        try:
            reset.change_password(
                db.session, p, fid, browser=browser or "",
                password=request.form.get("password", "")[:128],
                confirm=request.form.get("confirm", "")[:128], ip=client_ip())
        except InvalidInput as exc:
            db.session.rollback()
            field = "confirm" if exc.field == "confirm" else "password"
            message = _field_message(field)
        except reset.PasswordUnchanged:
            db.session.rollback()
            field, message = "password", _("현재 비밀번호와 다른 비밀번호를 입력해 주세요.")
        except reset.ResetGone:
            db.session.rollback()
            return redirect(url_for("reset.done", fid=fid), 303)
        else:
            return redirect(url_for("reset.done", fid=fid), 303)
    return Response(render_template(
        "reset/password.html", form=form, flow=flow, login_id=member.login_id,
        message=message, field=field, policy=p.policy), 400 if message else 200)


@bp.get("/reset-password/<fid>/done")
def done(fid: str) -> BaseResponse:
    """완료: 로그인 goes back to the pending sign-in, else home."""
    data = reset.finished(provider().store, fid, browser=cookies().browser.read())
    if data is None:
        return _gone()
    _use_locale_of(data.get("ia"))
    return Response(render_template("reset/done.html", login_id=data["login_id"],
                                    login_url=_login_target(data.get("ia"))))
