"""Signing in and out at the provider: the authorization code flow with PKCE (OpenID Connect
Core 1.0 §3.1, RFC 7636, RFC 9207 ``iss``) through requests-oauthlib, and RP-Initiated Logout."""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlencode

import requests
from flask import Blueprint, abort, redirect, request, url_for

from clients.demo_site.errors import ProviderError, TokenValidationError
from clients.demo_site.provider import HTTP_TIMEOUT
from clients.demo_site.site import PENDING_LOGIN_TTL, pkce_s256
from clients.demo_site.texts import AUTHZ_ERROR_MESSAGES, SOFT_AUTHZ_ERRORS
from clients.demo_site.tokens import validate_id_token
from clients.demo_site.views import current, message, set_cookie, site

log = logging.getLogger(__name__)

SCOPE = "openid profile email kotra"
PASSTHROUGH_PROMPTS = {"none", "login", "consent", "select_account"}

bp = Blueprint("oidc", __name__)


@bp.get("/login")
def login():
    """Start a login: remember state, nonce and PKCE verifier, redirect to the provider."""
    rp = site()
    meta = rp.provider.metadata
    key, sess = current()
    if sess is None:
        key = rp.sessions.new()
        sess = rp.sessions.get(key)
    pending = sess.setdefault("pending", {})
    now = time.time()
    for st in [s for s, p in pending.items() if p["created"] + PENDING_LOGIN_TTL < now]:
        del pending[st]
    while len(pending) >= 5:
        pending.pop(next(iter(pending)))
    nonce = secrets.token_urlsafe(24)
    extra: dict[str, str] = {"nonce": nonce}
    prompt = request.args.get("prompt")
    if prompt:
        if not set(prompt.split()) <= PASSTHROUGH_PROMPTS:
            abort(400)
        extra["prompt"] = prompt
    for name in ("acr_values", "login_hint", "ui_locales"):
        value = request.args.get(name)
        if value:
            extra[name] = value[:200]
    verifier = secrets.token_urlsafe(48)  # 64 chars of the unreserved set
    extra["code_challenge"] = pkce_s256(verifier)
    extra["code_challenge_method"] = "S256"
    with rp.oauth(scope=SCOPE) as oauth:
        url, state = oauth.authorization_url(meta["authorization_endpoint"], **extra)
    nxt = request.args.get("next", "/")
    if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        nxt = "/"
    pending[state] = {"nonce": nonce, "verifier": verifier, "created": now, "next": nxt}
    resp = redirect(url)
    resp.headers["Cache-Control"] = "no-store"
    set_cookie(resp, key)
    return resp


@bp.get("/callback")
def callback():
    """Finish a login: check state and iss, exchange the code, validate the ID token."""
    rp = site()
    key, sess = current()
    state = request.args.get("state", "")
    pending = (sess or {}).get("pending", {}).pop(state, None) if state else None
    if pending is None or pending["created"] + PENDING_LOGIN_TTL < time.time():
        return message(
            "로그인 확인 실패",
            "로그인 요청 정보가 없거나 만료되었습니다. 다시 로그인해 주세요.",
            400,
        )
    meta = rp.provider.metadata
    iss = request.args.get("iss")
    if iss is None and meta.get("authorization_response_iss_parameter_supported"):
        return message("로그인 확인 실패", "인증 서버 응답에 발급자(iss) 정보가 없습니다.", 400)
    if iss is not None and iss != rp.issuer:
        return message("로그인 확인 실패", "인증 서버 응답의 발급자가 올바르지 않습니다.", 400)
    error = request.args.get("error")
    if error:
        if error in SOFT_AUTHZ_ERRORS:
            return message("로그인 필요", SOFT_AUTHZ_ERRORS[error], 200)
        text = AUTHZ_ERROR_MESSAGES.get(error, "로그인 중 오류가 발생했습니다.")
        return message("로그인 실패", text, 400)
    code = request.args.get("code")
    if not code:
        return message("로그인 실패", "인증 코드가 없습니다.", 400)
    try:
        with rp.oauth(state=state) as oauth:
            token = oauth.fetch_token(
                meta["token_endpoint"],
                code=code,
                auth=requests.auth.HTTPBasicAuth(rp.client_id, rp.client_secret),
                code_verifier=pending["verifier"],
                timeout=HTTP_TIMEOUT,
            )
    except Exception as exc:  # oauthlib raises several types; never show a 500
        log.warning("token exchange failed: %s", exc.__class__.__name__)
        return message("로그인 실패", "인증 서버에서 토큰을 받지 못했습니다.", 502)
    access_token, id_token = token.get("access_token"), token.get("id_token")
    if not access_token or not id_token:
        return message("로그인 실패", "인증 서버 응답에 토큰이 없습니다.", 502)
    try:
        claims = validate_id_token(
            rp.provider,
            id_token,
            client_id=rp.client_id,
            nonce=pending["nonce"],
            access_token=access_token,
        )
    except TokenValidationError as exc:
        log.warning("ID token rejected: %s", exc)
        return message("로그인 실패", "ID 토큰 검증에 실패했습니다.", 400)
    userinfo: dict = {}
    ui_url = rp.provider.endpoint("userinfo_endpoint")
    if ui_url:
        try:
            resp = rp.provider.http.get(
                ui_url,
                headers={
                    "Authorization": f"Bearer {access_token}",
                    "Accept": "application/json",
                },
                timeout=HTTP_TIMEOUT,
            )
            userinfo = resp.json() if resp.status_code == 200 else None
        except (requests.RequestException, ValueError):
            userinfo = None
        if not isinstance(userinfo, dict):
            return message("로그인 실패", "사용자 정보를 가져오지 못했습니다.", 502)
        if userinfo.get("sub") != claims["sub"]:
            return message("로그인 실패", "사용자 정보가 ID 토큰과 일치하지 않습니다.", 400)
    # Rotate the session key on sign-in (no session fixation).
    rp.sessions.delete(key)
    merged = {**claims, **{k: v for k, v in userinfo.items() if k not in ("iss", "aud")}}
    user = {
        "sub": claims["sub"],
        "sid": claims.get("sid"),
        "id_claims": claims,
        "claims": merged,
        "tokens": {
            "access_token": access_token,
            "id_token": id_token,
            "refresh_token": token.get("refresh_token"),
            "expires_at": token.get("expires_at"),
        },
    }
    new_key = rp.sessions.new({"user": user})
    log.info("site %s: signed in sub=%s", rp.site, claims["sub"])
    resp = redirect(pending.get("next") or "/")
    set_cookie(resp, new_key)
    return resp


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """End the local session, revoke its tokens (RFC 7009), go to the provider's end-session."""
    rp = site()
    key, sess = current()
    rp.sessions.delete(key)
    user = (sess or {}).get("user") or {}
    tokens = user.get("tokens") or {}
    try:
        meta = rp.provider.metadata
    except ProviderError:
        meta = {}
    revoke = meta.get("revocation_endpoint")
    if revoke:
        for kind in ("refresh_token", "access_token"):
            if tokens.get(kind):
                try:
                    rp.provider.http.post(
                        revoke,
                        data={"token": tokens[kind], "token_type_hint": kind},
                        auth=(rp.client_id, rp.client_secret),
                        timeout=HTTP_TIMEOUT,
                    ).close()
                except requests.RequestException:
                    log.warning("token revocation failed")
    end_session = meta.get("end_session_endpoint")
    if not end_session:
        resp = redirect(url_for("views.home"))
    else:
        state = secrets.token_urlsafe(16)
        rp.logout_states.add(state)
        params = {
            "client_id": rp.client_id,
            "post_logout_redirect_uri": rp.post_logout_redirect_uri,
            "state": state,
        }
        if tokens.get("id_token"):
            params["id_token_hint"] = tokens["id_token"]
        sep = "&" if "?" in end_session else "?"
        resp = redirect(end_session + sep + urlencode(params))
    resp.delete_cookie(rp.cookie_name, path="/")
    resp.headers["Cache-Control"] = "no-store"
    return resp
