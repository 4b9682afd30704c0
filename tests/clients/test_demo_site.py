"""Unit tests of the demo relying party (clients/demo_site.py), against a fake issuer.

The fake issuer is a tiny Flask app served on 127.0.0.1 (free port) in a thread:
discovery, JWKS, token and userinfo endpoints. No other network is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, jsonify, request
from jose import jwt
from jose.utils import calculate_at_hash
from werkzeug.serving import make_server

from clients import demo_site
from clients.demo_site import (
    BACKCHANNEL_EVENT,
    TokenValidationError,
    create_app,
    validate_id_token,
    validate_logout_token,
)

CLIENT = {
    "client_id": "site1-client",
    "client_secret": "site1-secret",
    "name": "KOTRA 데모 사이트 1",
    "redirect_uri": "http://127.0.0.1:5001/callback",
    "post_logout_redirect_uri": "http://127.0.0.1:5001/",
    "backchannel_logout_uri": "http://127.0.0.1:5001/backchannel-logout",
}


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64u(n: int) -> str:
    return _b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def _pem(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _rsa_jwk(private_key, kid: str) -> dict:
    pub = private_key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": _int_b64u(pub.n),
        "e": _int_b64u(pub.e),
    }


def _ec_jwk(private_key, kid: str) -> dict:
    pub = private_key.public_key().public_numbers()
    # ES256 keys without "alg": the client must infer it from kty/crv.
    return {
        "kty": "EC",
        "kid": kid,
        "use": "sig",
        "crv": "P-256",
        "x": _b64u(pub.x.to_bytes(32, "big")),
        "y": _b64u(pub.y.to_bytes(32, "big")),
    }


class FakeIssuer:
    """Discovery, JWKS, token and userinfo endpoints on a loopback port."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa_pem, self.ec_pem = _pem(self.rsa), _pem(self.ec)
        self.keys = [_rsa_jwk(self.rsa, "rsa1"), _ec_jwk(self.ec, "ec1")]
        self.jwks_fetches = 0
        self.codes: dict[str, dict] = {}
        self.userinfo: dict = {}
        self.url = ""
        app = Flask("fake_issuer")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            u = self.url
            return jsonify(
                issuer=u,
                authorization_endpoint=f"{u}/authorize",
                token_endpoint=f"{u}/token",
                userinfo_endpoint=f"{u}/userinfo",
                jwks_uri=f"{u}/jwks",
                end_session_endpoint=f"{u}/logout",
                revocation_endpoint=f"{u}/revoke",
                authorization_response_iss_parameter_supported=True,
                backchannel_logout_supported=True,
                backchannel_logout_session_supported=True,
            )

        @app.get("/jwks")
        def jwks():
            self.jwks_fetches += 1
            return jsonify(keys=self.keys)

        @app.post("/token")
        def token():
            auth = request.authorization
            if not auth or (auth.username, auth.password) != (
                CLIENT["client_id"],
                CLIENT["client_secret"],
            ):
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(request.form.get("code", ""), None)
            if grant is None or request.form.get("grant_type") != "authorization_code":
                return jsonify(error="invalid_grant"), 400
            verifier = request.form.get("code_verifier", "")
            if demo_site.pkce_s256(verifier) != grant["code_challenge"]:
                return jsonify(error="invalid_grant", error_description="pkce"), 400
            if request.form.get("redirect_uri") != CLIENT["redirect_uri"]:
                return jsonify(error="invalid_grant"), 400
            access = "at-" + uuid.uuid4().hex
            id_token = self.sign(self.id_claims(nonce=grant["nonce"], access_token=access))
            return jsonify(
                access_token=access,
                token_type="Bearer",
                expires_in=300,
                id_token=id_token,
                refresh_token="rt-" + uuid.uuid4().hex,
                scope=grant["scope"],
            )

        @app.get("/userinfo")
        def userinfo():
            return jsonify(self.userinfo)

        @app.post("/revoke")
        def revoke():
            return "", 200

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def id_claims(self, *, nonce="n-123", access_token=None, **over) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "user-1",
            "aud": CLIENT["client_id"],
            "azp": CLIENT["client_id"],
            "iat": now,
            "exp": now + 300,
            "auth_time": now - 5,
            "nonce": nonce,
            "sid": "sid-1",
            "acr": "urn:kotra:acr:password",
            "amr": ["pwd"],
            "name": "홍길동",
            "kotra_member_type": "general",
            "kotra_entitlements": [
                "online_consultation",
                "seminar_application",
                "other_service_application",
            ],
        }
        if access_token:
            claims["at_hash"] = calculate_at_hash(access_token, hashlib.sha256)
        claims.update(over)
        return {k: v for k, v in claims.items() if v is not None}

    def logout_claims(self, **over) -> dict:
        claims = {
            "iss": self.url,
            "aud": CLIENT["client_id"],
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
            "sid": "sid-1",
            "sub": "user-1",
            "events": {BACKCHANNEL_EVENT: {}},
        }
        claims.update(over)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict, *, key="rsa", typ="JWT", kid=None) -> str:
        pem, alg = (self.rsa_pem, "RS256") if key == "rsa" else (self.ec_pem, "ES256")
        kid = kid or ("rsa1" if key == "rsa" else "ec1")
        return jwt.encode(claims, pem, algorithm=alg, headers={"kid": kid, "typ": typ})

    def logout_token(self, *, key="rsa", typ="logout+jwt", **over) -> str:
        return self.sign(self.logout_claims(**over), key=key, typ=typ)


@pytest.fixture(scope="module")
def issuer():
    fake = FakeIssuer()
    yield fake
    fake.close()


@pytest.fixture
def app(issuer, monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    issuer.keys = issuer.keys[:2]
    application = create_app(1, issuer.url, dict(CLIENT))
    application.config["TESTING"] = True
    yield application
    application.extensions["demo_site"].close()


@pytest.fixture
def rp(app):
    return app.extensions["demo_site"]


@pytest.fixture
def client(app):
    return app.test_client()


def _signed_in(rp, client=None, *, sid="sid-1", sub="user-1", **claims) -> str:
    user_claims = {"sub": sub, "sid": sid, "name": "홍길동", **claims}
    key = rp.sessions.new(
        {
            "user": {
                "sub": sub,
                "sid": sid,
                "claims": user_claims,
                "tokens": {"id_token": "x.y.z", "access_token": "at"},
            }
        }
    )
    if client is not None:
        client.set_cookie(rp.cookie_name, key, domain="localhost")
    return key


# --------------------------------------------------------------------------- back-channel


def test_valid_logout_token_kills_sessions_with_that_sid(issuer, rp, client):
    a = _signed_in(rp, sid="sid-1")
    b = _signed_in(rp, sid="sid-1")
    other = _signed_in(rp, sid="sid-2")
    resp = client.post("/backchannel-logout", data={"logout_token": issuer.logout_token()})
    assert resp.status_code == 200
    assert "no-store" in resp.headers["Cache-Control"]
    assert rp.sessions.get(a) is None and rp.sessions.get(b) is None
    assert rp.sessions.get(other) is not None


def test_logout_token_with_sub_only_es256(issuer, rp, client):
    mine = _signed_in(rp, sid="sid-9", sub="user-7")
    other = _signed_in(rp, sid="sid-8", sub="user-8")
    token = issuer.logout_token(key="ec", sid=None, sub="user-7")
    resp = client.post("/backchannel-logout", data={"logout_token": token})
    assert resp.status_code == 200
    assert rp.sessions.get(mine) is None and rp.sessions.get(other) is not None


def _alg_none(issuer) -> str:
    header = _b64u(json.dumps({"alg": "none", "typ": "logout+jwt", "kid": "rsa1"}).encode())
    return f"{header}.{_b64u(json.dumps(issuer.logout_claims()).encode())}."


def _tampered(issuer) -> str:
    head, _payload, sig = issuer.logout_token().split(".")
    forged = _b64u(json.dumps(issuer.logout_claims(sid="sid-1", sub="someone-else")).encode())
    return f"{head}.{forged}.{sig}"


BAD_LOGOUT_TOKENS = {
    "wrong_typ": lambda i: i.logout_token(typ="JWT"),
    "no_typ": lambda i: jwt.encode(
        i.logout_claims(), i.rsa_pem, algorithm="RS256", headers={"kid": "rsa1", "typ": None}
    ),
    "nonce": lambda i: i.logout_token(nonce="abc"),
    "no_events": lambda i: i.logout_token(events=None),
    "events_wrong_member": lambda i: i.logout_token(events={"http://example.com/x": {}}),
    "events_not_object": lambda i: i.logout_token(events={BACKCHANNEL_EVENT: "yes"}),
    "wrong_aud": lambda i: i.logout_token(aud="site2-client"),
    "wrong_iss": lambda i: i.logout_token(iss="http://evil.example"),
    "no_jti": lambda i: i.logout_token(jti=None),
    "no_iat": lambda i: i.logout_token(iat=None),
    "old_iat": lambda i: i.logout_token(iat=int(time.time()) - 3600),
    "expired": lambda i: i.logout_token(exp=int(time.time()) - 3600),
    "no_sid_no_sub": lambda i: i.logout_token(sid=None, sub=None),
    "bad_signature": _tampered,
    "alg_none": _alg_none,
    "hs256": lambda i: jwt.encode(
        i.logout_claims(), "secret", algorithm="HS256", headers={"kid": "rsa1", "typ": "logout+jwt"}
    ),
    "alg_not_the_keys": lambda i: i.sign(i.logout_claims(), key="ec", kid="rsa1", typ="logout+jwt"),
    "unknown_kid": lambda i: i.sign(i.logout_claims(), kid="nope", typ="logout+jwt"),
    "garbage": lambda i: "not-a-jwt",
}


@pytest.mark.parametrize("case", sorted(BAD_LOGOUT_TOKENS))
def test_invalid_logout_tokens_are_rejected(issuer, rp, client, case):
    kept = _signed_in(rp, sid="sid-1")
    token = BAD_LOGOUT_TOKENS[case](issuer)
    resp = client.post("/backchannel-logout", data={"logout_token": token})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_request"
    assert "no-store" in resp.headers["Cache-Control"]
    assert rp.sessions.get(kept) is not None


def test_missing_logout_token_is_rejected(client):
    resp = client.post("/backchannel-logout", data={})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_request"


def test_replayed_logout_token_is_rejected(issuer, rp, client):
    token = issuer.logout_token()
    assert client.post("/backchannel-logout", data={"logout_token": token}).status_code == 200
    again = _signed_in(rp, sid="sid-1")
    resp = client.post("/backchannel-logout", data={"logout_token": token})
    assert resp.status_code == 400
    assert "replay" in resp.get_json()["error_description"]
    assert rp.sessions.get(again) is not None


def test_jwks_is_cached_and_refetched_once_on_unknown_kid(issuer, rp):
    before = issuer.jwks_fetches
    validate_logout_token(rp.provider, issuer.logout_token(), client_id=CLIENT["client_id"])
    validate_logout_token(rp.provider, issuer.logout_token(), client_id=CLIENT["client_id"])
    assert issuer.jwks_fetches == before + 1
    # rotation: a new key appears at the provider after the keys were cached
    issuer.keys = [*issuer.keys[:2], {**_rsa_jwk(issuer.rsa, "rsa2")}]
    token = issuer.sign(issuer.logout_claims(), kid="rsa2", typ="logout+jwt")
    validate_logout_token(rp.provider, token, client_id=CLIENT["client_id"])
    assert issuer.jwks_fetches == before + 2
    with pytest.raises(TokenValidationError):
        validate_logout_token(
            rp.provider,
            issuer.sign(issuer.logout_claims(), kid="ghost", typ="logout+jwt"),
            client_id=CLIENT["client_id"],
        )
    assert issuer.jwks_fetches == before + 3


# --------------------------------------------------------------------------- gating


def test_service_gating_follows_entitlements(rp, client):
    _signed_in(
        rp,
        client,
        kotra_member_type="simple",
        kotra_entitlements=["online_consultation", "seminar_application"],
    )
    refused = client.get("/services/other_service_application")
    assert refused.status_code == 403
    assert "간편회원은 이용할 수 없는 서비스입니다" in refused.get_data(as_text=True)
    allowed = client.get("/services/seminar_application")
    assert allowed.status_code == 200
    assert "신청 가능" in allowed.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "간편회원" in home and "불가" in home and "가능" in home


def test_service_gating_general_member_with_entitlement(rp, client):
    _signed_in(
        rp,
        client,
        kotra_member_type="general",
        kotra_entitlements=["other_service_application"],
        kotra_company={
            "business_number": "1234567890",
            "name": "무역상사",
            "affiliation_method": "approval_password",
            "affiliated_at": 1700000000,
        },
    )
    assert client.get("/services/other_service_application").status_code == 200
    assert client.get("/services/service_mileage").status_code == 403
    assert client.get("/services/no_such_service").status_code == 404
    assert "무역상사" in client.get("/").get_data(as_text=True)


def test_service_page_requires_sign_in(client):
    resp = client.get("/services/seminar_application")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


# --------------------------------------------------------------------------- ID token


def _validate(issuer, rp, token, *, nonce="n-123", access_token=None):
    return validate_id_token(
        rp.provider, token, client_id=CLIENT["client_id"], nonce=nonce, access_token=access_token
    )


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_id_token_valid(issuer, rp, key):
    claims = _validate(
        issuer, rp, issuer.sign(issuer.id_claims(access_token="at-1"), key=key), access_token="at-1"
    )
    assert claims["sub"] == "user-1"


BAD_ID_TOKENS = {
    "wrong_nonce": (lambda i: i.sign(i.id_claims(nonce="other")), None),
    "wrong_iss": (lambda i: i.sign(i.id_claims(iss="http://evil.example")), None),
    "wrong_aud": (lambda i: i.sign(i.id_claims(aud="site2-client", azp=None)), None),
    "aud_list_without_us": (lambda i: i.sign(i.id_claims(aud=["a", "b"], azp="a")), None),
    "wrong_azp": (lambda i: i.sign(i.id_claims(aud=[CLIENT["client_id"], "b"], azp="b")), None),
    "bad_at_hash": (lambda i: i.sign(i.id_claims(access_token="at-other")), "at-1"),
    "at_hash_without_access_token": (lambda i: i.sign(i.id_claims(access_token="at-1")), None),
    "expired": (lambda i: i.sign(i.id_claims(exp=int(time.time()) - 3600)), None),
    "future_iat": (lambda i: i.sign(i.id_claims(iat=int(time.time()) + 3600)), None),
    "no_sub": (lambda i: i.sign(i.id_claims(sub=None)), None),
    "alg_none": (
        lambda i: _b64u(b'{"alg":"none"}') + "." + _b64u(json.dumps(i.id_claims()).encode()) + ".",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ID_TOKENS))
def test_id_token_validator_rejects(issuer, rp, case):
    make, access_token = BAD_ID_TOKENS[case]
    token = make(issuer)
    with pytest.raises(TokenValidationError):
        _validate(issuer, rp, token, access_token=access_token)


# --------------------------------------------------------------------------- code flow


def _start_login(client, query=""):
    resp = client.get("/login" + query)
    assert resp.status_code == 302
    q = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    return resp, q


def test_full_code_flow_then_logout(issuer, rp, client):
    resp, q = _start_login(client)
    assert resp.headers["Location"].startswith(issuer.url + "/authorize?")
    assert q["response_type"] == "code" and q["client_id"] == CLIENT["client_id"]
    assert q["scope"] == "openid profile email kotra"
    assert q["code_challenge_method"] == "S256" and q["redirect_uri"] == CLIENT["redirect_uri"]
    assert q["state"] and q["nonce"]
    assert client.get_cookie("demo_site1_session", domain="localhost") is not None
    issuer.codes["c-1"] = {
        "nonce": q["nonce"],
        "code_challenge": q["code_challenge"],
        "scope": q["scope"],
    }
    issuer.userinfo = {
        "sub": "user-1",
        "name": "홍길동",
        "preferred_username": "kotra01",
        "kotra_member_type": "general",
    }
    resp = client.get(f"/callback?code=c-1&state={q['state']}&iss={issuer.url}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "홍길동" in home and "kotra01" in home and "일반회원" in home
    assert "KOTRA 데모 사이트 1 — 설명회 신청" in home
    assert client.get("/services/other_service_application").status_code == 200

    resp = client.get("/logout")
    assert resp.status_code == 302
    loc = urlsplit(resp.headers["Location"])
    lq = {k: v[0] for k, v in parse_qs(loc.query).items()}
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == issuer.url + "/logout"
    assert lq["client_id"] == CLIENT["client_id"] and lq["id_token_hint"].count(".") == 2
    assert lq["post_logout_redirect_uri"] == CLIENT["post_logout_redirect_uri"]
    assert "홍길동" not in client.get("/").get_data(as_text=True)
    assert "로그아웃되었습니다" in client.get(f"/?state={lq['state']}").get_data(as_text=True)


def test_callback_userinfo_sub_mismatch(issuer, client):
    _resp, q = _start_login(client)
    issuer.codes["c-2"] = {
        "nonce": q["nonce"],
        "code_challenge": q["code_challenge"],
        "scope": q["scope"],
    }
    issuer.userinfo = {"sub": "somebody-else"}
    resp = client.get(f"/callback?code=c-2&state={q['state']}&iss={issuer.url}")
    assert resp.status_code == 400
    assert "일치하지 않습니다" in resp.get_data(as_text=True)


def test_prompt_none_passthrough_and_login_required(issuer, client):
    _resp, q = _start_login(client, "?prompt=none")
    assert q["prompt"] == "none"
    resp = client.get(f"/callback?error=login_required&state={q['state']}&iss={issuer.url}")
    assert resp.status_code == 200
    assert "로그인" in resp.get_data(as_text=True)


@pytest.mark.parametrize("variant", ["bad_state", "missing_iss", "wrong_iss", "access_denied"])
def test_callback_errors_show_korean_page(issuer, client, variant):
    _resp, q = _start_login(client)
    params = {"code": "c-x", "state": q["state"], "iss": issuer.url}
    if variant == "bad_state":
        params["state"] = "forged"
    elif variant == "missing_iss":
        del params["iss"]
    elif variant == "wrong_iss":
        params["iss"] = "http://evil.example"
    else:
        params = {"error": "access_denied", "state": q["state"], "iss": issuer.url}
    resp = client.get("/callback", query_string=params)
    assert resp.status_code == 400
    assert "<h2>로그인" in resp.get_data(as_text=True)


def test_cookie_names_differ_per_site(issuer):
    one = create_app(1, issuer.url, dict(CLIENT))
    two = create_app(2, issuer.url, dict(CLIENT))
    try:
        assert one.extensions["demo_site"].cookie_name == "demo_site1_session"
        assert two.extensions["demo_site"].cookie_name == "demo_site2_session"
        assert "사업 신청" in two.test_client().get("/").get_data(as_text=True)
    finally:
        one.extensions["demo_site"].close()
        two.extensions["demo_site"].close()
