"""The login page (three tabs), consent, and the resumption of the authorization request."""

from __future__ import annotations

import json
import time

from authlib.oauth2.rfc6749 import AccessDeniedError
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select, text
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import InvalidCredentials, LoginThrottled
from idp.extensions import db
from idp.models import Consent, Member, OAuthClient
from idp.oidc import authorize as pipeline
from idp.oidc.logout import end_session
from idp.oidc.server import client_ip, provider, query_client
from idp.oidc.views import BROWSER_COOKIE
from idp.services import audit
from idp.services.claims import ACR_PASSWORD
from idp.services.members import authenticate_password
from idp.services.sessions import Interaction
from idp.web.forms import ConsentForm, GeneralLoginForm

bp = Blueprint("web", __name__)

REMEMBER_ID_COOKIE = "idp_remember_id"
LOGIN_TABS = ("general", "simple", "company")


def _interaction(uid: str) -> Interaction | None:
    ia = provider().interactions.get(uid, request.cookies.get(BROWSER_COOKIE))
    if ia is not None:
        g.ui_locales = ia.params.get("ui_locales")
    return ia


def _expired() -> BaseResponse:
    return Response(render_template("oidc/error.html", error="interaction_expired"), 400)


def _sso_cookie() -> str | None:
    return request.cookies.get(provider().settings["session"]["cookie_name"])


def _render_login(ia: Interaction, form: GeneralLoginForm, status: int = 200,
                  message: str | None = None) -> BaseResponse:
    tab = request.args.get("tab", "general")
    if tab not in LOGIN_TABS:
        tab = "general"
    client = query_client(ia.params.get("client_id", ""))
    resp = Response(render_template(
        "login/login.html", form=form, ia=ia, tab=tab, client=client, message=message,
    ), status)
    return resp


@bp.get("/interaction/<uid>")
def login_page(uid: str) -> BaseResponse:
    """The KOTRA login page (manual §6): 일반회원 / 간편회원 / 기업정보 관리 tabs."""
    ia = _interaction(uid)
    if ia is None:
        return _expired()
    form = GeneralLoginForm()
    remembered = request.cookies.get(REMEMBER_ID_COOKIE)
    form.login_id.data = ia.params.get("login_hint") or remembered or ""
    form.remember_id.data = bool(remembered)
    return _render_login(ia, form)


@bp.post("/interaction/<uid>/login")
def login_submit(uid: str) -> BaseResponse:
    """Password sign-in; on success 303 to the resumption of the authorization request."""
    ia = _interaction(uid)
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

    previous = p.sessions.get(_sso_cookie())
    if previous is not None and previous.member_id != member.member_id:
        end_session(p, db.session, previous, ip=client_ip(), reason="other_member_login")
        previous = None
    handle, sess = p.sessions.login(previous, member_id=member.member_id, acr=ACR_PASSWORD,
                                     amr=["pwd"])
    db.session.commit()  # the login stands whatever the authorization request turns into
    ia.login_at = time.time()
    # Resume the authorization request right away: the answer is the client's redirect (or
    # the consent step), as a 303 so the browser never re-POSTs the credentials.
    resp = pipeline.run(ia.params, browser=request.cookies.get(BROWSER_COOKIE, ""),
                        sso_handle=handle, interaction=ia, sess=sess)
    if resp.status_code in (301, 302, 307, 308):
        resp.status_code = 303
    settings = p.settings["session"]
    resp.set_cookie(settings["cookie_name"], handle, httponly=True, samesite="Lax",
                    secure=current_app.config["SESSION_COOKIE_SECURE"])
    if form.remember_id.data:
        resp.set_cookie(REMEMBER_ID_COOKIE, member.login_id or "", httponly=True,
                        samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"],
                        max_age=settings["remember_id_days"] * 86400)
    else:
        resp.delete_cookie(REMEMBER_ID_COOKIE)
    return resp


@bp.get("/interaction/<uid>/resume")
def resume(uid: str) -> BaseResponse:
    """Run the authorization pipeline again now that the user has signed in or consented."""
    ia = _interaction(uid)
    if ia is None:
        return _expired()
    return pipeline.run(ia.params, browser=request.cookies.get(BROWSER_COOKIE, ""),
                        sso_handle=_sso_cookie(), interaction=ia)


@bp.route("/interaction/<uid>/consent", methods=["GET", "POST"])
def consent_page(uid: str) -> BaseResponse:
    """Consent for third-party clients (first-party KOTRA sites skip it)."""
    ia = _interaction(uid)
    if ia is None:
        return _expired()
    p = provider()
    sess = p.sessions.get(_sso_cookie())
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
        ia.params["_consented"] = "1"
        p.interactions.save(ia)
        db.session.commit()
        return redirect(url_for("web.resume", uid=uid), 303)
    member = db.session.get(Member, sess.member_id)
    return Response(render_template("oidc/consent.html", form=form, ia=ia, client=client,
                                    scopes=scope.split(), member=member))


@bp.get("/")
def home() -> BaseResponse:
    """A landing page: who is signed in here, and a way to sign out."""
    sess = provider().sessions.get(_sso_cookie())
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
