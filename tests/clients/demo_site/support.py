"""A fake issuer for the demo site's unit tests, and helpers to sign a browser in.

The fake issuer is a tiny Flask app served on 127.0.0.1 (free port) in a thread:
discovery, JWKS, token, userinfo and revocation endpoints. No other network is used.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, jsonify, request
from jose import jwt
from jose.utils import calculate_at_hash
from werkzeug.serving import make_server

from clients.demo_site import BACKCHANNEL_EVENT, pkce_s256

CLIENT = {
    "client_id": "site1-client",
    "client_secret": "site1-secret",
    "name": "KOTRA 데모 사이트 1",
    "redirect_uri": "http://127.0.0.1:5001/callback",
    "post_logout_redirect_uri": "http://127.0.0.1:5001/",
    "backchannel_logout_uri": "http://127.0.0.1:5001/backchannel-logout",
}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _intb64u(n: int) -> str:
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def _pem(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def rsa_jwk(private_key, kid: str) -> dict:
    pub = private_key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": _intb64u(pub.n),
        "e": _intb64u(pub.e),
    }


def _ec_jwk(private_key, kid: str) -> dict:
    pub = private_key.public_key().public_numbers()
    # ES256 keys without "alg": the client must infer it from kty/crv.
    return {
        "kty": "EC",
        "kid": kid,
        "use": "sig",
        "crv": "P-256",
        "x": b64u(pub.x.to_bytes(32, "big")),
        "y": b64u(pub.y.to_bytes(32, "big")),
    }


class FakeIssuer:
    """Discovery, JWKS, token and userinfo endpoints on a loopback port."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa_pem, self.ec_pem = _pem(self.rsa), _pem(self.ec)
        self.keys = [rsa_jwk(self.rsa, "rsa1"), _ec_jwk(self.ec, "ec1")]
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
            if pkce_s256(verifier) != grant["code_challenge"]:
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


def signed_in(rp, client=None, *, sid="sid-1", sub="user-1", **claims) -> str:
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


def start_login(client, query=""):
    resp = client.get("/login" + query)
    assert resp.status_code == 302
    q = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    return resp, q
