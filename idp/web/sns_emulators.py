"""Emulators of Naver, Kakao, Google and Facebook for development and tests (issue 9).

Mounted under /dev/sns/<provider>/... by create_app in development and testing only (404 in
production, whose configuration also refuses their URLs). Each speaks its vendor's protocol
with the vendor's shapes, awkward ones included, so the real adapters in idp/adapters/ run
against them unchanged:

- a login page where the tester picks a test user or types one, or cancels
  (`error=access_denied`);
- Naver: token errors and profile errors with HTTP 200, `expires_in` as a string;
- Kakao: client_secret_post only, ID tokens signed with its own RSA key (JWKS published),
  `kakao_account` fields absent when the user declined them, phone "+82 10-....";
- Google: discovery, ID tokens with its own key, userinfo;
- Facebook: versioned URLs, GET token exchange, appsecret_proof checked on Graph calls, a
  user without email.

Switches the tests (or a developer, with `set_mode`) flip per provider, kept in the store so
that every worker sees them: "down" (503 everywhere), "slow" (each API call waits
`delay` seconds), "token_error200" / "profile_error200" (Naver's errors with HTTP 200), and
ID token faults "wrong_nonce", "wrong_iss", "wrong_aud", "expired", "unknown_kid", "alg_none",
"iss_noscheme" (Google's second issuer spelling). State: codes and access tokens live in the
store too, single use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Response as BaseResponse

from idp.extensions import csrf, db
from idp.oidc.server import provider
from idp.services.sns import PROVIDERS, s256
from idp.stores import Store

bp = Blueprint("sns_emulators", __name__, url_prefix="/dev/sns")

FACEBOOK_VERSION = "v21.0"
CODE_TTL = 300
TOKEN_TTL = 3600
KEY_TTL = 30 * 24 * 3600

# Test users, by provider, in each vendor's own terms. "declined" fields are not shared.
USERS: dict[str, list[dict[str, Any]]] = {
    "naver": [
        {"id": "nv-5a1c0001", "name": "김네이버", "email": "kim.naver@naver.com",
         "mobile": "010-1111-2222", "label": "김네이버 (이름·이메일·휴대전화 제공)"},
        {"id": "nv-5a1c0002", "name": "한네이버", "email": None, "mobile": None,
         "label": "한네이버 (이메일·휴대전화 미제공)"},
    ],
    "kakao": [
        {"id": "3000000001", "name": "이카카오", "email": "lee.kakao@kakao.com",
         "email_verified": True, "mobile": "+82 10-3333-4444",
         "label": "이카카오 (이름·이메일·전화번호 동의)"},
        {"id": "3000000002", "name": None, "email": None, "mobile": None,
         "label": "카카오 사용자 (모든 항목 동의 안 함)"},
    ],
    "google": [
        {"id": "109000000000000000001", "name": "박구글", "email": "park.google@gmail.com",
         "email_verified": True, "mobile": None, "label": "박구글 (park.google@gmail.com)"},
    ],
    "facebook": [
        {"id": "1000000000000001", "name": "최페이스", "email": "choi.fb@example.com",
         "mobile": None, "label": "최페이스 (이메일 제공)"},
        {"id": "1000000000000002", "name": "정페이스", "email": None, "mobile": None,
         "label": "정페이스 (이메일 없음)"},
    ],
}
TITLES = {"naver": "네이버", "kakao": "카카오", "google": "구글", "facebook": "페이스북"}


# ---------------------------------------------------------------------------------------------
# Switches

def set_mode(store: Store, name: str, mode: str | None, delay: float = 0.0) -> None:
    """Flip a provider's emulator into a fault mode (None: normal)."""
    if mode is None:
        store.delete(f"sns-emu:{name}:mode")
    else:
        store.put(f"sns-emu:{name}:mode", {"mode": mode, "delay": delay}, KEY_TTL)


def _mode(name: str) -> tuple[str | None, float]:
    data = provider().store.get(f"sns-emu:{name}:mode")
    if not data:
        return None, 0.0
    return str(data["mode"]), float(data.get("delay", 0.0))


def _faults(name: str) -> BaseResponse | None:
    """The answer of a provider that is down; a slow one waits first."""
    mode, delay = _mode(name)
    if mode == "down":
        return Response("Service Unavailable", 503, mimetype="text/plain")
    if mode == "slow":
        time.sleep(delay)  # a real wall-clock delay: the adapter's timeout must fire
    return None


# ---------------------------------------------------------------------------------------------
# Keys and ID tokens (Kakao, Google)

def _issuer() -> str:
    return str(provider().settings["issuer"])


def _key(name: str) -> RSAKey:
    store = provider().store
    key_id = f"sns-emu:{name}:key"
    data = store.get(key_id)
    if data is None:
        kid = f"{name}-emu-{secrets.token_hex(4)}"
        generated = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig",
                                                          "alg": "RS256"})
        store.add(key_id, {"jwk": generated.as_dict(private=True)}, KEY_TTL)
        db.session.commit()
        data = store.get(key_id)
        assert data is not None
    return RSAKey.import_key(data["jwk"])


def _jwks(name: str) -> BaseResponse:
    if (down := _faults(name)) is not None:
        return down
    key = _key(name)
    db.session.commit()
    return jsonify({"keys": [key.as_dict(private=False)]})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _id_token(name: str, issuer: str, *, client_id: str, user: dict[str, Any],
              nonce: str | None, extra: dict[str, Any]) -> str:
    mode, _ = _mode(name)
    now = int(provider().clock.now())
    claims: dict[str, Any] = {"iss": issuer, "aud": client_id, "sub": user["id"], "iat": now,
                              "exp": now + 3600, "auth_time": now, **extra}
    if nonce is not None:
        claims["nonce"] = nonce
    if mode == "wrong_nonce":
        claims["nonce"] = "not-the-nonce-you-sent"
    elif mode == "wrong_iss":
        claims["iss"] = "https://evil.example"
    elif mode == "wrong_aud":
        claims["aud"] = "another-client"
    elif mode == "expired":
        claims["iat"], claims["exp"] = now - 7200, now - 3600
    elif mode == "iss_noscheme":
        claims["iss"] = issuer.split("://", 1)[1]
    if mode == "alg_none":
        header = {"alg": "none", "typ": "JWT", "kid": _key(name).kid}
        return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
    key = _key(name)
    if mode == "unknown_kid":
        key = RSAKey.generate_key(2048, parameters={"kid": "rotated-away"})
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key,
                      algorithms=["RS256"])


# ---------------------------------------------------------------------------------------------
# The consent page and codes

def _settings(name: str) -> dict[str, str]:
    issuer = _issuer()
    return {k: (v.replace("{issuer}", issuer) if isinstance(v, str) else v)
            for k, v in provider().settings[name].items()}


def _callback(name: str) -> str:
    return f"{_issuer()}/sns/{name}/callback"


def _redirect(target: str, params: dict[str, str | None]) -> BaseResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return redirect(f"{target}?{query}", 302)


def _continue(name: str, target: str, params: dict[str, str | None]) -> BaseResponse:
    """The answer to the tester's choice: a page that goes on to our callback by script (and
    a link without it). Not a redirect: a browser applies the emulator page's CSP
    form-action to every redirect after its form, and our callback may redirect on to a
    relying party's origin (a real vendor's page has its own policy)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Response(render_template("sns_emulator/continue.html", title=TITLES[name],
                                    target=f"{target}?{query}"))


def _authorize(name: str) -> BaseResponse:
    """The vendor's authorization page: pick a test user, or cancel."""
    if name not in PROVIDERS:
        abort(404)
    if (down := _faults(name)) is not None:
        return down
    source = request.form if request.method == "POST" else request.args
    client_id, redirect_uri = source.get("client_id"), source.get("redirect_uri")
    # A real vendor never redirects to an unregistered redirect_uri: an error page instead.
    if client_id != _settings(name)["client_id"] or redirect_uri != _callback(name):
        return Response(render_template("sns_emulator/error.html", title=TITLES[name],
                                        error="unknown client_id or redirect_uri"), 400)
    state = source.get("state")
    if source.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
    params = {k: source.get(k) for k in ("client_id", "redirect_uri", "state", "nonce", "scope",
                                          "code_challenge", "code_challenge_method",
                                          "response_type")}
    if request.method == "POST":
        csrf.protect()  # the blueprint is exempt for the vendor APIs, not for this page
    if request.method == "GET":
        return Response(render_template("sns_emulator/login.html", name=name,
                                        title=TITLES[name], users=USERS[name], params=params))
    if request.form.get("decision") != "login":
        # Each vendor's "the user cancelled" (Facebook adds its error_code 200).
        extra = {"error_code": "200", "error_reason": "user_denied"} if name == "facebook" \
            else {}
        return _continue(name, redirect_uri, {"error": "access_denied", "state": state,
                                              "error_description": "User denied access",
                                              **extra})
    user = _chosen_user(name)
    if user is None:
        return Response(render_template("sns_emulator/login.html", name=name,
                                        title=TITLES[name], users=USERS[name], params=params,
                                        message="테스트 사용자를 선택하거나 ID를 입력해 주세요."),
                        400)
    code = secrets.token_urlsafe(24)
    provider().store.put(f"sns-emu:{name}:code:{code}", {
        "user": user, "client_id": client_id, "redirect_uri": redirect_uri,
        "nonce": params["nonce"], "challenge": params["code_challenge"],
        "method": params["code_challenge_method"]}, CODE_TTL)
    db.session.commit()
    return _continue(name, redirect_uri, {"code": code, "state": state})


def _chosen_user(name: str) -> dict[str, Any] | None:
    chosen = request.form.get("user", "")
    for user in USERS[name]:
        if user["id"] == chosen:
            return dict(user)
    custom_id = request.form.get("custom_id", "").strip()
    if chosen != "custom" or not custom_id:
        return None
    return {"id": custom_id[:64], "name": request.form.get("custom_name", "").strip() or None,
            "email": request.form.get("custom_email", "").strip() or None,
            "email_verified": True,
            "mobile": request.form.get("custom_mobile", "").strip() or None}


def _redeem(name: str, code: str | None, redirect_uri: str | None, client_id: str | None,
            verifier: str | None) -> tuple[dict[str, Any] | None, str]:
    """The code's grant, once; else (None, an RFC 6749 §5.2 error)."""
    store = provider().store
    if not code:
        return None, "invalid_request"
    grant = store.get(f"sns-emu:{name}:code:{code}")
    if grant is None or not store.add(f"sns-emu:{name}:used:{code}", {}, CODE_TTL):
        return None, "invalid_grant"
    store.delete(f"sns-emu:{name}:code:{code}")
    if grant["client_id"] != client_id or grant["redirect_uri"] != redirect_uri:
        return None, "invalid_grant"
    if grant["challenge"]:
        if grant["method"] != "S256" or not verifier or s256(verifier) != grant["challenge"]:
            return None, "invalid_grant"
    elif verifier:
        return None, "invalid_request"  # RFC 9700 §4.8.2: no verifier without a challenge
    return grant, ""


def _access_token(name: str, user: dict[str, Any]) -> str:
    token = secrets.token_urlsafe(32)
    provider().store.put(f"sns-emu:{name}:at:{token}", {"user": user}, TOKEN_TTL)
    return token


def _bearer(name: str) -> dict[str, Any] | None:
    auth = request.headers.get("Authorization", "")
    token = auth[7:] if auth.startswith("Bearer ") else request.args.get("access_token", "")
    if not token:
        return None
    data = provider().store.get(f"sns-emu:{name}:at:{token}")
    return None if data is None else dict(data["user"])


# ---------------------------------------------------------------------------------------------
# Naver

@bp.route("/naver/oauth2.0/authorize", methods=["GET", "POST"])
def naver_authorize() -> BaseResponse:
    return _authorize("naver")


@bp.route("/naver/oauth2.0/token", methods=["GET", "POST"])
def naver_token() -> BaseResponse:
    if (down := _faults("naver")) is not None:
        return down
    source = request.values
    s = _settings("naver")
    mode, _ = _mode("naver")
    # Naver answers token errors with HTTP 200 (developers.naver.com/docs/login/api/api.md).
    if mode == "token_error200":
        return jsonify({"error": "invalid_request",
                        "error_description": "no valid data in session"})
    if (source.get("client_id") != s["client_id"]
            or source.get("client_secret") != s["client_secret"]):
        return jsonify({"error": "invalid_client",
                        "error_description": "client authentication failed"})
    # Naver's token request carries no redirect_uri: the code is bound to the registered one.
    grant, error = _redeem("naver", source.get("code"),
                           source.get("redirect_uri") or _callback("naver"),
                           source.get("client_id"), None)
    if grant is None:
        return jsonify({"error": error, "error_description": "invalid authorization code"})
    token = _access_token("naver", grant["user"])
    db.session.commit()
    return jsonify({"access_token": token, "refresh_token": secrets.token_urlsafe(16),
                    "token_type": "bearer", "expires_in": "3600"})


@bp.get("/naver/v1/nid/me")
def naver_me() -> BaseResponse | tuple[BaseResponse, int]:
    if (down := _faults("naver")) is not None:
        return down
    mode, _ = _mode("naver")
    if mode == "profile_error200":
        return jsonify({"resultcode": "028", "message": "Authentication header not exists"})
    user = _bearer("naver")
    if user is None:
        return jsonify({"resultcode": "024", "message": "Authentication failed"}), 401
    response = {"id": user["id"], "nickname": user.get("name") or "naver-user"}
    for key in ("name", "email", "mobile"):
        if user.get(key):
            response[key] = user[key]
    if user.get("mobile"):
        response["mobile_e164"] = "+82" + user["mobile"].replace("-", "")[1:]
    return jsonify({"resultcode": "00", "message": "success", "response": response})


# ---------------------------------------------------------------------------------------------
# Kakao

@bp.route("/kakao/oauth/authorize", methods=["GET", "POST"])
def kakao_authorize() -> BaseResponse:
    return _authorize("kakao")


@bp.post("/kakao/oauth/token")
def kakao_token() -> BaseResponse | tuple[BaseResponse, int]:
    if (down := _faults("kakao")) is not None:
        return down
    s = _settings("kakao")
    form = request.form
    if request.authorization is not None:  # client_secret_post only
        return jsonify({"error": "invalid_client", "error_code": "KOE010",
                        "error_description": "Bad client credentials"}), 401
    if form.get("client_id") != s["client_id"] or form.get("client_secret") != s["client_secret"]:
        return jsonify({"error": "invalid_client", "error_code": "KOE010",
                        "error_description": "Bad client credentials"}), 401
    if form.get("grant_type") != "authorization_code":
        return jsonify({"error": "unsupported_grant_type", "error_code": "KOE006"}), 400
    grant, error = _redeem("kakao", form.get("code"), form.get("redirect_uri"),
                           form.get("client_id"), form.get("code_verifier"))
    if grant is None:
        return jsonify({"error": error, "error_code": "KOE320",
                        "error_description": "authorization code not found"}), 400
    user = grant["user"]
    id_token = _id_token("kakao", s["issuer"], client_id=s["client_id"], user=user,
                         nonce=grant["nonce"], extra={"nickname": user.get("name") or "카카오"})
    token = _access_token("kakao", user)
    db.session.commit()
    return jsonify({"token_type": "bearer", "access_token": token, "id_token": id_token,
                    "expires_in": 21599, "refresh_token": secrets.token_urlsafe(16),
                    "refresh_token_expires_in": 5183999, "scope": "openid"})


@bp.get("/kakao/v2/user/me")
def kakao_me() -> BaseResponse | tuple[BaseResponse, int]:
    if (down := _faults("kakao")) is not None:
        return down
    user = _bearer("kakao")
    if user is None:
        return jsonify({"msg": "this access token does not exist", "code": -401}), 401
    account: dict[str, Any] = {"profile_nickname_needs_agreement": False,
                               "profile": {"nickname": user.get("name") or "카카오"}}
    # A declined item is absent, with its *_needs_agreement flag (Kakao's shape).
    if user.get("name"):
        account.update(name_needs_agreement=False, name=user["name"])
    else:
        account["name_needs_agreement"] = True
    if user.get("email"):
        account.update(has_email=True, email_needs_agreement=False, is_email_valid=True,
                       is_email_verified=bool(user.get("email_verified")), email=user["email"])
    else:
        account.update(has_email=True, email_needs_agreement=True)
    if user.get("mobile"):
        account.update(has_phone_number=True, phone_number_needs_agreement=False,
                       phone_number=user["mobile"])
    else:
        account.update(has_phone_number=True, phone_number_needs_agreement=True)
    return jsonify({"id": int(user["id"]) if user["id"].isdigit() else user["id"],
                    "connected_at": "2026-12-02T00:00:00Z", "kakao_account": account})


@bp.get("/kakao/.well-known/jwks.json")
def kakao_jwks() -> BaseResponse:
    return _jwks("kakao")


@bp.get("/kakao/.well-known/openid-configuration")
def kakao_discovery() -> BaseResponse:
    base = f"{_issuer()}/dev/sns/kakao"
    return jsonify({"issuer": _settings("kakao")["issuer"],
                    "authorization_endpoint": f"{base}/oauth/authorize",
                    "token_endpoint": f"{base}/oauth/token",
                    "userinfo_endpoint": f"{base}/v1/oidc/userinfo",
                    "jwks_uri": f"{base}/.well-known/jwks.json",
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    "id_token_signing_alg_values_supported": ["RS256"]})


# ---------------------------------------------------------------------------------------------
# Google

@bp.get("/google/.well-known/openid-configuration")
def google_discovery() -> BaseResponse:
    if (down := _faults("google")) is not None:
        return down
    base = f"{_issuer()}/dev/sns/google"
    return jsonify({
        "issuer": base,
        "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/v1/userinfo",
        "jwks_uri": f"{base}/oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    })


@bp.route("/google/o/oauth2/v2/auth", methods=["GET", "POST"])
def google_authorize() -> BaseResponse:
    return _authorize("google")


@bp.post("/google/token")
def google_token() -> BaseResponse | tuple[BaseResponse, int]:
    if (down := _faults("google")) is not None:
        return down
    s = _settings("google")
    form = request.form
    auth = request.authorization
    client_id = auth.username if auth else form.get("client_id")
    secret = auth.password if auth else form.get("client_secret")
    if client_id != s["client_id"] or secret != s["client_secret"]:
        return jsonify({"error": "invalid_client", "error_description": "Unauthorized"}), 401
    grant, error = _redeem("google", form.get("code"), form.get("redirect_uri"), client_id,
                           form.get("code_verifier"))
    if grant is None:
        return jsonify({"error": error, "error_description": "Bad Request"}), 400
    user = grant["user"]
    extra = {"azp": s["client_id"], "email": user.get("email"),
             "email_verified": bool(user.get("email_verified")), "name": user.get("name")}
    id_token = _id_token("google", f"{_issuer()}/dev/sns/google", client_id=s["client_id"],
                         user=user, nonce=grant["nonce"],
                         extra={k: v for k, v in extra.items() if v is not None})
    token = _access_token("google", user)
    db.session.commit()
    return jsonify({"access_token": token, "expires_in": 3599, "token_type": "Bearer",
                    "scope": "openid https://www.googleapis.com/auth/userinfo.email "
                             "https://www.googleapis.com/auth/userinfo.profile",
                    "id_token": id_token})


@bp.get("/google/oauth2/v3/certs")
def google_jwks() -> BaseResponse:
    return _jwks("google")


@bp.get("/google/v1/userinfo")
def google_userinfo() -> BaseResponse | tuple[BaseResponse, int]:
    if (down := _faults("google")) is not None:
        return down
    user = _bearer("google")
    if user is None:
        return jsonify({"error": "invalid_token"}), 401
    info = {"sub": user["id"], "name": user.get("name"), "email": user.get("email"),
            "email_verified": bool(user.get("email_verified"))}
    return jsonify({k: v for k, v in info.items() if v is not None})


# ---------------------------------------------------------------------------------------------
# Facebook

def _graph_error(message: str, code: int = 100, status: int = 400
                 ) -> tuple[BaseResponse, int]:
    return jsonify({"error": {"message": message, "type": "OAuthException", "code": code,
                              "fbtrace_id": secrets.token_hex(8)}}), status


@bp.route(f"/facebook/{FACEBOOK_VERSION}/dialog/oauth", methods=["GET", "POST"])
def facebook_authorize() -> BaseResponse:
    return _authorize("facebook")


@bp.get(f"/facebook/{FACEBOOK_VERSION}/oauth/access_token")
def facebook_token() -> BaseResponse | tuple[BaseResponse, int]:
    if (down := _faults("facebook")) is not None:
        return down
    s = _settings("facebook")
    args = request.args
    if args.get("client_id") != s["client_id"] or args.get("client_secret") != s["client_secret"]:
        return _graph_error("Error validating client secret.", 1)
    grant, _ = _redeem("facebook", args.get("code"), args.get("redirect_uri"),
                       args.get("client_id"), args.get("code_verifier"))
    if grant is None:
        return _graph_error("This authorization code has been used.")
    token = _access_token("facebook", grant["user"])
    db.session.commit()
    return jsonify({"access_token": token, "token_type": "bearer", "expires_in": 5183944})


@bp.get(f"/facebook/{FACEBOOK_VERSION}/me")
def facebook_me() -> BaseResponse | tuple[BaseResponse, int]:
    if (down := _faults("facebook")) is not None:
        return down
    auth = request.headers.get("Authorization", "")
    token = auth[7:] if auth.startswith("Bearer ") else request.args.get("access_token", "")
    user = _bearer("facebook")
    if user is None:
        return _graph_error("Invalid OAuth access token.", 190, 400)
    expected = hmac.new(_settings("facebook")["client_secret"].encode(), token.encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.args.get("appsecret_proof", ""), expected):
        return _graph_error("Invalid appsecret_proof provided in the API argument")
    fields = request.args.get("fields", "id,name").split(",")
    body = {"id": user["id"]}
    if "name" in fields and user.get("name"):
        body["name"] = user["name"]
    if "email" in fields and user.get("email"):
        body["email"] = user["email"]
    return jsonify(body)
