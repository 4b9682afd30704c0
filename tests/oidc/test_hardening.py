"""Regressions for issue 11 (findings 2, 5, 6, 8 and 10): each failed before its fix."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from idp.oidc.authorize import PARAMETER_LIMITS
from tests.helpers import REDIRECT_URI, TestRP, callback_params


def _interaction_bytes(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the pending requests the store is asked to keep (whatever the store)."""
    store = app.extensions["idp"].interactions._store
    sizes: list[int] = []
    real_put = store.put

    def put(key: str, value: dict[str, Any], ttl: int) -> None:
        if key.startswith("ia:"):
            sizes.append(len(json.dumps(value)))
        real_put(key, value, ttl)

    monkeypatch.setattr(store, "put", put)
    return sizes


# Finding 2 ------------------------------------------------------------------------------

def test_junk_parameters_are_not_stored_with_the_pending_request(app, rp, monkeypatch):
    sizes = _interaction_bytes(app, monkeypatch)
    junk = {f"junk{i}": "x" * 1024 for i in range(60)}
    for _ in range(10):
        web = app.test_client()  # cookieless, like the review's probe
        resp = web.post("/authorize", data={**rp.authorize_params(), **junk})
        assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    assert len(sizes) == 10
    assert sum(sizes) < 10 * 1024  # was 610 KB: now only the protocol's parameters


def test_stored_parameters_are_only_the_protocols(app, rp, monkeypatch):
    sizes = _interaction_bytes(app, monkeypatch)
    web = app.test_client()
    web.get("/authorize", query_string=rp.authorize_params(ui_locales="en", junk="x",
                                                           _consented="1"))
    store = app.extensions["idp"].interactions._store
    with app.app_context():
        [key] = [k for k in _ia_keys(app)]
        kept = store.get(key)["params"]
    assert set(kept) == {"response_type", "client_id", "redirect_uri", "scope", "state",
                         "nonce", "code_challenge", "code_challenge_method", "ui_locales"}
    assert len(sizes) == 1


def _ia_keys(app: Any) -> list[str]:
    store = app.extensions["idp"].interactions._store
    redis_client = getattr(store, "_redis", None)
    if redis_client is not None:
        return [k.decode()[len("idp:"):] for k in redis_client.scan_iter("idp:ia:*")]
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models.security import KeyValue

    return [k for k in db.session.scalars(select(KeyValue.key)) if k.startswith("ia:")]


@pytest.mark.parametrize("name", sorted(set(PARAMETER_LIMITS) - {"client_id", "redirect_uri"}))
def test_an_oversized_parameter_is_invalid_request_and_nothing_is_stored(
        app, client, rp, monkeypatch, name):
    sizes = _interaction_bytes(app, monkeypatch)
    resp = rp.authorize(client, **{name: "a" * (PARAMETER_LIMITS[name] + 1)})
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"
    assert sizes == []


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_an_oversized_client_id_or_redirect_uri_is_shown_not_redirected(client, rp, name):
    resp = rp.authorize(client, **{name: "a" * 5000})
    assert resp.status_code == 400 and "Location" not in resp.headers


# Finding 6 (authorization endpoint) ----------------------------------------------------

HOSTILE = ['"', "\\", "\x01", "\x7f", "한글", "é", "\u2028", "<script>", "%00"]


@pytest.mark.parametrize("suffix", HOSTILE)
def test_a_hostile_redirect_uri_is_shown_to_the_user_not_500(client, rp, suffix):
    resp = rp.authorize(client, redirect_uri=REDIRECT_URI + suffix)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "invalid_request" in resp.get_data(as_text=True)


@pytest.mark.parametrize("response_type", [f"code{s}" for s in HOSTILE] + ["token", "코드"])
def test_a_hostile_response_type_is_unsupported_response_type_not_500(client, rp,
                                                                       response_type):
    resp = rp.authorize(client, response_type=response_type)
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == rp.last["state"]


def test_a_long_nonce_is_refused_before_login(client, rp):
    resp = rp.authorize(client, nonce="n" * 256)
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"
    assert rp.tokens(client, nonce="n" * 255)["access_token"]


# Finding 10 ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,error", [("request", "request_not_supported"),
                                        ("request_uri", "request_uri_not_supported")])
def test_a_request_object_is_refused_before_the_parameters_it_would_carry(
        client, rp, name, error):
    value = "eyJhbGciOiJub25lIn0.e30." if name == "request" else "https://rp.example/r"
    # OIDC Core §6.1: everything but client_id (and here redirect_uri) inside the object.
    resp = client.get("/authorize", query_string={
        "client_id": rp.client_id, "redirect_uri": REDIRECT_URI, "state": "s1", name: value})
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == error and params["state"] == "s1"


# Finding 6 (protocol endpoints, logout) ------------------------------------------------

LANES = ["/userinfo", "/token", "/introspect", "/revoke"]


@pytest.mark.parametrize("path", LANES)
def test_a_multipart_part_without_a_name_is_invalid_request(client, rp, path):
    body = b"--XX\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--XX--\r\n"
    resp = client.post(path, data=body, content_type="multipart/form-data; boundary=XX",
                       headers=rp.auth_header())
    assert resp.status_code == 400 and resp.get_json() == {"error": "invalid_request"}


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
@pytest.mark.parametrize("credentials", [b"a\x00b:secret", b"id:se\x00cret", b"\x00:\x00"])
def test_a_nul_inside_basic_credentials_is_invalid_client(client, rp, path, credentials):
    raw = base64.b64encode(credentials).decode()
    resp = client.post(path, data={"grant_type": "client_credentials", "token": "x"},
                       headers={"Authorization": f"Basic {raw}"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_a_nul_client_id_at_logout_is_a_clean_answer(client):
    resp = client.get("/logout", query_string={"client_id": "\x00",
                                               "post_logout_redirect_uri": "https://x/"})
    assert resp.status_code == 400
    assert client.get("/logout?client_id=%00").status_code < 500


# Finding 5 -----------------------------------------------------------------------------

def _remove_without_revoking(app: Any, client_id: str) -> None:
    """Only the registration goes (as when the removal ran in a process whose revocation
    was missed, or a token was issued while it ran)."""
    from sqlalchemy import delete

    from idp.extensions import db
    from idp.models import OAuthClient

    with app.app_context():
        db.session.execute(delete(OAuthClient).where(OAuthClient.client_id == client_id))
        db.session.commit()


def _remove(app: Any, client_id: str) -> None:
    from idp.extensions import db
    from idp.services.clients import remove_client

    with app.app_context():
        assert remove_client(db.session, client_id)
        db.session.commit()


@pytest.mark.parametrize("remove", [_remove, _remove_without_revoking])
def test_tokens_of_a_removed_client_stop_working(app, client, rp, remove):
    tokens = rp.tokens(client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    api = TestRP.create(app, member=False, resource_server=True)
    assert _introspect(client, api, tokens["access_token"])["active"] is True
    remove(app, rp.client_id)
    resp = client.get("/userinfo", headers=bearer)
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert _introspect(client, api, tokens["access_token"]) == {"active": False}
    assert _introspect(client, api, tokens["refresh_token"]) == {"active": False}


def test_removing_a_client_revokes_its_tokens_and_deletes_its_codes(app, client, rp):
    from sqlalchemy import func, select

    from idp.extensions import db
    from idp.models import AuthorizationCode, Token

    rp.tokens(client)
    rp.code_flow(client)  # an unused code
    _remove(app, rp.client_id)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0
        assert db.session.scalar(select(func.count()).select_from(Token)
                                 .where(Token.revoked_at.is_(None))) == 0


def _introspect(client: Any, caller: Any, token: str) -> dict[str, Any]:
    resp = client.post("/introspect", data={"token": token}, headers=caller.auth_header())
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body: dict[str, Any] = resp.get_json()
    return body


def test_a_first_party_site_cannot_introspect_another_clients_tokens(app, client, rp):
    tokens = rp.tokens(client)
    other_site = TestRP.create(app, member=False, first_party=True)
    assert _introspect(client, other_site, tokens["access_token"]) == {"active": False}
    assert _introspect(client, rp, tokens["access_token"])["active"] is True  # its own


def test_a_resource_server_may_introspect_any_clients_tokens(app, client, rp):
    tokens = rp.tokens(client)
    api = TestRP.create(app, member=False, first_party=False, resource_server=True)
    intro = _introspect(client, api, tokens["access_token"])
    assert intro["active"] is True and intro["client_id"] == rp.client_id


def test_a_public_client_cannot_be_a_resource_server(app):
    from idp.errors import InvalidInput

    with pytest.raises(InvalidInput):
        TestRP.create(app, auth_method="none", member=False, resource_server=True)


@pytest.mark.parametrize("scope", ["openid", "profile", "email", "phone", "kotra",
                                   "openid profile email phone kotra"])
def test_client_credentials_cannot_obtain_member_scopes(client, rp, scope):
    resp = client.post("/token", data={"grant_type": "client_credentials", "scope": scope},
                       headers=rp.auth_header())
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_scope"


def test_client_credentials_without_scope_still_works(client, rp):
    resp = client.post("/token", data={"grant_type": "client_credentials"},
                       headers=rp.auth_header())
    assert resp.status_code == 200 and resp.get_json().get("scope", "") == ""


def test_cli_registers_and_lists_a_resource_server(migrated):
    from click.testing import CliRunner

    from idp.cli import main

    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": migrated}
    added = CliRunner().invoke(main, ["clients", "add", "--name", "Trade API",
                                      "--grant-type", "client_credentials",
                                      "--resource-server", "--json"], env=env)
    assert added.exit_code == 0, added.output
    client_id = json.loads(added.output)["client_id"]
    listed = json.loads(CliRunner().invoke(main, ["clients", "list", "--json"], env=env).output)
    row = next(c for c in listed if c["client_id"] == client_id)
    assert row["resource_server"] is True and row["first_party"] is False
    text = CliRunner().invoke(main, ["clients", "list"], env=env).output
    assert f"{client_id}" in text and "resource_server" in text
    CliRunner().invoke(main, ["clients", "remove", client_id], env=env)


# Finding 8 (redirect URIs) -------------------------------------------------------------

@pytest.mark.parametrize("uri", [
    "https://rp.example/cb#", "https://rp.example/cb#frag", "https://rp.example/c b",
    "https://rp.example/cb\x01", "https://rp.example/한글", 'https://rp.example/"',
    "https://rp.example/\\", "https://user:pw@rp.example/cb", "https://rp.example:99999/cb",
    "https://rp.example:x/cb", "https:///cb", "https://rp.example/" + "a" * 500,
    "rp.example/cb", "javascript:alert(1)", "http://rp.example/cb", " https://rp.example/cb",
])
@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris",
                                   "backchannel_logout_uri"])
def test_malformed_client_uris_are_refused_at_registration(app, uri, field):
    from idp.errors import InvalidInput
    from idp.extensions import db
    from idp.services.clients import add_client

    value: Any = uri if field == "backchannel_logout_uri" else [uri]
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        add_client(db.session, name="x", grant_types=["authorization_code"],
                   **{"redirect_uris": ["https://rp.example/ok"], field: value})
    assert refused.value.message


@pytest.mark.parametrize("uri", ["https://rp.example/cb", "https://rp.example:8443/cb?x=1&y=%20",
                                 "http://127.0.0.1:8080/cb", "http://localhost/cb",
                                 "http://[::1]:5000/cb"])
def test_well_formed_client_uris_are_accepted(app, uri):
    from idp.extensions import db
    from idp.services.clients import add_client

    with app.app_context():
        add_client(db.session, name="x", grant_types=["authorization_code"], redirect_uris=[uri])
        db.session.rollback()


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
@pytest.mark.parametrize("header", ["Basic ", " x", "Basic\x1cabc", "Basic YWJj\x85", " ",
                                    "Basic a b", "Basic ***"])
def test_an_unparseable_authorization_header_is_invalid_client(client, path, header):
    resp = client.post(path, data={"grant_type": "client_credentials", "token": "x"},
                       headers={"Authorization": header})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("hint", ["id_token", "x", "한글"])
def test_revocation_with_an_unknown_token_type_hint_still_revokes(client, rp, hint):
    tokens = rp.tokens(client)
    resp = client.post("/revoke", data={"token": tokens["access_token"],
                                        "token_type_hint": hint}, headers=rp.auth_header())
    assert resp.status_code == 200
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


TRUNCATED_FILE_PART = b'--XX\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\nv'


@pytest.mark.parametrize("path", LANES)
@pytest.mark.parametrize("body", [TRUNCATED_FILE_PART, TRUNCATED_FILE_PART + b"\r\n--XX--\r\n",
                                  b'--XX\r\nContent-Disposition: form-data; name="token"'
                                  b"\r\n\r\nx\r\n--XX--\r\n"])
def test_a_multipart_body_is_invalid_request_at_protocol_endpoints(client, rp, path, body):
    """They take form-urlencoded bodies; werkzeug leaves the spooled file of a truncated file
    part unclosed (warnings are errors here: a leak fails the test)."""
    import gc

    resp = client.post(path, data=body, content_type="multipart/form-data; boundary=XX",
                       headers=rp.auth_header())
    assert resp.status_code == 400 and resp.get_json() == {"error": "invalid_request"}
    gc.collect()


@pytest.mark.parametrize("path", ["/authorize", "/logout"])
def test_a_multipart_body_is_invalid_request_at_authorize_and_logout(client, path):
    import gc

    resp = client.post(path, data=TRUNCATED_FILE_PART,
                       content_type="multipart/form-data; boundary=XX")
    assert resp.status_code == 400 and "Location" not in resp.headers
    gc.collect()


@pytest.mark.parametrize("name", ["state", "nonce", "scope", "login_hint", "ui_locales"])
def test_a_nul_in_a_parameter_after_the_client_is_verified_is_redirected(client, rp, name):
    resp = rp.authorize(client, **{name: "a\x00b"})
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


# RFC 6749 §5.2 invalid_request: "includes multiple credentials, or utilizes more than one
# mechanism for authenticating the client" (§2.3: one method per request). Authlib alone took
# the first method that succeeded and ignored the rest.
CLIENT_AUTH_ENDPOINTS = [
    ("/token", {"grant_type": "client_credentials"}),
    ("/introspect", {"token": "x" * 43}),
    ("/revoke", {"token": "x" * 43}),
]


@pytest.mark.parametrize(("path", "form"), CLIENT_AUTH_ENDPOINTS)
def test_a_body_client_id_must_name_the_authenticated_client(app, client, path, form):
    site = TestRP.create(app, member=False)
    other = TestRP.create(app, member=False, name="Other RP")
    resp = client.post(path, data={**form, "client_id": other.client_id},
                       headers=site.auth_header())
    assert resp.status_code == 400
    assert json.loads(resp.data)["error"] == "invalid_request"
    same = client.post(path, data={**form, "client_id": site.client_id},
                       headers=site.auth_header())
    assert same.status_code == 200


@pytest.mark.parametrize(("path", "form"), CLIENT_AUTH_ENDPOINTS)
def test_one_client_authentication_method_per_request(app, client, path, form):
    site = TestRP.create(app, member=False)
    resp = client.post(path, data={**form, "client_id": site.client_id,
                                   "client_secret": site.client_secret},
                       headers=site.auth_header())
    assert resp.status_code == 400
    assert json.loads(resp.data)["error"] == "invalid_request"
