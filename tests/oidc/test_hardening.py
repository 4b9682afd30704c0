"""Regressions for issue 11 (findings 2, 5, 6, 8 and 10): each failed before its fix."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from idp.oidc.authorize import PARAMETER_LIMITS
from tests.helpers import REDIRECT_URI, callback_params


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
