"""A demo relying party ("KOTRA site") for kotra-idp.

It is a real OpenID Connect client: it reaches the provider only over HTTP
(discovery, JWKS, token, userinfo, revocation, end-session), signs users in
with the authorization code flow (PKCE S256, state, nonce, client_secret_basic)
through requests-oauthlib, validates ID tokens and back-channel logout tokens
with python-jose, and gates its services on the ``kotra_entitlements`` claim.

Usage::

    python -m clients.demo_site --site 1            # http://127.0.0.1:5001
    python -m clients.demo_site --site 2            # http://127.0.0.1:5002

Importing this module has no side effects; ``create_app`` builds an app without
touching the network (discovery is fetched lazily, on first use).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from jose import jwk, jws, jwt
from jose.exceptions import JOSEError
from requests_oauthlib import OAuth2Session

log = logging.getLogger(__name__)

ALLOWED_ALGS = ("RS256", "ES256")
SCOPE = "openid profile email kotra"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
HTTP_TIMEOUT = 5.0
DEFAULT_ISSUER = "http://127.0.0.1:5000"
DEFAULT_CONFIG = os.path.join("instance", "demo_clients.json")

SITE_TITLES = {
    1: "KOTRA 데모 사이트 1 — 설명회 신청",
    2: "KOTRA 데모 사이트 2 — 사업 신청",
}

# The services this demo site offers, in display order, keyed by the
# entitlement the provider puts in ``kotra_entitlements``.
SERVICES: tuple[tuple[str, str], ...] = (
    ("online_consultation", "온라인 상담"),
    ("seminar_application", "설명회 신청"),
    ("other_service_application", "기타 서비스 신청"),
    ("service_mileage", "서비스 마일리지 사용"),
    ("company_info_edit", "기업정보 수정"),
    ("approve_employees", "신규 직원 승인"),
)
SERVICE_LABELS = dict(SERVICES)

MEMBER_TYPE_LABELS = {
    "general": "일반회원",
    "simple": "간편회원",
    "company_manager": "기업정보 관리자",
}
AFFILIATION_LABELS = {
    "certificate": "기업 범용인증서",
    "approval_password": "승인 비밀번호",
}
# Errors from the authorization endpoint that are ordinary outcomes
# (typically of prompt=none) rather than failures.
SOFT_AUTHZ_ERRORS = {
    "login_required": "통합회원 로그인 상태가 아닙니다. 로그인 후 이용해 주세요.",
    "interaction_required": "추가 확인이 필요합니다. 로그인 버튼을 눌러 진행해 주세요.",
    "consent_required": "정보 제공 동의가 필요합니다. 로그인 버튼을 눌러 진행해 주세요.",
    "account_selection_required": "계정 선택이 필요합니다. 로그인 버튼을 눌러 진행해 주세요.",
}
AUTHZ_ERROR_MESSAGES = {
    "access_denied": "로그인이 취소되었거나 허용되지 않았습니다.",
    "invalid_request": "잘못된 로그인 요청입니다.",
    "unauthorized_client": "이 사이트는 로그인을 요청할 권한이 없습니다.",
    "invalid_scope": "요청한 정보 범위가 올바르지 않습니다.",
    "server_error": "통합회원 서비스에 일시적인 오류가 발생했습니다.",
    "temporarily_unavailable": "통합회원 서비스를 잠시 이용할 수 없습니다.",
}
PASSTHROUGH_PROMPTS = {"none", "login", "consent", "select_account"}

PENDING_LOGIN_TTL = 600  # seconds a started login may take
SESSION_TTL = 8 * 3600  # local session lifetime
ID_TOKEN_MAX_AGE = 600  # reject ID tokens issued longer ago than this
LOGOUT_TOKEN_MAX_AGE = 300  # reject logout tokens issued longer ago than this
CLOCK_LEEWAY = 60


class TokenValidationError(Exception):
    """An ID token or logout token failed validation (message is safe to show)."""


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable."""


# ---------------------------------------------------------------------------
# Provider metadata and keys
# ---------------------------------------------------------------------------


def _http_get_json(http: requests.Session, url: str) -> dict:
    try:
        resp = http.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ProviderError(f"GET {url} failed: {exc.__class__.__name__}") from None
    if resp.status_code != 200:
        raise ProviderError(f"GET {url} answered {resp.status_code}")
    try:
        data = resp.json()
    except ValueError:
        raise ProviderError(f"GET {url} did not answer JSON") from None
    if not isinstance(data, dict):
        raise ProviderError(f"GET {url} did not answer a JSON object")
    return data


def _infer_alg(key: Mapping) -> str | None:
    """The JWS algorithm a JWK is for: its ``alg`` or, lacking one, the usual one for its type."""
    if key.get("alg"):
        return str(key["alg"])
    if key.get("kty") == "RSA":
        return "RS256"
    if key.get("kty") == "EC" and key.get("crv") == "P-256":
        return "ES256"
    return None


class Provider:
    """The OpenID provider as seen over HTTP: discovery document and JWKS, cached.

    ``fetch_json(url) -> dict`` does every GET; tests may replace it.
    """

    def __init__(self, issuer: str, http: requests.Session | None = None):
        self.issuer = issuer
        self.http = http or requests.Session()
        self.fetch_json: Callable[[str], dict] = lambda url: _http_get_json(self.http, url)
        self._lock = threading.Lock()
        self._metadata: dict | None = None
        self._jwks: list[dict] | None = None

    def close(self) -> None:
        self.http.close()

    # -- discovery --------------------------------------------------------
    @property
    def metadata(self) -> dict:
        with self._lock:
            if self._metadata is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                meta = self.fetch_json(url)
                if meta.get("issuer") != self.issuer:
                    raise ProviderError("discovery issuer does not match the configured issuer")
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(meta.get(name), str):
                        raise ProviderError(f"discovery lacks {name}")
                self._metadata = meta
            return self._metadata

    def endpoint(self, name: str) -> str | None:
        value = self.metadata.get(name)
        return value if isinstance(value, str) and value else None

    # -- keys ---------------------------------------------------------------
    def _fetch_jwks(self) -> list[dict]:
        data = self.fetch_json(self.metadata["jwks_uri"])
        keys = data.get("keys")
        if not isinstance(keys, list):
            raise ProviderError("JWKS has no keys array")
        return [k for k in keys if isinstance(k, dict)]

    def _find(self, keys: list[dict], kid: str | None, alg: str) -> list[dict]:
        found = []
        for key in keys:
            if key.get("use") not in (None, "sig"):
                continue
            ops = key.get("key_ops")
            if ops is not None and "verify" not in ops:
                continue
            if kid is not None and key.get("kid") != kid:
                continue
            if _infer_alg(key) != alg:  # the algorithm is pinned to the key's own
                continue
            found.append(key)
        return found

    def signing_key(self, header: Mapping) -> tuple[Any, str]:
        """The verification key and algorithm for a JWS header, or TokenValidationError.

        The header's ``alg`` must be in ALLOWED_ALGS and equal to the key's
        algorithm. An unknown ``kid`` makes the JWKS be fetched once more.
        """
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGS:
            raise TokenValidationError("unacceptable signing algorithm")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenValidationError("bad kid")
        try:
            with self._lock:
                cached = self._jwks
            fetched = cached is None
            if fetched:
                cached = self._fetch_jwks()
                with self._lock:
                    self._jwks = cached
            found = self._find(cached, kid, alg)
            if not found and not fetched:  # unknown kid: the keys may have rotated
                fresh = self._fetch_jwks()
                with self._lock:
                    self._jwks = fresh
                found = self._find(fresh, kid, alg)
        except ProviderError as exc:
            raise TokenValidationError(f"cannot get the provider's keys: {exc}") from None
        if len(found) != 1:
            raise TokenValidationError("no unique provider key for this token")
        try:
            return jwk.construct(found[0], algorithm=alg), alg
        except JOSEError:
            raise TokenValidationError("unusable provider key") from None


# ---------------------------------------------------------------------------
# Token validation
# ---------------------------------------------------------------------------


def _verify_jwt(
    provider: Provider,
    token: str,
    *,
    audience: str,
    access_token: str | None = None,
    require: tuple[str, ...] = (),
    leeway: int = CLOCK_LEEWAY,
) -> tuple[dict, dict]:
    """Check signature (JWKS key, pinned alg), iss, aud, exp/nbf; return (header, claims)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenValidationError("not a compact JWS")
    try:
        header = jws.get_unverified_header(token)
    except JOSEError:
        raise TokenValidationError("malformed JWS header") from None
    if not isinstance(header, dict):
        raise TokenValidationError("malformed JWS header")
    if header.get("crit"):
        raise TokenValidationError("unsupported critical header parameters")
    key, alg = provider.signing_key(header)
    options = {"leeway": leeway}
    for claim in ("iss", "aud", *require):
        options[f"require_{claim}"] = True
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=provider.issuer,
            access_token=access_token,
            options=options,
        )
    except JOSEError as exc:
        raise TokenValidationError(f"invalid token: {exc}") from None
    return header, claims


def _check_iat(claims: Mapping, now: float, max_age: int, leeway: int) -> None:
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise TokenValidationError("iat missing or not a number")
    if iat > now + leeway:
        raise TokenValidationError("iat is in the future")
    if iat < now - max_age - leeway:
        raise TokenValidationError("token is too old")


def validate_id_token(
    provider: Provider,
    id_token: str,
    *,
    client_id: str,
    nonce: str,
    access_token: str | None = None,
    now: float | None = None,
    leeway: int = CLOCK_LEEWAY,
    max_age: int = ID_TOKEN_MAX_AGE,
) -> dict:
    """Validate an ID token (OpenID Connect Core 1.0 §3.1.3.7) and return its claims.

    Signature by a JWKS key with the key's algorithm (RS256/ES256 only), iss,
    aud contains client_id, azp (required when several audiences, must be
    client_id), exp, iat (present, not in the future, not older than max_age),
    sub, nonce, and at_hash when present (requires access_token).
    Raises TokenValidationError.
    """
    now = time.time() if now is None else now
    _header, claims = _verify_jwt(
        provider,
        id_token,
        audience=client_id,
        access_token=access_token,
        require=("exp", "iat", "sub"),
        leeway=leeway,
    )
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and "azp" not in claims:
        raise TokenValidationError("azp required with several audiences")
    if "azp" in claims and claims["azp"] != client_id:
        raise TokenValidationError("azp is not this client")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenValidationError("sub missing")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise TokenValidationError("exp is not a number")
    _check_iat(claims, now, max_age, leeway)
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise TokenValidationError("nonce mismatch")
    if "at_hash" in claims and not access_token:
        raise TokenValidationError("at_hash present but no access token to check it")
    return claims


def _is_logout_typ(typ: Any) -> bool:
    if not isinstance(typ, str):
        return False
    typ = typ.lower()
    if typ.startswith("application/"):
        typ = typ[len("application/") :]
    return typ == "logout+jwt"


def validate_logout_token(
    provider: Provider,
    logout_token: str,
    *,
    client_id: str,
    now: float | None = None,
    leeway: int = CLOCK_LEEWAY,
    max_age: int = LOGOUT_TOKEN_MAX_AGE,
) -> dict:
    """Validate a back-channel logout token (Back-Channel Logout 1.0 §2.6); return its claims.

    JWS by a JWKS key with the key's algorithm, header typ ``logout+jwt``, iss,
    aud contains client_id, iat present and recent, exp if present, jti
    present, events holds the back-channel-logout member with an object
    value, sid and/or sub present, no nonce. Replay detection (jti) is the
    caller's job. Raises TokenValidationError.
    """
    now = time.time() if now is None else now
    header, claims = _verify_jwt(
        provider, logout_token, audience=client_id, require=("iat", "jti"), leeway=leeway
    )
    if not _is_logout_typ(header.get("typ")):
        raise TokenValidationError("typ is not logout+jwt")
    _check_iat(claims, now, max_age, leeway)
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TokenValidationError("jti missing")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise TokenValidationError("events lacks the back-channel logout event")
    sid, sub = claims.get("sid"), claims.get("sub")
    if sid is None and sub is None:
        raise TokenValidationError("neither sid nor sub")
    for value in (sid, sub):
        if value is not None and (not isinstance(value, str) or not value):
            raise TokenValidationError("sid/sub must be non-empty strings")
    if "nonce" in claims:
        raise TokenValidationError("a logout token must not contain nonce")
    return claims


class ReplayCache:
    """Remembers logout-token jti values until they could no longer be accepted."""

    def __init__(self, ttl: float = LOGOUT_TOKEN_MAX_AGE + 2 * CLOCK_LEEWAY):
        self.ttl = ttl
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, key: str, now: float | None = None) -> bool:
        """Record key; False when it was already seen (a replay)."""
        now = time.time() if now is None else now
        with self._lock:
            for old, expires in list(self._seen.items()):
                if expires < now:
                    del self._seen[old]
            if key in self._seen:
                return False
            self._seen[key] = now + self.ttl
            return True

    def consume(self, key: str, now: float | None = None) -> bool:
        """Forget key; True when it was recorded and still fresh."""
        now = time.time() if now is None else now
        with self._lock:
            expires = self._seen.pop(key, None)
            return expires is not None and expires >= now


# ---------------------------------------------------------------------------
# Server-side sessions
# ---------------------------------------------------------------------------


class SessionStore:
    """In-process session store: random cookie value -> dict."""

    def __init__(self, ttl: float = SESSION_TTL):
        self.ttl = ttl
        self._data: dict[str, dict] = {}
        self._lock = threading.Lock()

    def new(self, data: dict | None = None) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            self._data[key] = {"created": time.time(), **(data or {})}
        return key

    def get(self, key: str | None) -> dict | None:
        if not key:
            return None
        with self._lock:
            data = self._data.get(key)
            if data is not None and data["created"] + self.ttl < time.time():
                del self._data[key]
                return None
            return data

    def delete(self, key: str | None) -> dict | None:
        if not key:
            return None
        with self._lock:
            return self._data.pop(key, None)

    def delete_user_sessions(self, *, sid: str | None = None, sub: str | None = None) -> int:
        """Drop signed-in sessions with this sid (or, when sid is None, this sub)."""
        with self._lock:
            doomed = []
            for key, data in self._data.items():
                user = data.get("user")
                if not user:
                    continue
                if sid is not None:
                    if user.get("sid") == sid and (sub is None or user.get("sub") == sub):
                        doomed.append(key)
                elif sub is not None and user.get("sub") == sub:
                    doomed.append(key)
            for key in doomed:
                del self._data[key]
            return len(doomed)

    def _purge(self) -> None:
        limit = time.time() - self.ttl
        for key in [k for k, v in self._data.items() if v["created"] < limit]:
            del self._data[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


# ---------------------------------------------------------------------------
# The relying party
# ---------------------------------------------------------------------------


class DemoSite:
    """State of one demo site; available as ``app.extensions["demo_site"]``."""

    def __init__(self, site: int, issuer: str, client: Mapping):
        self.site = site
        self.title = SITE_TITLES.get(site, f"KOTRA 데모 사이트 {site}")
        self.issuer = issuer
        self.client_id: str = client["client_id"]
        self.client_secret: str = client["client_secret"]
        base = f"http://127.0.0.1:{5000 + site}"
        self.redirect_uri: str = client.get("redirect_uri") or f"{base}/callback"
        self.post_logout_redirect_uri: str = client.get("post_logout_redirect_uri") or f"{base}/"
        self.cookie_name = f"demo_site{site}_session"
        self.provider = Provider(issuer)
        self.sessions = SessionStore()
        self.replays = ReplayCache()
        self.logout_states = ReplayCache(ttl=PENDING_LOGIN_TTL)

    def close(self) -> None:
        self.provider.close()

    def oauth(self, **kwargs) -> OAuth2Session:
        return OAuth2Session(self.client_id, redirect_uri=self.redirect_uri, **kwargs)


def pkce_s256(verifier: str) -> str:
    """RFC 7636 S256 code challenge."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _fmt_time(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    kst = timezone(timedelta(hours=9))
    return datetime.fromtimestamp(value, kst).strftime("%Y-%m-%d %H:%M:%S KST")


def _refusal_message(service: str, user: Mapping) -> str:
    claims = user.get("claims", {})
    member_type = claims.get("kotra_member_type")
    company = claims.get("kotra_company")
    if member_type == "simple":
        return "간편회원은 이용할 수 없는 서비스입니다. 일반회원으로 전환한 뒤 이용해 주세요."
    if service in ("service_mileage", "company_info_edit"):
        return "기업 범용인증서로 소속이 확인된 회원만 이용할 수 있는 서비스입니다."
    if service == "approve_employees" or not company:
        return "소속 기업이 등록된 회원만 이용할 수 있는 서비스입니다."
    return "이 서비스를 이용할 권한이 없습니다."


def _insecure_transport_ok(issuer: str) -> bool:
    parts = urlsplit(issuer)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def create_app(site: int, issuer: str, client: dict) -> Flask:
    """Build the Flask app of demo site ``site`` (1 or 2) for provider ``issuer``.

    ``client`` holds client_id, client_secret and optionally redirect_uri,
    post_logout_redirect_uri (defaults: http://127.0.0.1:500{site}/callback and /).
    No network access happens here.
    """
    if _insecure_transport_ok(issuer) or _insecure_transport_ok(client.get("redirect_uri", "")):
        # oauthlib refuses plain http unless told; the demo runs on loopback only.
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    # requests-oauthlib logs token responses at DEBUG; keep secrets out of logs.
    for name in ("requests_oauthlib", "oauthlib"):
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET or lg.level < logging.INFO:
            lg.setLevel(logging.INFO)

    rp = DemoSite(site, issuer, client)
    app = Flask(__name__)
    app.extensions["demo_site"] = rp
    app.config["SESSION_COOKIE_NAME"] = rp.cookie_name  # flask.session is unused, but distinct
    app.jinja_env.filters["kst"] = _fmt_time
    app.jinja_env.globals.update(member_types=MEMBER_TYPE_LABELS, affiliations=AFFILIATION_LABELS)

    def current() -> tuple[str | None, dict | None]:
        key = request.cookies.get(rp.cookie_name)
        return key, rp.sessions.get(key)

    def page(template: str, status: int = 200, **ctx) -> Response:
        resp = app.make_response((render_template(template, rp=rp, **ctx), status))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def message(title: str, text: str, status: int, login_link: bool = True) -> Response:
        return page("message.html", status, heading=title, text=text, login_link=login_link)

    def set_cookie(resp: Response, key: str) -> None:
        resp.set_cookie(rp.cookie_name, key, httponly=True, samesite="Lax", path="/")

    @app.errorhandler(ProviderError)
    def provider_down(exc):  # noqa: ARG001
        log.warning("provider error: %s", exc)
        return message(
            "통합회원 서비스 연결 오류",
            "통합회원 서비스(인증 서버)에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
            502,
        )

    @app.get("/")
    def home():
        _key, sess = current()
        user = (sess or {}).get("user")
        logged_out = False
        state = request.args.get("state")
        if state and not user and rp.logout_states.consume(state):
            logged_out = True  # back from the provider's end-session endpoint
        rows = []
        if user:
            ents = set(user["claims"].get("kotra_entitlements") or [])
            rows = [(k, label, k in ents) for k, label in SERVICES]
        return page("home.html", user=user, rows=rows, logged_out=logged_out)

    @app.get("/login")
    def login():
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

    @app.get("/callback")
    def callback():
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

    @app.route("/logout", methods=["GET", "POST"])
    def logout():
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
            resp = redirect(url_for("home"))
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

    @app.post("/backchannel-logout")
    def backchannel_logout():
        def bad(description: str) -> Response:
            resp = jsonify(error="invalid_request", error_description=description)
            resp.status_code = 400
            resp.headers["Cache-Control"] = "no-store"
            return resp

        token = request.form.get("logout_token")
        if not token:
            return bad("logout_token is missing")
        try:
            claims = validate_logout_token(rp.provider, token, client_id=rp.client_id)
        except TokenValidationError as exc:
            log.warning("logout token rejected: %s", exc)
            return bad(str(exc))
        if not rp.replays.add(f"{claims['iss']}|{claims['jti']}"):
            return bad("logout token replayed")
        count = rp.sessions.delete_user_sessions(sid=claims.get("sid"), sub=claims.get("sub"))
        log.info("site %s: back-channel logout ended %d session(s)", rp.site, count)
        resp = Response("", status=200)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/services/<service>")
    def service_page(service: str):
        if service not in SERVICE_LABELS:
            abort(404)
        _key, sess = current()
        user = (sess or {}).get("user")
        if not user:
            return redirect(url_for("login", next=f"/services/{service}"))
        ents = user["claims"].get("kotra_entitlements") or []
        label = SERVICE_LABELS[service]
        if service in ents:
            return page("service.html", 200, user=user, label=label, allowed=True)
        return page(
            "service.html",
            403,
            user=user,
            label=label,
            allowed=False,
            reason=_refusal_message(service, user),
        )

    return app


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def load_client_config(site: int, path: str) -> dict:
    """The ``site{n}`` entry of the demo client file, overridden by DEMO_CLIENT_ID/SECRET."""
    client: dict = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        client = dict(data.get(f"site{site}") or {})
    if os.environ.get("DEMO_CLIENT_ID"):
        client["client_id"] = os.environ["DEMO_CLIENT_ID"]
    if os.environ.get("DEMO_CLIENT_SECRET"):
        client["client_secret"] = os.environ["DEMO_CLIENT_SECRET"]
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="KOTRA demo relying party")
    parser.add_argument("--site", type=int, choices=(1, 2), required=True)
    parser.add_argument("--port", type=int)
    parser.add_argument("--issuer", default=DEFAULT_ISSUER)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    client = load_client_config(args.site, args.config)
    if not client.get("client_id") or not client.get("client_secret"):
        print(
            f"no client for site {args.site}: run `idp demo seed` (writes {args.config}) "
            "or set DEMO_CLIENT_ID and DEMO_CLIENT_SECRET",
            file=sys.stderr,
        )
        return 2
    port = args.port or 5000 + args.site
    logging.basicConfig(level=logging.INFO)
    app = create_app(args.site, args.issuer, client)
    app.run(host="127.0.0.1", port=port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
