"""Discovery, JWKS and key rotation, client credentials, introspection, revocation, consent."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from idp.extensions import db
from idp.models import Consent
from idp.services.keys import rotate_key
from tests.helpers import REDIRECT_URI, TestRP, callback_params, form_fields


def _header(jwt: str) -> dict:
    part = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_discovery_publishes_what_conformance_suites_check(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == "http://127.0.0.1:5999"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["request_uri_parameter_supported"] is False
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    assert {"kotra_member_type", "kotra_company", "kotra_entitlements", "sid", "acr",
            "amr"} <= set(meta["claims_supported"])
    assert "kotra" in meta["scopes_supported"]


def test_jwks_keeps_the_previous_key_after_rotation(app, client, rp):
    old_kid = _header(rp.tokens(client)["id_token"])["kid"]
    with app.app_context():
        p = app.extensions["idp"]
        new_kid = rotate_key(db.session, p.cipher, alg="RS256")
        db.session.commit()
        p.keys.invalidate()
    kids = {k["kid"] for k in client.get("/jwks").get_json()["keys"]}
    assert {old_kid, new_kid} <= kids
    assert all("d" not in k for k in client.get("/jwks").get_json()["keys"])  # public only
    fresh = rp.tokens(client, prompt="login")
    assert _header(fresh["id_token"])["kid"] == new_kid


def test_es256_client_gets_es256_id_tokens(app, client):
    rp = TestRP.create(app, alg="ES256")
    header = _header(rp.tokens(client)["id_token"])
    assert header["alg"] == "ES256"
    assert header["kid"] in {k["kid"] for k in client.get("/jwks").get_json()["keys"]}


def test_client_credentials_for_service_apis(client, rp):
    resp = client.post("/token", data={"grant_type": "client_credentials"},
                       headers=rp.auth_header())
    assert resp.status_code == 200
    body = resp.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    intro = client.post("/introspect", data={"token": body["access_token"]},
                        headers=rp.auth_header()).get_json()
    assert intro["active"] is True and intro["client_id"] == rp.client_id
    assert "sub" not in intro


def test_client_secret_post_is_accepted_when_registered(app, client):
    rp = TestRP.create(app, auth_method="client_secret_post", member=False)
    resp = client.post("/token", data={"grant_type": "client_credentials",
                                       "client_id": rp.client_id,
                                       "client_secret": rp.client_secret})
    assert resp.status_code == 200
    basic = client.post("/token", data={"grant_type": "client_credentials"},
                        headers=rp.auth_header())
    assert basic.status_code == 401  # only the registered method


def test_introspection_of_access_and_refresh_tokens(client, rp):
    tokens = rp.tokens(client)
    intro = client.post("/introspect", data={"token": tokens["access_token"]},
                        headers=rp.auth_header()).get_json()
    assert intro["active"] is True and intro["sub"] == rp.subject
    assert intro["username"] == "member01" and intro["scope"] == "openid profile email kotra"
    refresh = client.post("/introspect", data={"token": tokens["refresh_token"],
                                               "token_type_hint": "refresh_token"},
                          headers=rp.auth_header()).get_json()
    assert refresh["active"] is True
    assert client.post("/introspect", data={"token": "nonsense"},
                       headers=rp.auth_header()).get_json() == {"active": False}


def test_introspection_by_a_foreign_third_party_client_says_inactive(app, client, rp):
    tokens = rp.tokens(client)
    other = TestRP.create(app, first_party=False, member=False)
    intro = client.post("/introspect", data={"token": tokens["access_token"]},
                        headers=other.auth_header()).get_json()
    assert intro == {"active": False}


def test_introspection_requires_client_authentication(client, rp):
    tokens = rp.tokens(client)
    resp = client.post("/introspect", data={"token": tokens["access_token"]})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_revoking_a_refresh_token_revokes_the_family(client, rp):
    tokens = rp.tokens(client)
    resp = client.post("/revoke", data={"token": tokens["refresh_token"]},
                       headers=rp.auth_header())
    assert resp.status_code == 200
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]
    refresh = client.post("/token", data={"grant_type": "refresh_token",
                                          "refresh_token": tokens["refresh_token"]},
                          headers=rp.auth_header())
    assert refresh.get_json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_200(client, rp):
    resp = client.post("/revoke", data={"token": "unknown"}, headers=rp.auth_header())
    assert resp.status_code == 200


def test_userinfo_without_token_is_401_with_challenge(client):
    resp = client.get("/userinfo")
    assert resp.status_code == 401 and "Bearer" in resp.headers["WWW-Authenticate"]


def test_affiliated_member_gets_company_claim(app, client):
    rp = TestRP.create(app, login_id="certuser1", affiliation="certificate")
    tokens = rp.tokens(client)
    info = client.get("/userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["kotra_company"]["business_number"] == "1208200275"
    assert info["kotra_company"]["affiliation_method"] == "certificate"
    assert "service_mileage" in info["kotra_entitlements"]


def test_scope_limits_the_claims(client, rp):
    tokens = rp.tokens(client, scope="openid")
    info = client.get("/userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info == {"sub": rp.subject}


def test_third_party_client_asks_consent_once(app, client):
    rp = TestRP.create(app, first_party=False)
    resp = rp.authorize(client)
    login = rp.login(client, resp.headers["Location"])
    consent_url = login.headers["Location"]
    assert login.status_code == 303 and "/consent" in consent_url
    page = client.get(consent_url)
    html = page.get_data(as_text=True)
    assert "정보 제공 동의" in html and "이메일 주소" in html
    action, hidden = form_fields(html)
    done = client.post(consent_url, data={**hidden, "decision": "allow"})
    final = client.get(done.headers["Location"])
    assert "code" in callback_params(final.headers["Location"], REDIRECT_URI)
    with app.app_context():
        assert db.session.scalar(select(Consent.scope)) == "openid profile email kotra"
    again = rp.authorize(client)
    assert again.status_code == 302  # remembered
    forced = rp.authorize(client, prompt="consent")  # asked again although remembered
    assert forced.status_code == 303 and forced.headers["Location"].endswith("/consent")
    assert "정보 제공 동의" in client.get(forced.headers["Location"]).get_data(as_text=True)


def test_denied_consent_returns_access_denied(app, client):
    rp = TestRP.create(app, first_party=False)
    login = rp.login(client, rp.authorize(client).headers["Location"])
    consent_url = login.headers["Location"]
    _, hidden = form_fields(client.get(consent_url).get_data(as_text=True))
    resp = client.post(consent_url, data={**hidden, "decision": "deny"})
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == "access_denied" and params["state"] == rp.last["state"]


def test_prompt_none_needing_consent_is_consent_required(app, client):
    rp = TestRP.create(app, first_party=False)
    rp.login(client, rp.authorize(client).headers["Location"])
    resp = rp.authorize(client, prompt="none")
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "consent_required"


def test_userinfo_accepts_the_token_in_a_post_body_but_not_twice(client, rp):
    tokens = rp.tokens(client)
    resp = client.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert resp.status_code == 200 and resp.get_json()["sub"] == rp.subject
    both = client.post("/userinfo", data={"access_token": tokens["access_token"]},
                       headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert both.status_code == 400
    query = client.get("/userinfo", query_string={"access_token": tokens["access_token"]})
    assert query.status_code == 401


def test_protocol_endpoints_answer_wrong_methods_and_huge_bodies_in_json(client, rp):
    wrong = client.get("/token")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert wrong.get_json() == {"error": "invalid_request"}
    huge = client.post("/token", data={"grant_type": "client_credentials", "x": "y" * 70000},
                       headers=rp.auth_header())
    assert huge.status_code == 413 and huge.get_json() == {"error": "invalid_request"}
