"""Regressions for what a security review found (each once reproduced, now refused)."""

from __future__ import annotations

import base64
import json

import pytest

from idp.extensions import db
from idp.models import Member
from idp.oidc.jwts import make_logout_token
from tests.helpers import REDIRECT_URI, TestRP, callback_params


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("max_age", ["²", "9" * 5000, "1e3", " 5"])
def test_malformed_max_age_is_invalid_request_not_500(client, rp, max_age):
    resp = rp.authorize(client, max_age=max_age)
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


def test_id_token_hint_with_a_non_string_kid_is_refused_not_500(client, rp):
    hint = f"{_b64({'alg': 'RS256', 'kid': {'x': 1}})}.{_b64({})}.AA"
    assert client.get("/logout", query_string={"id_token_hint": hint}).status_code == 400
    rp.code_flow(client)
    resp = rp.authorize(client, id_token_hint=hint)
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


def test_a_logout_token_is_not_an_id_token_hint(app, client, rp):
    rp.code_flow(client)
    with app.app_context():
        registered = app.extensions["idp"].clients.get(db.session, rp.client_id)
        logout_token = make_logout_token(app.extensions["idp"], db.session, registered,
                                         sub=rp.subject, sid="x")
    resp = client.get("/logout", query_string={"id_token_hint": logout_token})
    assert resp.status_code == 400


def test_a_narrower_refresh_keeps_the_grant_scope_for_the_next_one(client, rp):
    tokens = rp.tokens(client)
    narrow = client.post("/token", data={"grant_type": "refresh_token", "scope": "openid",
                                         "refresh_token": tokens["refresh_token"]},
                         headers=rp.auth_header()).get_json()
    assert narrow["scope"] == "openid"
    wide = client.post("/token", data={"grant_type": "refresh_token",
                                       "scope": "openid profile",
                                       "refresh_token": narrow["refresh_token"]},
                       headers=rp.auth_header())
    assert wide.status_code == 200 and wide.get_json()["scope"] == "openid profile"


def test_another_client_replaying_a_rotated_token_cannot_revoke_the_family(app, client, rp):
    tokens = rp.tokens(client)
    rotated = client.post("/token", data={"grant_type": "refresh_token",
                                          "refresh_token": tokens["refresh_token"]},
                          headers=rp.auth_header()).get_json()
    other = TestRP.create(app, member=False)
    resp = client.post("/token", data={"grant_type": "refresh_token",
                                       "refresh_token": tokens["refresh_token"]},
                       headers=other.auth_header())
    assert resp.get_json()["error"] == "invalid_grant"
    still = client.post("/token", data={"grant_type": "refresh_token",
                                        "refresh_token": rotated["refresh_token"]},
                        headers=rp.auth_header())
    assert still.status_code == 200


def test_a_deactivated_member_cannot_refresh(app, client, rp):
    tokens = rp.tokens(client)
    with app.app_context():
        db.session.query(Member).update({"status": "withdrawn"})
        db.session.commit()
    resp = client.post("/token", data={"grant_type": "refresh_token",
                                       "refresh_token": tokens["refresh_token"]},
                       headers=rp.auth_header())
    assert resp.get_json()["error"] == "invalid_grant"


def test_non_utf8_basic_credentials_are_invalid_client(client):
    raw = base64.b64encode(b"\xff\xfe:\xff").decode()
    resp = client.post("/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {raw}"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_nul_characters_are_refused_everywhere(client, rp):
    resp = rp.authorize(client, client_id="abc\x00def")
    assert resp.status_code == 400 and "Location" not in resp.headers
    token = client.post("/token", data={"grant_type": "client_credentials",
                                        "client_id": "a\x00", "client_secret": "b"})
    assert token.status_code == 400


@pytest.mark.parametrize("extra,error", [
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://rp.example/req"}, "request_uri_not_supported"),
    ({"response_mode": "fragment"}, "invalid_request"),
])
def test_unsupported_request_features_are_refused(client, rp, extra, error):
    resp = rp.authorize(client, **extra)
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == error


def test_token_parameters_come_from_the_body_only(client, rp):
    resp = client.post("/token?grant_type=client_credentials", headers=rp.auth_header())
    assert resp.status_code == 400


def test_introspecting_a_refresh_token_reports_its_own_expiry(client, rp):
    tokens = rp.tokens(client)
    intro = client.post("/introspect", data={"token": tokens["refresh_token"],
                                             "token_type_hint": "something_else"},
                        headers=rp.auth_header()).get_json()
    assert intro["active"] is True and intro["token_type"] == "refresh_token"
    assert intro["exp"] - intro["iat"] > 86400


def test_language_links_stay_on_this_site(client):
    html = client.get("/%5Cevil.example/").get_data(as_text=True)
    assert 'href="?lang=en"' in html and "evil.example" not in html.split("<main")[0]
