"""Attacks and mistakes, each answered with the exact RFC error (never a 500, never a leak)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import AuditEvent, AuthorizationCode, Token
from tests.helpers import REDIRECT_URI, TestRP, callback_params


def _events(app, name):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)).all()


@pytest.mark.parametrize(
    "override",
    [
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": REDIRECT_URI + "/"},  # exact match: no prefix, no normalisation
        {"redirect_uri": REDIRECT_URI + "?x=1"},
        {"redirect_uri": None},
        {"client_id": "no-such-client"},
        {"client_id": None},
    ],
)
def test_bad_client_or_redirect_uri_shows_error_page_and_never_redirects(client, rp, override):
    resp = rp.authorize(client, **override)
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert "요청을 처리할 수 없습니다" in resp.get_data(as_text=True)


def test_unsupported_response_type_redirects_with_error_and_iss(client, rp):
    resp = rp.authorize(client, response_type="token")
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == rp.last["state"]
    assert params["iss"] == "http://127.0.0.1:5999"


def test_repeated_parameter_is_invalid_request(client, rp):
    query = rp.authorize_params()
    url = "/authorize?" + "&".join(f"{k}={v}" for k, v in query.items()) + "&scope=openid"
    resp = client.get(url)
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_missing_pkce_is_invalid_request(client, rp):
    resp = rp.authorize(client, code_challenge=None, code_challenge_method=None)
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == "invalid_request"


def test_plain_pkce_method_is_refused(client, rp):
    resp = rp.authorize(client, code_challenge_method="plain")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


def test_wrong_code_verifier_is_invalid_grant(client, rp):
    params = rp.code_flow(client)
    resp = rp.exchange(client, params["code"], code_verifier="x" * 50)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_invalid_request(client, rp):
    params = rp.code_flow(client)
    resp = rp.exchange(client, params["code"], code_verifier=None)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


def test_code_verifier_without_challenge_is_rejected(app, client):
    rp = TestRP.create(app, require_pkce=False)
    params = rp.code_flow(client, code_challenge=None, code_challenge_method=None)
    resp = rp.exchange(client, params["code"])  # sends the verifier of the pair
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


def test_code_replay_fails_and_revokes_tokens_issued_from_it(app, client, rp):
    params = rp.code_flow(client)
    first = rp.exchange(client, params["code"])
    assert first.status_code == 200
    access = first.get_json()["access_token"]
    replay = rp.exchange(client, params["code"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 401
    assert _events(app, "token.code_replay")


def test_expired_code_is_invalid_grant(app, client, rp):
    params = rp.code_flow(client)
    with app.app_context():
        db.session.execute(update(AuthorizationCode).values(
            expires_at=dt.datetime(2000, 1, 1)))
        db.session.commit()
    resp = rp.exchange(client, params["code"])
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_code_of_another_client_is_invalid_grant(app, client, rp):
    other = TestRP.create(app, login_id="member02", member=False)
    params = rp.code_flow(client)
    other.last = rp.last
    resp = other.exchange(client, params["code"])
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    # and the legitimate client can still use it (nothing was consumed)
    assert rp.exchange(client, params["code"]).status_code == 200


def test_redirect_uri_mismatch_at_token_endpoint(client, rp):
    params = rp.code_flow(client)
    resp = rp.exchange(client, params["code"], redirect_uri="https://rp.example/other")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(client, rp):
    params = rp.code_flow(client)
    rp.client_secret = "wrong"
    resp = rp.exchange(client, params["code"])
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_unknown_grant_type(client, rp):
    resp = client.post("/token", data={"grant_type": "password", "username": "x",
                                       "password": "y"}, headers=rp.auth_header())
    assert resp.get_json()["error"] == "unsupported_grant_type"


def test_refresh_rotation_and_reuse_revokes_family(app, client, rp):
    tokens = rp.tokens(client)
    first = client.post("/token", data={"grant_type": "refresh_token",
                                        "refresh_token": tokens["refresh_token"]},
                        headers=rp.auth_header())
    assert first.status_code == 200
    rotated = first.get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    reuse = client.post("/token", data={"grant_type": "refresh_token",
                                        "refresh_token": tokens["refresh_token"]},
                        headers=rp.auth_header())
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    # the whole family is gone: the rotated refresh token and every access token
    again = client.post("/token", data={"grant_type": "refresh_token",
                                        "refresh_token": rotated["refresh_token"]},
                        headers=rp.auth_header())
    assert again.get_json()["error"] == "invalid_grant"
    for access in (tokens["access_token"], rotated["access_token"]):
        info = client.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        assert info.status_code == 401
    assert _events(app, "token.refresh_reuse")


def test_refresh_token_of_another_client_is_invalid_grant(app, client, rp):
    tokens = rp.tokens(client)
    other = TestRP.create(app, login_id="member02", member=False)
    resp = client.post("/token", data={"grant_type": "refresh_token",
                                       "refresh_token": tokens["refresh_token"]},
                       headers=other.auth_header())
    assert resp.get_json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_scope(client, rp):
    tokens = rp.tokens(client, scope="openid profile")
    resp = client.post("/token", data={"grant_type": "refresh_token", "scope": "openid email",
                                       "refresh_token": tokens["refresh_token"]},
                       headers=rp.auth_header())
    assert resp.get_json()["error"] == "invalid_scope"


def test_prompt_none_without_session_is_login_required(client, rp):
    resp = rp.authorize(client, prompt="none")
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == "login_required"
    assert params["state"] == rp.last["state"] and params["iss"]


def test_prompt_none_with_other_values_is_invalid_request(client, rp):
    resp = rp.authorize(client, prompt="none login")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


def test_prompt_none_with_session_issues_code_silently(client, rp):
    rp.code_flow(client)
    resp = rp.authorize(client, prompt="none")
    assert "code" in callback_params(resp.headers["Location"], REDIRECT_URI)


def test_prompt_login_forces_a_new_login(client, rp):
    rp.code_flow(client)
    resp = rp.authorize(client, prompt="login")
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]


def test_max_age_forces_a_new_login(app, client, rp, clock):
    tokens = rp.tokens(client)
    import base64
    import json

    payload = tokens["id_token"].split(".")[1]
    auth_time = json.loads(base64.urlsafe_b64decode(payload + "=="))["auth_time"]
    clock.advance(1.1)
    resp = rp.authorize(client, max_age="0")
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    login = rp.login(client, resp.headers["Location"])
    code = callback_params(login.headers["Location"], REDIRECT_URI)["code"]
    new = rp.exchange(client, code).get_json()
    payload = new["id_token"].split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=="))["auth_time"] > auth_time


def test_max_age_with_prompt_none_is_login_required(client, rp, clock):
    rp.code_flow(client)
    clock.advance(1.1)
    resp = rp.authorize(client, prompt="none", max_age="0")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "login_required"


def test_invalid_max_age_is_invalid_request(client, rp):
    resp = rp.authorize(client, max_age="-5")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


def test_id_token_hint_of_other_user_with_prompt_none_is_login_required(app, client, rp):
    other_web = app.test_client()
    other = TestRP.create(app, login_id="member02")
    hint = other.tokens(other_web)["id_token"]
    rp.code_flow(client)  # member01 signed in on `client`
    resp = rp.authorize(client, prompt="none", id_token_hint=hint)
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "login_required"


def test_forged_id_token_hint_is_invalid_request(client, rp):
    rp.code_flow(client)
    resp = rp.authorize(client, id_token_hint="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


def test_unknown_parameters_are_ignored(client, rp):
    params = rp.code_flow(client, foo="bar", claims_locales="ko")
    assert "code" in params


def test_authorize_accepts_post(client, rp):
    rp.code_flow(client)
    resp = client.post("/authorize", data=rp.authorize_params())
    assert resp.status_code == 302 and "code=" in resp.headers["Location"]


def test_public_client_needs_pkce_and_cannot_use_client_credentials(app, client):
    public = TestRP.create(app, auth_method="none", login_id="member03")
    resp = public.authorize(client, code_challenge=None, code_challenge_method=None)
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"
    params = public.code_flow(client)
    resp = client.post("/token", data={
        "grant_type": "authorization_code", "code": params["code"], "client_id":
        public.client_id, "redirect_uri": REDIRECT_URI, "code_verifier": public.last["verifier"]})
    assert resp.status_code == 200
    cc = client.post("/token", data={"grant_type": "client_credentials",
                                     "client_id": public.client_id})
    assert cc.status_code in (400, 401) and cc.get_json()["error"] in (
        "invalid_client", "unauthorized_client")


# RFC 6749 §4.1.2.1: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION_CHARS = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


@pytest.mark.parametrize("extra", [
    {"response_type": "코드"},  # Authlib quotes response_type in its description
    {"response_type": 'code"'},
    {"response_type": "code\\"},
    {"prompt": "없음"},
    {"max_age": "십"},
    {"code_challenge_method": "평문"},
    {"response_mode": "조각"},
])
def test_error_description_is_ascii(client, rp, extra):
    resp = rp.authorize(client, **extra)
    assert resp.status_code == 302
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] in ("unsupported_response_type", "invalid_request")
    assert params["state"] == rp.last["state"]
    assert set(params.get("error_description", "")) <= _DESCRIPTION_CHARS


def test_unquotable_response_type_with_unverified_redirect_uri_never_redirects(client, rp):
    resp = rp.authorize(client, response_type="코드", redirect_uri="https://evil.example/cb")
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_token_response_is_not_cacheable(client, rp):
    params = rp.code_flow(client)
    resp = rp.exchange(client, params["code"])
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Pragma"] == "no-cache"


def test_tokens_are_stored_hashed(app, client, rp):
    tokens = rp.tokens(client)
    with app.app_context():
        row = db.session.scalars(select(Token)).first()
        assert row.access_token_hash != tokens["access_token"]
        assert tokens["access_token"] not in repr(row.__dict__)
        assert tokens["refresh_token"] not in repr(row.__dict__)
