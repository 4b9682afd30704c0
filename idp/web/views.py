"""The login page (three tabs), the steps after it (a required password change, consent), and
the resumption of the authorization request. Each ends in idp/web/interaction."""

from __future__ import annotations

import json

from authlib.oauth2.rfc6749 import AccessDeniedError, OAuth2Error
from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import cookies
from idp.errors import InvalidCredentials, InvalidInput, LoginThrottled
from idp.extensions import db
from idp.models import Consent, Member, OAuthClient
from idp.oidc import authorize as pipeline
from idp.oidc.server import client_ip, provider, query_client
from idp.services import audit
from idp.services.claims import (
    ACR_CERTIFICATE,
    ACR_FEDERATED,
    ACR_IDENTITY,
    ACR_PASSWORD,
    AcrRequest,
)
from idp.services.company_console import CONSOLE_CLIENT_ID as COMPANY_CONSOLE_CLIENT_ID
from idp.services.legacy_conversion import LegacyMatch, LegacyPasswordCheck
from idp.services.login import PASSWORD
from idp.services.members import authenticate_password
from idp.services.password_change import PasswordUnchanged, change_required_password
from idp.services.sessions import Interaction
from idp.web import affiliation
from idp.web.forms import ConsentForm, GeneralLoginForm, PasswordChangeForm
from idp.web.interaction import (
    current_interaction,
    current_session,
    finish_login,
    register_login_method,
    step_done,
)

bp = Blueprint("web", __name__)
register_login_method(bp, PASSWORD)  # the 일반회원 tab below

LOGIN_TABS = ("general", "simple", "company")
# How the login page names the authentication context a relying party asked for.
ACR_LABELS = {
    ACR_PASSWORD: _l("아이디·비밀번호 로그인"),
    ACR_FEDERATED: _l("SNS 간편로그인"),
    ACR_IDENTITY: _l("간편인증(본인확인)"),
    ACR_CERTIFICATE: _l("공동인증서"),
}

# Why an SNS round trip came back to the login page (idp/web/sns.py).
SNS_MESSAGES = {
    "cancelled": _l("SNS 로그인이 취소되었습니다."),
    "refused": _l("SNS 로그인에 실패했습니다. 다시 시도해 주세요."),
    "failed": _l("SNS 로그인에 실패했습니다. 다시 시도해 주세요."),
    "unavailable": _l("SNS 서비스에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요."),
    "expired": _l("요청이 만료되었습니다. 다시 시도해 주세요."),
    "linked": _l("이미 가입된 SNS 계정입니다. 다시 로그인해 주세요."),
}


def _expired() -> BaseResponse:
    return Response(render_template("oidc/error.html", error="interaction_expired"), 400)


def _needed_acr(ia: Interaction) -> str | None:
    """The authentication context the pending request asks for, when a login here can reach
    it (a voluntary class nothing reaches is not asked of the user)."""
    try:
        wanted = pipeline.requested_acr(ia.params, ia.params.get("redirect_uri", ""))
    except OAuth2Error:
        return None  # the pipeline answers a malformed request; the page just shows no level
    return wanted.needed if pipeline.login_methods().can_meet(wanted) else None


def _render_login(ia: Interaction, form: GeneralLoginForm, status: int = 200,
                  message: str | None = None, *, tab: str | None = None,
                  **extra: object) -> BaseResponse:
    # Issue 7: the company console's own sign-in opens on the 기업정보 관리 tab.
    tab = tab or request.args.get("tab") or (
        "company" if ia.params.get("client_id") == COMPANY_CONSOLE_CLIENT_ID else "general")
    if tab not in LOGIN_TABS:
        tab = "general"
    client = query_client(ia.params.get("client_id", ""))
    needed = _needed_acr(ia)
    resp = Response(render_template(
        "login/login.html", form=form, ia=ia, tab=tab, client=client, message=message,
        needed_acr=ACR_LABELS.get(needed or ""),
        # a login here reached less than the request needs: say that a stronger one is needed
        step_up=needed is not None and ia.login_acr is not None
        and not AcrRequest((needed,)).met_by(ia.login_acr),
        **extra,
        # Issue 7: a general member's 인증서 로그인 (step-up; idp/web/affiliation.py).
        certificate_step=affiliation.certificate_step(ia, needed),
    ), status)
    return resp


@bp.get("/interaction/<uid>")
def login_page(uid: str) -> BaseResponse:
    """The KOTRA login page (manual §6): 일반회원 / 간편회원 / 기업정보 관리 tabs."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    form = GeneralLoginForm()
    remembered = cookies().remember_id.read()
    form.login_id.data = ia.params.get("login_hint") or remembered or ""
    form.remember_id.data = bool(remembered)
    # Issue 9: an SNS round trip that did not end in a login comes back with its reason.
    return _render_login(ia, form, message=SNS_MESSAGES.get(request.args.get("sns", "")))


@bp.post("/interaction/<uid>/login")
def login_submit(uid: str) -> BaseResponse:
    """Password sign-in; on success 303 to the client (or the next step) via finish_login."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    p = provider()
    form = GeneralLoginForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            msg = _("요청이 만료되었습니다. 다시 시도해 주세요.")
        else:
            msg = _("아이디와 비밀번호를 입력해 주세요.")
        return _render_login(ia, form, 400, msg)
    try:
        member = authenticate_password(
            db.session, p.passwords, p.throttle,
            login_id=form.login_id.data or "", password=form.password.data or "",
            ip=client_ip(), client_id=ia.params.get("client_id"),
            # Issue 8: an ID no member has may be an old site's (idp/web/legacy.py).
            fallback=LegacyPasswordCheck(),
        )
    except LoginThrottled as exc:
        minutes = max(1, (exc.retry_after + 59) // 60)
        if exc.locked:
            msg = _("로그인 시도가 너무 많습니다. %(minutes)d분 후 다시 시도해 주세요.",
                    minutes=minutes)
        else:
            msg = _("로그인 시도가 너무 많습니다. %(seconds)d초 후 다시 시도해 주세요.",
                    seconds=exc.retry_after)
        resp = _render_login(ia, form, 429, msg)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except InvalidCredentials:
        # One message for an unknown ID and a wrong password (no account enumeration).
        return _render_login(ia, form, 401, _("아이디 또는 비밀번호가 일치하지 않습니다."))
    if isinstance(member, LegacyMatch):  # an old site's account: its conversion (issue 8)
        return legacy.start(ia, member)

    resp = finish_login(ia, member, acr=PASSWORD.acr, amr=list(PASSWORD.amr),
                        member=member.member)
    if form.remember_id.data:
        cookies().remember_id.set(resp, member.login_id or "")
    else:
        cookies().remember_id.delete(resp)
    return resp


@bp.get("/interaction/<uid>/resume")
def resume(uid: str) -> BaseResponse:
    """Run the authorization pipeline again now that the user has signed in or consented."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    return pipeline.run(ia.params, browser=cookies().browser.read() or "",
                        sso_handle=cookies().sso.read(), interaction=ia)


@bp.route("/interaction/<uid>/consent", methods=["GET", "POST"])
def consent_page(uid: str) -> BaseResponse:
    """Consent for third-party clients (first-party KOTRA sites skip it)."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    p = provider()
    sess = current_session()
    client = query_client(ia.params.get("client_id", ""))
    if sess is None or client is None:
        return redirect(url_for("web.login_page", uid=uid), 303)
    scope = client.get_allowed_scope(ia.params.get("scope", ""))
    form = ConsentForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _expired()
        if request.form.get("decision") != "allow":
            p.interactions.finish(ia)
            db.session.commit()
            return pipeline.redirect_error(
                AccessDeniedError(), ia.params["redirect_uri"], ia.params.get("state")
            )
        consent = db.session.scalar(select(Consent).where(
            Consent.member_id == sess.member_id, Consent.client_id == client.client_id))
        if consent is None:
            db.session.add(Consent(member_id=sess.member_id, client_id=client.client_id,
                                   scope=scope))
        else:
            consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scope.split())))
        audit.record(db.session, "consent.granted", member_id=sess.member_id,
                     client_id=client.client_id, ip=client_ip(), scope=scope)
        return step_done(ia, "consent")
    member = db.session.get(Member, sess.member_id)
    return Response(render_template("oidc/consent.html", form=form, ia=ia, client=client,
                                    scopes=scope.split(), member=member))


@bp.route("/interaction/<uid>/password", methods=["GET", "POST"])
def password_change_page(uid: str) -> BaseResponse:
    """The new password an operator requires before this member's next site sign-in."""
    ia = current_interaction(uid)
    if ia is None:
        return _expired()
    p = provider()
    sess = current_session()
    if sess is None:
        return redirect(url_for("web.login_page", uid=uid), 303)
    member = db.session.get(Member, sess.member_id)
    if member is None or not member.password_change_required:
        return redirect(url_for("web.resume", uid=uid), 303)  # nothing to change here
    form = PasswordChangeForm()
    message = None
    if request.method == "POST":
        if not form.validate_on_submit():
            message = _("새 비밀번호를 두 번 똑같이 입력해 주세요.")
        else:
            try:
                change_required_password(
                    db.session, p.passwords, p.policy, member_id=sess.member_id,
                    new_password=form.new_password.data or "", ip=client_ip())
            except PasswordUnchanged:
                db.session.rollback()
                message = _("현재 비밀번호와 다른 비밀번호를 입력해 주세요.")
            except InvalidInput:
                db.session.rollback()
                message = _("비밀번호는 영문, 숫자, 특수문자를 모두 포함해 %(min)d~%(max)d자로 "
                            "입력해 주세요.", min=p.policy.password_min,
                            max=p.policy.password_max)
            else:
                return step_done(ia, "password_change")
    return Response(render_template("login/password_change.html", form=form, ia=ia,
                                    message=message), 400 if message else 200)


@bp.get("/")
def home() -> BaseResponse:
    """A landing page: who is signed in here, and a way to sign out."""
    sess = current_session()
    member = db.session.get(Member, sess.member_id) if sess else None
    clients: list[OAuthClient] = []
    if sess and sess.clients:
        clients = list(db.session.scalars(
            select(OAuthClient).where(OAuthClient.client_id.in_(sess.clients))))
    return Response(render_template("home.html", member=member, sess=sess, clients=clients))


@bp.get("/favicon.ico")
def favicon() -> BaseResponse:
    """No icon: answer 204 so browsers stop asking (and stop logging 404s)."""
    return Response(status=204, headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/healthz")
def healthz() -> BaseResponse:
    """Liveness: the process answers."""
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> BaseResponse:
    """Readiness: the database and the session store (Redis when configured) answer."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 — report, never raise, from a probe
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        provider().store.ping()
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["store"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return Response(json.dumps(checks), 200 if ok else 503, mimetype="application/json")


from idp.web import company_login as _company_login  # noqa: E402,F401 — 기업정보 관리 tab (issue 7)
from idp.web import legacy  # noqa: E402 — the legacy conversion pages, on bp (issue 8)
from idp.web import terms as _terms  # noqa: E402,F401 — registers the terms step page on bp
