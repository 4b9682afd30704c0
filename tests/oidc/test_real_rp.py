"""The whole OpenID Connect code flow over real HTTP, driven by relying-party libraries that
nobody here wrote: Authlib's requests client (OAuth2Session + joserfc/CodeIDToken validation)
and, when installed, pyoidc (`oic`), which fetches discovery and JWKS and verifies the ID
token itself.

The "browser" is a plain `requests.Session`: it follows the provider's 303s by hand, fills the
login form (login_id / password / csrf_token) and stops at the 302 to the redirect_uri
(https://rp.example/cb is never fetched; only its Location is read).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, form_fields

SCOPE = "openid profile email kotra"
BYE = "https://rp.example/bye"
TIMEOUT = 10


@pytest.fixture(autouse=True)
def _close_app_connections(app: Any) -> Iterator[None]:
    """Close the per-test app's pooled connections (psycopg warns when they are GC'd open,
    and warnings are errors); the shared `app` fixture does not dispose its engine."""
    yield
    from idp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- the relying party's helpers (all over HTTP) -------------------------------------------


def discover(issuer: str) -> dict[str, Any]:
    resp = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    meta: dict[str, Any] = resp.json()
    return meta


def fetch_jwks(meta: dict[str, Any]) -> dict[str, Any]:
    resp = requests.get(meta["jwks_uri"], timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text[:300]
    jwks: dict[str, Any] = resp.json()
    assert jwks["keys"], jwks
    for key in jwks["keys"]:  # RFC 7517: public parts only
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), key
    return jwks


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def callback(location: str, redirect_uri: str = REDIRECT_URI) -> dict[str, str]:
    assert location.startswith(redirect_uri + "?"), location
    return query(location)


class Browser:
    """A user agent: a cookie jar, redirects followed by hand, the login form filled in."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self.http = session or requests.Session()
        self.logins = 0

    def get(self, url: str, **kw: Any) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=TIMEOUT, **kw)

    def login(self, page_url: str, login_id: str, password: str = PASSWORD) -> str:
        """Fill in the 일반회원 form at `page_url`; return the Location of the 303."""
        page = self.get(page_url)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        assert page.headers["Content-Type"].startswith("text/html")
        action, hidden = form_fields(page.text)
        assert hidden.get("csrf_token"), "login form without csrf_token"
        assert 'name="login_id"' in page.text and 'name="password"' in page.text
        resp = self.http.post(
            urljoin(page_url, action), allow_redirects=False, timeout=TIMEOUT,
            data={**hidden, "login_id": login_id, "password": password},
        )
        assert resp.status_code == 303, (resp.status_code, resp.text[:500])
        self.logins += 1
        return urljoin(page_url, resp.headers["Location"])

    def authorize(self, url: str, login_id: str | None = None, *,
                  redirect_uri: str = REDIRECT_URI) -> str:
        """GET the authorization URL and walk to the redirect to the client; return it."""
        resp = self.get(url)
        for _ in range(5):
            if resp.status_code == 302:
                location = resp.headers["Location"]
                assert location.startswith(redirect_uri), location
                return location
            assert resp.status_code == 303, (resp.status_code, resp.text[:500])
            location = urljoin(resp.url, resp.headers["Location"])
            path = urlsplit(location).path
            if path.startswith("/interaction/") and not path.endswith("/resume"):
                assert login_id is not None, f"unexpected login page: {location}"
                location = self.login(location, login_id)
                if location.startswith(redirect_uri):
                    return location  # the login POST answers with the client's redirect
            resp = self.get(location)
        raise AssertionError("too many redirects")


def rp_session(meta: dict[str, Any], rp: TestRP, **kw: Any) -> OAuth2Session:
    return OAuth2Session(
        rp.client_id, rp.client_secret, scope=SCOPE, redirect_uri=rp.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if rp.client_secret else "none",
        token_endpoint=meta["token_endpoint"], **kw,
    )


def validate_id_token(id_token: str, jwks: dict[str, Any], *, issuer: str, client_id: str,
                      nonce: str, access_token: str, alg: str = "RS256") -> CodeIDToken:
    """OIDC Core §3.1.3.7 with joserfc (signature) and Authlib's CodeIDToken (claims)."""
    # The client's registered alg only (RFC 8725 §3.1), key chosen by kid from the JWKS.
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=[alg])
    assert token.header["alg"] == alg
    claims = CodeIDToken(
        token.claims, token.header,
        options={"iss": {"essential": True, "value": issuer},
                 "aud": {"essential": True, "value": client_id},
                 "sub": {"essential": True}, "exp": {"essential": True},
                 "iat": {"essential": True}},
        params={"nonce": nonce, "access_token": access_token, "client_id": client_id},
    )
    claims.validate()
    # What the library validated, said again explicitly (and where it is lenient).
    assert claims["iss"] == issuer
    assert client_id in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
    assert claims["nonce"] == nonce
    assert claims["at_hash"], "at_hash expected with a code-flow access token"
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    return claims


def start_authorization(meta: dict[str, Any], oauth: OAuth2Session,
                        **extra: Any) -> tuple[str, str, str, str]:
    """(url, state, nonce, code_verifier) from Authlib's create_authorization_url."""
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(12)
    url, state = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra)
    q = query(url)
    assert q["code_challenge_method"] == "S256"
    assert q["code_challenge"] == create_s256_code_challenge(verifier)
    assert q["nonce"] == nonce and q["state"] == state
    return url, state, nonce, verifier


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def introspect(meta: dict[str, Any], rp: TestRP, token: str) -> dict[str, Any]:
    resp = requests.post(meta["introspection_endpoint"], data={"token": token},
                         auth=(rp.client_id, rp.client_secret or ""), timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


# --- tests ---------------------------------------------------------------------------------


def test_discovery_metadata(live_server):
    issuer = live_server
    meta = discover(issuer)
    assert meta["issuer"] == issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["request_uri_parameter_supported"] is False
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert "kotra_member_type" in meta["claims_supported"]
    assert "code" in meta["response_types_supported"]
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    assert {"RS256", "ES256"} <= set(meta["id_token_signing_alg_values_supported"])
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"):
        assert meta[name].startswith(issuer + "/"), (name, meta[name])
    # Authlib's own validator of OIDC Discovery 1.0 §3 / RFC 8414 §2.
    OpenIDProviderMetadata(meta).validate()
    jwks = fetch_jwks(meta)
    algs = {k.get("alg") for k in jwks["keys"]}
    assert {"RS256", "ES256"} <= algs
    assert len({k["kid"] for k in jwks["keys"]}) == len(jwks["keys"])


def test_authlib_rp_full_flow(live_server, rp):
    issuer = live_server
    meta = discover(issuer)
    jwks = fetch_jwks(meta)
    oauth = rp_session(meta, rp)
    browser = Browser()

    # 1. authorize (PKCE S256, nonce, state) -> login -> callback (303 from the login POST)
    url, state, nonce, verifier = start_authorization(meta, oauth)
    location = browser.authorize(url, rp.login_id)
    assert browser.logins == 1
    cb = callback(location)
    assert cb["state"] == state
    assert cb["iss"] == issuer  # RFC 9207 §2
    assert "code" in cb and "error" not in cb

    # 2. the code exchange (client_secret_basic + code_verifier)
    seen: list[requests.Response] = []
    oauth.register_compliance_hook("access_token_response",
                                   lambda resp: seen.append(resp) or resp)
    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=location,
                              state=state, code_verifier=verifier)
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and token["refresh_token"] and token["id_token"]
    assert int(token["expires_in"]) > 0
    assert "no-store" in seen[0].headers.get("Cache-Control", "")  # RFC 6749 §5.1

    # 3. the ID token, verified with keys from jwks_uri
    claims = validate_id_token(token["id_token"], jwks, issuer=issuer, client_id=rp.client_id,
                               nonce=nonce, access_token=token["access_token"])
    assert claims["sub"] == rp.subject
    assert claims["sid"]
    # The validator really checks at_hash and nonce (not a vacuous pass).
    for params in ({"access_token": "not-the-token"}, {"nonce": "another-nonce"}):
        tok = jwt.decode(token["id_token"], KeySet.import_key_set(jwks),
                         algorithms=["RS256", "ES256"])
        with pytest.raises(JoseError):
            CodeIDToken(tok.claims, tok.header, params=params).validate()

    # 4. userinfo with the bearer token
    info = oauth.get(meta["userinfo_endpoint"], timeout=TIMEOUT)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == rp.subject
    assert info.json()["kotra_member_type"] == "general"

    # 5. refresh: a new refresh token; the new access token works
    old_refresh, old_access = token["refresh_token"], token["access_token"]
    refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
    assert refreshed["refresh_token"] and refreshed["refresh_token"] != old_refresh
    assert refreshed["access_token"] != old_access
    new_access = refreshed["access_token"]
    info = requests.get(meta["userinfo_endpoint"], headers=bearer(new_access), timeout=TIMEOUT)
    assert info.status_code == 200, info.text
    assert introspect(meta, rp, new_access)["active"] is True

    # 6. revoke the access token (RFC 7009): userinfo 401, introspection inactive
    resp = oauth.revoke_token(meta["revocation_endpoint"], token=new_access,
                              token_type_hint="access_token")
    assert resp.status_code == 200, resp.text
    info = requests.get(meta["userinfo_endpoint"], headers=bearer(new_access), timeout=TIMEOUT)
    assert info.status_code == 401, info.text
    assert "invalid_token" in info.headers.get("WWW-Authenticate", "")  # RFC 6750 §3
    assert introspect(meta, rp, new_access) == {"active": False}

    # 7. the rotated (old) refresh token is refused (RFC 9700 §4.14.2)
    resp = requests.post(meta["token_endpoint"], timeout=TIMEOUT,
                         auth=(rp.client_id, rp.client_secret or ""),
                         data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "invalid_grant"

    # 8. RP-initiated logout (RP-Initiated Logout 1.0 §2/§3)
    end_state = secrets.token_urlsafe(8)
    resp = browser.get(meta["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": BYE,
        "state": end_state})
    assert resp.status_code == 303, (resp.status_code, resp.text[:500])
    assert resp.headers["Location"].startswith(BYE + "?"), resp.headers["Location"]
    assert query(resp.headers["Location"]) == {"state": end_state}

    # 9. the SSO session is gone: prompt=none answers login_required at the redirect_uri
    url, state, _, _ = start_authorization(meta, oauth, prompt="none")
    location = browser.authorize(url)  # no login page may appear
    cb = callback(location)
    assert cb["error"] == "login_required", cb
    assert cb["state"] == state and cb["iss"] == issuer
    assert "code" not in cb


def test_es256_client_id_token_matches_a_jwks_key(app, live_server):
    issuer = live_server
    rp = TestRP.create(app, alg="ES256", login_id="member02")
    meta = discover(issuer)
    jwks = fetch_jwks(meta)
    oauth = rp_session(meta, rp)
    url, state, nonce, verifier = start_authorization(meta, oauth)
    location = Browser().authorize(url, rp.login_id)
    cb = callback(location)
    assert cb["state"] == state and cb["iss"] == issuer
    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=location,
                              state=state, code_verifier=verifier)

    header = jwt.decode(token["id_token"], KeySet.import_key_set(jwks),
                        algorithms=["ES256"]).header
    assert header["alg"] == "ES256"
    matching = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert len(matching) == 1, (header, [k["kid"] for k in jwks["keys"]])
    key = matching[0]
    assert key["kty"] == "EC" and key["crv"] == "P-256"
    assert key.get("alg", "ES256") == "ES256" and key.get("use", "sig") == "sig"
    # Only that key verifies it; an RS256-only verifier refuses it (RFC 8725 §3.1).
    jwt.decode(token["id_token"], KeySet.import_key_set({"keys": [key]}), algorithms=["ES256"])
    with pytest.raises(JoseError):
        jwt.decode(token["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    claims = validate_id_token(token["id_token"], jwks, issuer=issuer, client_id=rp.client_id,
                               nonce=nonce, access_token=token["access_token"], alg="ES256")
    assert claims["sub"] == rp.subject


def test_public_client_requires_pkce(app, live_server):
    issuer = live_server
    rp = TestRP.create(app, auth_method="none", login_id="member03")
    assert rp.client_secret is None
    meta = discover(issuer)
    jwks = fetch_jwks(meta)
    oauth = rp_session(meta, rp)
    browser = Browser()

    # Without code_challenge: refused at the authorization endpoint, back at the client.
    state = secrets.token_urlsafe(8)
    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], state=state,
                                            nonce=secrets.token_urlsafe(8))
    assert "code_challenge" not in query(url)
    cb = callback(browser.authorize(url, rp.login_id))
    assert cb["error"] == "invalid_request", cb
    assert cb["state"] == state and cb["iss"] == issuer and "code" not in cb

    # A plain challenge is refused too (RFC 9700 §2.1.1: S256 only).
    url, state, _, _ = start_authorization(meta, oauth)
    url = url.replace("code_challenge_method=S256", "code_challenge_method=plain")
    cb = callback(browser.authorize(url, rp.login_id))
    assert cb["error"] == "invalid_request", cb

    # With PKCE: the login page, then a code.
    url, state, nonce, verifier = start_authorization(meta, oauth)
    location = browser.authorize(url, rp.login_id)
    assert browser.logins == 1
    cb = callback(location)
    assert cb["state"] == state and cb["iss"] == issuer
    token_endpoint = meta["token_endpoint"]

    def exchange(code: str, verifier: str | None) -> requests.Response:
        data = {"grant_type": "authorization_code", "code": code, "client_id": rp.client_id,
                "redirect_uri": rp.redirect_uri}
        if verifier is not None:
            data["code_verifier"] = verifier
        return requests.post(token_endpoint, data=data, timeout=TIMEOUT)

    # Each failed exchange uses its own code (the SSO session makes new codes silent).
    def new_code() -> tuple[str, str]:
        u, _, _, v = start_authorization(meta, oauth)
        return callback(browser.authorize(u))["code"], v

    code, _ = new_code()
    resp = exchange(code, None)  # RFC 7636 §4.6: the verifier is required
    assert resp.status_code == 400 and resp.json()["error"] in ("invalid_request",
                                                               "invalid_grant"), resp.text
    code, _ = new_code()
    resp = exchange(code, secrets.token_urlsafe(48))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant", resp.text

    # The right verifier, through Authlib (token_endpoint_auth_method=none).
    token = oauth.fetch_token(token_endpoint, authorization_response=location, state=state,
                              code_verifier=verifier)
    assert "client_secret" not in token
    claims = validate_id_token(token["id_token"], jwks, issuer=issuer, client_id=rp.client_id,
                               nonce=nonce, access_token=token["access_token"])
    assert claims["sub"] == rp.subject
    refreshed = oauth.refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    info = requests.get(meta["userinfo_endpoint"], headers=bearer(refreshed["access_token"]),
                        timeout=TIMEOUT)
    assert info.status_code == 200 and info.json()["sub"] == rp.subject


# --- pyoidc (`oic`) ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_pyoidc_rp_full_flow(app, live_server, alg):
    oic_client = pytest.importorskip("oic.oic")
    from oic.oauth2.message import ErrorResponse
    from oic.oic.message import (
        AccessTokenResponse,
        AuthorizationResponse,
        OpenIDSchema,
        RegistrationResponse,
    )
    from oic.utils.authn.client import CLIENT_AUTHN_METHOD

    issuer = live_server
    rp = TestRP.create(app, alg=alg, login_id="member04")
    client = oic_client.Client(client_authn_method=CLIENT_AUTHN_METHOD)
    pcr = client.provider_config(issuer)  # discovery + JWKS into its key jar
    assert pcr["issuer"] == issuer
    client.store_registration_info(RegistrationResponse(
        client_id=rp.client_id, client_secret=rp.client_secret,
        redirect_uris=[rp.redirect_uri], token_endpoint_auth_method="client_secret_basic",
        id_token_signed_response_alg=alg,
    ))
    client.redirect_uris = [rp.redirect_uri]

    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(12)
    pkce, verifier = client.add_code_challenge()
    assert pkce["code_challenge_method"] == "S256"
    areq = client.construct_AuthorizationRequest(request_args={
        "client_id": rp.client_id, "response_type": "code", "scope": SCOPE.split(),
        "redirect_uri": rp.redirect_uri, "state": state, "nonce": nonce, **pkce,
    })
    url = areq.request(client.authorization_endpoint)
    browser = Browser()
    location = browser.authorize(url, rp.login_id)

    aresp = client.parse_response(AuthorizationResponse, info=urlsplit(location).query,
                                  sformat="urlencoded")
    assert isinstance(aresp, AuthorizationResponse), aresp
    assert aresp["state"] == state and aresp["iss"] == issuer

    resp = client.do_access_token_request(
        state=state, authn_method="client_secret_basic",
        request_args={"code": aresp["code"], "redirect_uri": rp.redirect_uri,
                      "code_verifier": verifier},
    )
    assert isinstance(resp, AccessTokenResponse), resp
    idt = resp["id_token"]  # signature, iss, aud, exp verified by oic
    assert idt.jws_header["alg"] == alg
    assert idt.jws_header["kid"] in {k.kid for k in client.keyjar.get_verify_key(owner=issuer)}
    assert idt["iss"] == issuer and rp.client_id in idt["aud"]
    assert idt["nonce"] == nonce and idt["sub"] == rp.subject
    client.verify_id_token(idt, {"nonce": nonce, "response_type": ["code"]})

    # RFC 6750 §2.1 header, with GET (OIDC Core §5.3.1 RECOMMENDED) and with POST.
    for method in ("GET", "POST"):
        info = client.do_user_info_request(method=method, state=state,
                                           behavior="use_authorization_header")
        assert isinstance(info, OpenIDSchema), (method, info.to_dict())
        assert info["sub"] == rp.subject

    # Refresh through oic; the old refresh token is refused afterwards.
    old_refresh = resp["refresh_token"]
    fresh = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(fresh, AccessTokenResponse), fresh
    assert fresh["refresh_token"] != old_refresh
    replay = requests.post(client.token_endpoint, timeout=TIMEOUT,
                           auth=(rp.client_id, rp.client_secret or ""),
                           data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    # Logout through the end_session_endpoint (id_token_hint as received).
    end_state = secrets.token_urlsafe(8)
    out = browser.get(client.end_session_endpoint, params={
        "id_token_hint": resp["id_token_jwt"],
        "post_logout_redirect_uri": BYE, "state": end_state})
    assert out.status_code == 303, (out.status_code, out.text[:300])
    assert query(out.headers["Location"]) == {"state": end_state}

    areq = client.construct_AuthorizationRequest(request_args={
        "client_id": rp.client_id, "response_type": "code", "scope": ["openid"],
        "redirect_uri": rp.redirect_uri, "state": "s2", "nonce": "n2", "prompt": "none",
        **client.add_code_challenge()[0],
    })
    location = browser.authorize(areq.request(client.authorization_endpoint))
    err = client.parse_response(AuthorizationResponse, info=urlsplit(location).query,
                                sformat="urlencoded")
    assert isinstance(err, ErrorResponse) and err["error"] == "login_required", err
