"""Hostile input at every endpoint: never a 5xx, and every error well formed.

Hypothesis draws requests that mix valid values (a registered client, its redirect URI, live
tokens, a signed-in browser) with hostile ones (control characters, NUL, quotes, backslashes,
Hangul, over-long values, invalid UTF-8, multipart parts without names), so the fuzzing
reaches deep into each endpoint instead of stopping at the first check. It runs against the
storage the suite runs on: SQLite, or PostgreSQL + Redis when IDP_DATABASE_URL /
IDP_REDIS_URL are set (issue 11 found NUL and length failures only on PostgreSQL).

Derandomized and bounded (the whole module in well under a minute); for a long hunt:
    IDP_FUZZ_EXAMPLES=5000 IDP_FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/fuzz
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote_from_bytes, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import _clean, make_app
from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, add_test_member, form_fields

LOGIN_FUZZ_MEMBER = "fuzzer07"
EXAMPLES = int(os.environ.get("IDP_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    derandomize=os.environ.get("IDP_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)

# RFC 6749 §5.2 / §4.1.2.1: error_description is restricted to these characters.
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
TOKEN_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                "unsupported_grant_type", "invalid_scope",
                "unsupported_token_type"}  # RFC 7009 §2.2.1
BEARER_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}  # RFC 6750 §3.1
AUTHORIZE_ERRORS = {  # RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6
    "invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
    "invalid_scope", "interaction_required", "login_required", "account_selection_required",
    "consent_required", "invalid_request_uri", "invalid_request_object",
    "request_not_supported", "request_uri_not_supported", "registration_not_supported",
}

NASTY = ["", " ", '"', "'", "\\", "\x00", "\x01", "\x1f", "\x7f", "\x85", "한글", "é", "\u2028",
         "\ufeff", "\U0001f600", "<script>", "%00", "%", "%zz", "&", "=", "#", "?", "+", "\r\n",
         "{}", "[]", "null", "-1", "0", "1e9", "9" * 40, "a" * 256, "a" * 600, "b" * 5000]


def hostile() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY), st.text(max_size=30), st.text(min_size=200,
                                                                           max_size=700))


def value(*known: str) -> st.SearchStrategy[str]:
    """A known-good value, a hostile one, or a good one with hostile characters around it."""
    good = st.sampled_from(known) if known else st.just("x")
    return st.one_of(good, hostile(), st.builds(lambda g, h: g + h, good, hostile()),
                     st.builds(lambda h, g: h + g, hostile(), good))


def junk() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(hostile().filter(bool), hostile(), max_size=4)


def raw_query() -> st.SearchStrategy[str]:
    """A query string of raw bytes, invalid UTF-8 included."""
    pair = st.builds(lambda k, v: quote_from_bytes(k) + "=" + quote_from_bytes(v),
                     st.binary(max_size=12), st.binary(max_size=40))
    return st.lists(pair, max_size=5).map("&".join)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def authorization(*good: str) -> st.SearchStrategy[dict[str, str]]:
    """An Authorization header: a good one, or Basic/Bearer of hostile material, or none."""
    raw_basic = st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode())
    header = st.one_of(st.sampled_from(good) if good else st.nothing(), raw_basic,
                       st.builds(lambda s, t: f"{s} {t}", st.sampled_from(
                           ["Basic", "Bearer", "bearer", "Digest", ""]), hostile()),
                       hostile())
    # What a server hands the application: bytes read as latin-1, no line breaks.
    wire = header.map(lambda h: h.encode().decode("latin-1").replace("\r", "").replace("\n", ""))
    return st.one_of(st.just({}), wire.map(lambda h: {"Authorization": h}))


@dataclass(repr=False)
class Fuzz:
    app: Any
    rp: TestRP  # first-party, confidential, with a member
    third: TestRP  # third-party (consent), confidential
    public: TestRP  # public client (PKCE, auth method none)
    api: TestRP  # resource server
    access_token: str
    refresh_token: str
    id_token: str

    def signed_in(self) -> Any:
        """A browser with an SSO session at the provider."""
        web = self.app.test_client()
        self.rp.code_flow(web)
        return web

    def good_auth(self) -> list[str]:
        return [basic(c.client_id, c.client_secret or "") for c in (self.rp, self.third,
                                                                    self.api)]

    def client_ids(self) -> list[str]:
        return [c.client_id for c in (self.rp, self.third, self.public, self.api)]


@pytest.fixture(scope="module")
def fuzz(base_settings: dict[str, Any]) -> Iterator[Fuzz]:
    from idp.extensions import db

    # Signing keys cached as in production (the test default of 0 re-reads them per token).
    app = make_app(base_settings, keys={"cache_seconds": 300})
    _clean(app)
    rp = TestRP.create(app)
    third = TestRP.create(app, first_party=False, member=False, name="Third party")
    public = TestRP.create(app, auth_method="none", member=False, name="Public")
    api = TestRP.create(app, first_party=False, member=False, resource_server=True,
                        grant_types=["client_credentials"], name="API")
    add_test_member(app, LOGIN_FUZZ_MEMBER)
    tokens = rp.tokens(app.test_client())
    yield Fuzz(app, rp, third, public, api, tokens["access_token"], tokens["refresh_token"],
               tokens["id_token"])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


def assert_json_error(resp: Any, allowed: set[str]) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    if resp.status_code < 400:
        return
    if not resp.data:  # RFC 6750 §3.1: a bare challenge when no credentials were sent
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        return
    body = json.loads(resp.data)
    assert isinstance(body, dict) and body.get("error") in allowed, body
    assert DESCRIPTION.fullmatch(body.get("error_description", "")), body
    if resp.status_code == 401:
        assert "WWW-Authenticate" in resp.headers


def assert_authorize_answer(resp: Any, redirect_uris: set[str]) -> None:
    """A redirect to the client (a code or an RFC error), an interaction, or an error page."""
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    if resp.status_code in (302, 303):
        location = resp.headers["Location"]
        target = location.split("?", 1)[0]
        if target in redirect_uris:
            params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            assert "code" in params or params.get("error") in AUTHORIZE_ERRORS, params
            assert DESCRIPTION.fullmatch(params.get("error_description", "")), params
            assert params["iss"]  # RFC 9207
        else:
            assert "/interaction/" in location, location
    else:
        assert resp.status_code == 400, resp.status_code
        assert "text/html" in resp.content_type  # shown to the user, never redirected


# Discovery, JWKS, health -----------------------------------------------------------------

@FUZZ
@given(path=st.sampled_from(["/.well-known/openid-configuration", "/jwks", "/healthz",
                             "/readyz", "/", "/favicon.ico", "/interaction/x",
                             "/interaction/x/resume", "/interaction/x/consent"]),
       method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
       query=raw_query())
def test_documents_and_probes(fuzz, path, method, query):
    resp = fuzz.app.test_client().open(f"{path}?{query}", method=method)
    assert resp.status_code < 500 or (path == "/readyz" and resp.status_code == 503)
    if path in ("/.well-known/openid-configuration", "/jwks") and method == "GET":
        assert resp.status_code == 200 and isinstance(resp.get_json(), dict)


@FUZZ
@given(page=st.sampled_from(["/", "/interaction/{}", "/interaction/{}/resume",
                             "/interaction/{}/consent", "/authorize", "/logout"]),
       uid=st.binary(max_size=40), method=st.sampled_from(["GET", "POST"]),
       cookies=st.dictionaries(st.sampled_from(["idp_browser", "idp_sso", "idp_lang",
                                                "idp_remember_id", "session"]),
                               st.binary(max_size=60), max_size=4))
def test_pages_with_hostile_paths_and_cookies(fuzz, page, uid, method, cookies):
    path = page.format(quote_from_bytes(uid, safe=""))
    # What a server hands the application: a Cookie header of latin-1 text, no line breaks.
    header = "; ".join(f"{k}={v.decode('latin-1')}" for k, v in cookies.items())
    header = header.replace("\r", "").replace("\n", "")
    resp = fuzz.app.test_client().open(path, method=method,
                                       headers={"Cookie": header} if header else {})
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]


# Authorization endpoint ------------------------------------------------------------------

AUTHORIZE_NAMES = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                   "code_challenge", "code_challenge_method", "prompt", "max_age", "ui_locales",
                   "login_hint", "acr_values", "id_token_hint", "response_mode", "display",
                   "claims", "claims_locales", "request", "request_uri", "registration"]


# Checked first: fuzzing them stops a request at the door, so they are fuzzed only now and then.
FRONT = {"client_id", "redirect_uri", "response_type"}


def authorize_overrides(fuzz_ids: list[str], id_token: str, *, front: bool
                        ) -> st.SearchStrategy[dict[str, str]]:
    known: dict[str, st.SearchStrategy[str]] = {
        "response_type": value("code", "token", "id_token", "code id_token"),
        "client_id": value(*fuzz_ids),
        "redirect_uri": value(REDIRECT_URI, "https://rp.example/bye"),
        "scope": value("openid", "openid profile email phone kotra", "profile"),
        "prompt": value("none", "login", "consent", "select_account", "none login"),
        "max_age": value("0", "3600"),
        "acr_values": value("urn:kotra:loa:1", "urn:kotra:loa:2"),
        "id_token_hint": value(id_token, id_token[:-5] + "AAAAA", "a.b.c"),
        "code_challenge_method": value("S256", "plain"),
        "response_mode": value("query", "fragment", "form_post"),
        "ui_locales": value("ko", "en", "ko-KR en"),
        "nonce": value("n-0S6_WzA2Mj"),
        "login_hint": value("member01"),
    }
    optional = {name: known.get(name, value()) for name in AUTHORIZE_NAMES
                if front or name not in FRONT}
    return st.fixed_dictionaries({}, optional=optional)


@st.composite
def authorize_request(draw: Any, fuzz: Fuzz) -> dict[str, str]:
    rp = draw(st.sampled_from([fuzz.rp, fuzz.third, fuzz.public]))
    front = draw(st.integers(0, 4)) == 0
    params: dict[str, str] = rp.authorize_params()
    removable = [name for name in params if front or name not in FRONT]
    for name in draw(st.sets(st.sampled_from(removable), max_size=2)):
        del params[name]
    params.update(draw(authorize_overrides(fuzz.client_ids(), fuzz.id_token, front=front)))
    params.update(draw(junk()))
    return params


@FUZZ
@given(data=st.data(), method=st.sampled_from(["GET", "POST"]), signed_in=st.booleans())
def test_authorize(fuzz, data, method, signed_in):
    web = fuzz.signed_in() if signed_in and data.draw(st.integers(0, 3)) == 0 else \
        fuzz.app.test_client()
    params = data.draw(authorize_request(fuzz))
    if method == "GET":
        resp = web.get("/authorize", query_string=params)
    else:
        resp = web.post("/authorize", data=params)
    assert_authorize_answer(resp, {REDIRECT_URI})


@FUZZ
@given(query=raw_query(), method=st.sampled_from(["GET", "POST"]))
def test_authorize_raw_bytes(fuzz, query, method):
    web = fuzz.app.test_client()
    if method == "GET":
        resp = web.get("/authorize?" + query)
    else:
        resp = web.post("/authorize", data=query.encode(),
                        content_type="application/x-www-form-urlencoded")
    assert_authorize_answer(resp, {REDIRECT_URI})


# The login form (the interaction) -----------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_login_post(fuzz, data):
    """A pending request (itself fuzzed), then a fuzzed login form: a successful login runs
    the rest of the pipeline (where a long nonce once reached PostgreSQL).

    Its own member and addresses: the wrong passwords it sends lock only what it uses.
    """
    addr = f"10.{data.draw(st.integers(0, 255))}.{data.draw(st.integers(0, 255))}.1"
    web = fuzz.app.test_client()
    web.environ_base["REMOTE_ADDR"] = addr
    if data.draw(st.booleans()):
        params = data.draw(authorize_request(fuzz))
    else:  # a valid request but for its nonce and state, which only the login's end stores
        params = fuzz.rp.authorize_params(nonce=data.draw(value("n-0S6_WzA2Mj")),
                                          state=data.draw(value("af0ifjsldkj")))
    resp = web.get("/authorize", query_string=params)
    location = resp.headers.get("Location", "")
    if resp.status_code != 303 or "/interaction/" not in location:
        assert_authorize_answer(resp, {REDIRECT_URI})
        return
    page = web.get(location)
    assert page.status_code == 200
    action, hidden = form_fields(page.get_data(as_text=True))
    form = {**hidden, "login_id": LOGIN_FUZZ_MEMBER, "password": PASSWORD}
    form.update(data.draw(st.fixed_dictionaries({}, optional={
        "login_id": value(LOGIN_FUZZ_MEMBER), "password": value(PASSWORD),
        "csrf_token": value(hidden.get("csrf_token", "")), "remember_id": value("y")})))
    form.update(data.draw(junk()))
    tab = data.draw(st.one_of(st.just(""), raw_query()))
    resp = web.post(f"{action}?{tab}" if tab else action, data=form)
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    if resp.status_code in (302, 303):
        assert_authorize_answer(resp, {REDIRECT_URI})
    else:
        assert resp.status_code in (400, 401, 429) and "text/html" in resp.content_type


# Token, userinfo, introspection, revocation --------------------------------------------------

@st.composite
def token_form(draw: Any, fuzz: Fuzz) -> tuple[dict[str, str], dict[str, str]]:
    rp = fuzz.rp
    form = draw(st.fixed_dictionaries({}, optional={
        "grant_type": value("authorization_code", "refresh_token", "client_credentials",
                            "password", "urn:ietf:params:oauth:grant-type:device_code"),
        "code": value("unknown-code"),
        "redirect_uri": value(REDIRECT_URI),
        "code_verifier": value("v" * 43),
        "refresh_token": value(fuzz.refresh_token, "unknown"),
        "scope": value("openid", "openid profile", "api.read", ""),
        "client_id": value(*fuzz.client_ids()),
        "client_secret": value(rp.client_secret or ""),
    }))
    form.update(draw(junk()))
    headers = draw(authorization(*fuzz.good_auth()))
    return form, headers


def fresh_code(fuzz: Fuzz) -> dict[str, str]:
    web = fuzz.app.test_client()
    params = fuzz.rp.code_flow(web)
    return {"grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": REDIRECT_URI, "code_verifier": fuzz.rp.last["verifier"]}


@FUZZ
@given(data=st.data())
def test_token(fuzz, data):
    form, headers = data.draw(token_form(fuzz))
    if data.draw(st.integers(0, 5)) == 0:  # now and then a real code, fuzzed around it
        form = {**fresh_code(fuzz), **data.draw(junk())}
        headers = {"Authorization": fuzz.good_auth()[0]}
    resp = fuzz.app.test_client().post("/token", data=form, headers=headers)
    assert_json_error(resp, TOKEN_ERRORS)
    if resp.status_code == 200:
        assert resp.get_json()["token_type"].lower() == "bearer"


@FUZZ
@given(data=st.data(), method=st.sampled_from(["GET", "POST", "PUT"]))
def test_userinfo(fuzz, data, method):
    headers = data.draw(authorization(f"Bearer {fuzz.access_token}"))
    form = data.draw(st.fixed_dictionaries({}, optional={
        "access_token": value(fuzz.access_token)}))
    form.update(data.draw(junk()))
    resp = fuzz.app.test_client().open("/userinfo", method=method, headers=headers,
                                       data=form if method != "GET" else None,
                                       query_string=form if method == "GET" else None)
    assert_json_error(resp, BEARER_ERRORS)
    if resp.status_code == 200:
        assert resp.get_json()["sub"] == fuzz.rp.subject


@FUZZ
@given(data=st.data(), path=st.sampled_from(["/introspect", "/revoke"]))
def test_introspect_and_revoke(fuzz, data, path):
    # Only a token made for this example is ever revoked: the shared ones stay live.
    victim = data.draw(st.sampled_from(["unknown", fuzz.refresh_token, fuzz.access_token]))
    if path == "/revoke" and victim != "unknown":
        victim = "unknown-" + victim
    form = data.draw(st.fixed_dictionaries({}, optional={
        "token": value(victim),
        "token_type_hint": value("access_token", "refresh_token", "id_token"),
        "client_id": value(*fuzz.client_ids()),
        "client_secret": value(fuzz.rp.client_secret or ""),
    }))
    form.update(data.draw(junk()))
    headers = data.draw(authorization(*fuzz.good_auth()))
    resp = fuzz.app.test_client().post(path, data=form, headers=headers)
    assert_json_error(resp, TOKEN_ERRORS)
    if resp.status_code == 200 and path == "/introspect":
        assert isinstance(resp.get_json()["active"], bool)


@FUZZ
@given(path=st.sampled_from(["/token", "/userinfo", "/introspect", "/revoke", "/authorize",
                             "/logout"]),
       content_type=st.sampled_from([
           "multipart/form-data; boundary=XX", "application/x-www-form-urlencoded",
           "application/json", "text/plain", "multipart/form-data", "", "a/b; charset=x"]),
       body=st.one_of(st.binary(max_size=300), st.lists(st.sampled_from([
           b"--XX\r\n", b"Content-Disposition: form-data\r\n", b"Content-Disposition: "
           b'form-data; name="token"\r\n', b"Content-Disposition: form-data; name=\"\"\r\n",
           b'Content-Disposition: form-data; name="f"; filename="a"\r\n', b"\r\n", b"value",
           b"\x00", b"\xff\xfe", b"--XX--\r\n", b"token=x&", b"%00", b"=&="]), max_size=12)
           .map(b"".join)),
       auth=st.booleans())
def test_raw_bodies(fuzz, path, content_type, body, auth):
    headers = {"Authorization": fuzz.good_auth()[0]} if auth else {}
    resp = fuzz.app.test_client().post(path, data=body, content_type=content_type,
                                       headers=headers)
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    if path in ("/token", "/introspect", "/revoke"):
        assert_json_error(resp, TOKEN_ERRORS)
    elif path == "/userinfo":
        assert_json_error(resp, BEARER_ERRORS)


# Logout ----------------------------------------------------------------------------------

@FUZZ
@given(data=st.data(), method=st.sampled_from(["GET", "POST"]), confirm=st.booleans())
def test_logout(fuzz, data, method, confirm):
    web = fuzz.signed_in() if data.draw(st.integers(0, 4)) == 0 else fuzz.app.test_client()
    params = data.draw(st.fixed_dictionaries({}, optional={
        "id_token_hint": value(fuzz.id_token, fuzz.id_token[:-4] + "AAAA", "a.b.c"),
        "client_id": value(*fuzz.client_ids()),
        "post_logout_redirect_uri": value("https://rp.example/bye", REDIRECT_URI),
        "state": value("s"),
        "ui_locales": value("ko", "en"),
        "logout_hint": value(fuzz.rp.login_id),
    }))
    params.update(data.draw(junk()))
    if method == "GET":
        resp = web.get("/logout", query_string=params)
    else:
        resp = web.post("/logout", data=params)
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    if confirm and resp.status_code == 200 and 'name="decision"' in resp.get_data(as_text=True):
        _, hidden = form_fields(resp.get_data(as_text=True))
        hidden["decision"] = data.draw(value("logout", "cancel"))
        done = web.post("/logout/confirm", data=hidden)
        assert done.status_code < 500, done.get_data(as_text=True)[:500]
