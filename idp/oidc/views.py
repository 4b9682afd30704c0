"""Browser-facing protocol endpoints: authorize and logout (the rest live in endpoints.py)."""

from __future__ import annotations

import secrets
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, redirect, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.wrappers import Response as BaseResponse
from wtforms.validators import ValidationError

from idp.cookies import cookies
from idp.extensions import db
from idp.models.clients import RegisteredClient
from idp.oidc import authorize as pipeline
from idp.oidc.jwts import decode_id_token_hint, hint_audience
from idp.oidc.logout import end_session
from idp.oidc.server import client_ip, provider, query_client

bp = Blueprint("oidc", __name__)



def browser_id() -> tuple[str, bool]:
    value = cookies().browser.read()
    if value and len(value) < 100:
        return value, False
    return secrets.token_urlsafe(24), True


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> BaseResponse:
    """OIDC Core §3.1.2: the authorization endpoint (GET and POST)."""
    params = pipeline.flatten(request.values)
    if isinstance(params, OAuth2Error):
        return pipeline.error_page(params.error, params.description)
    browser, new = browser_id()
    resp = pipeline.run(params, browser=browser, sso_handle=cookies().sso.read())
    if new:
        cookies().browser.set(resp, browser)
    return resp


def _logout_target(params: dict[str, str]) -> tuple[RegisteredClient | None, dict[str, Any] | None,
                                                   str | None, str | None]:
    """Resolve (client, hint claims, redirect target, error) per RP-Initiated Logout §2-3."""
    p = provider()
    claims = None
    if params.get("id_token_hint"):
        claims = decode_id_token_hint(p, db.session, params["id_token_hint"])
        if claims is None:
            return None, None, None, "invalid id_token_hint"
    client_id = params.get("client_id")
    if claims is not None:
        audience = hint_audience(claims)
        if client_id and client_id not in audience:
            return None, None, None, "client_id does not match id_token_hint"
        client_id = client_id or (audience[0] if audience else None)
    client = query_client(client_id) if client_id else None
    target = params.get("post_logout_redirect_uri")
    if target:
        if client is None:
            return None, None, None, "post_logout_redirect_uri needs id_token_hint or client_id"
        if target not in client.post_logout_redirect_uris:  # exact match (§3)
            return None, None, None, "post_logout_redirect_uri is not registered"
    return client, claims, target, None


def _finish_logout(params: dict[str, str], target: str | None,
                   claims: dict[str, Any] | None) -> BaseResponse:
    p = provider()
    sess = p.sessions.get(cookies().sso.read())
    if sess is not None:
        end_session(p, db.session, sess, ip=client_ip(), reason="rp_initiated")
    hinted = claims.get("sid") if claims is not None else None
    if claims is not None and isinstance(hinted, str) and (sess is None or hinted != sess.sid):
        # The hint names a session this browser no longer has (it expired): what it left
        # behind ends too — refresh tokens, unexchanged codes, the RPs' sessions.
        p.revocation.end_expired_sid(db.session, subject=claims["sub"], sid=hinted,
                                     reason="rp_initiated", ip=client_ip())
    if target:
        state = params.get("state")
        resp = redirect(add_params_to_uri(target, [("state", state)] if state else []), 303)
    else:
        resp = Response(render_template("oidc/logged_out.html"))
    cookies().sso.delete(resp)
    return resp


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> BaseResponse:
    """OpenID Connect RP-Initiated Logout 1.0 §2: the end_session_endpoint."""
    p = provider()
    params = {k: v for k, v in request.values.items()}
    client, claims, target, error = _logout_target(params)
    if error:
        return pipeline.error_page("invalid_request", error)
    sess = p.sessions.get(cookies().sso.read())
    # A valid hint for the current session proves the RP asks for this user's logout;
    # anything else is confirmed by the user (§2: protects against forced logout).
    if sess is None or (claims is not None and claims.get("sid") == sess.sid):
        return _finish_logout(params, target, claims)
    return Response(render_template(
        "oidc/logout_confirm.html", params=params, client=client,
    ))


@bp.post("/logout/confirm")
def logout_confirm() -> BaseResponse:
    """The user's confirmation of a logout that a relying party could not prove."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (CSRFError, ValidationError):  # flask_wtf raises ValidationError for a bad token
        return pipeline.error_page("csrf", "CSRF")
    params = {k: v for k, v in request.form.items() if k != "csrf_token"}
    _, claims, target, error = _logout_target(params)
    if error:
        return pipeline.error_page("invalid_request", error)
    if request.form.get("decision") != "logout":
        return Response(render_template("oidc/logged_out.html", cancelled=True))
    return _finish_logout(params, target, claims)
