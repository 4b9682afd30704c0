"""The login seam (idp/web/interaction.finish_login) and the acr a relying party asks for.

A second login method (a stand-in for the certificate login that comes later) is registered
by the test exactly as a real one will be: a view that authenticates and ends in
finish_login, and a LoginMethod naming the acr it reaches.
"""

from __future__ import annotations

import base64
import json

import pytest
from flask import Blueprint, request
from sqlalchemy import select

from idp.extensions import csrf, db
from idp.models import AuditEvent, Member
from idp.services.claims import ACR_CERTIFICATE, ACR_IDENTITY, ACR_PASSWORD
from idp.services.login import LoginMethod
from idp.services.members import SignedIn
from idp.web.interaction import current_interaction, finish_login, register_login_method
from tests.helpers import REDIRECT_URI, TestRP, add_test_member, callback_params

CERTIFICATE = LoginMethod("certificate", ACR_CERTIFICATE, ("swk",))


def _claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _essential(*values: str) -> str:
    return json.dumps({"id_token": {"acr": {"essential": True, "values": list(values)}}})


@pytest.fixture()
def no_certificate_method(app):
    """No registered login method reaches the certificate level (issue 7 registers real
    ones, e.g. a member's step-up in idp/web/affiliation.py): the pipeline's answer then."""
    from idp.oidc.authorize import LOGIN_METHODS

    methods = app.extensions[LOGIN_METHODS]._methods
    for name in [n for n, m in methods.items() if m.acr == ACR_CERTIFICATE]:
        del methods[name]


@pytest.fixture()
def certificate_login(app):
    """Offer a certificate login: POST /test/<uid>/certificate?login_id=... signs in."""
    bp = Blueprint("test_certificate", __name__)
    register_login_method(bp, CERTIFICATE)

    @bp.post("/test/<uid>/certificate")
    def certificate(uid: str):
        ia = current_interaction(uid)
        assert ia is not None
        member = db.session.scalar(
            select(Member).where(Member.login_id == request.args["login_id"]))
        return finish_login(ia, SignedIn(member.id, member.login_id), acr=CERTIFICATE.acr,
                            amr=list(CERTIFICATE.amr))

    csrf.exempt(bp)
    app.register_blueprint(bp)

    def login(client, login_page: str, login_id: str = "member01"):
        uid = login_page.rsplit("/", 1)[1]
        return client.post(f"/test/{uid}/certificate", query_string={"login_id": login_id})

    return login


def _exchange_id_token(client, rp, resp) -> dict:
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    token = rp.exchange(client, params["code"])
    assert token.status_code == 200, token.get_data(as_text=True)
    return _claims(token.get_json()["id_token"])


# --- the seam -----------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_a_login_satisfies_prompt_login_and_max_age_in_one_round_trip(client, rp, extra):
    """The recipe "mark login_at, redirect to /resume" sent these back to the login page."""
    rp.code_flow(client)  # a session already exists
    page = rp.authorize(client, **extra)
    assert "/interaction/" in page.headers["Location"]
    done = rp.login(client, page.headers["Location"])
    assert done.status_code == 303
    assert "code" in callback_params(done.headers["Location"], REDIRECT_URI)


def test_a_login_by_another_method_ends_in_the_same_seam(app, client, rp, certificate_login):
    page = rp.authorize(client).headers["Location"]
    resp = certificate_login(client, page)
    assert resp.status_code == 303  # straight to the client, like the password login
    claims = _exchange_id_token(client, rp, resp)
    assert claims["acr"] == ACR_CERTIFICATE and claims["amr"] == ["swk"]
    assert client.get_cookie("idp_sso") is not None


def test_a_login_as_another_member_ends_the_first_members_session(app, client, rp):
    add_test_member(app, "member02")
    rp.code_flow(client)
    first = client.get_cookie("idp_sso").value
    page = rp.authorize(client, prompt="login").headers["Location"]
    rp.login(client, page, login_id="member02")
    assert client.get_cookie("idp_sso").value != first
    with app.app_context():
        assert app.extensions["idp"].sessions.get(first) is None
        reasons = [e.detail for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "logout"))]
        assert any("other_member_login" in str(r) for r in reasons)


def test_the_login_is_recorded_on_the_interaction(app, client, rp):
    """A login that leads to a further step leaves time, session and acr on the interaction."""
    third = TestRP.create(app, first_party=False, member=False)
    page = third.authorize(client).headers["Location"]
    resp = third.login(client, page)
    assert "/consent" in resp.headers["Location"]
    uid = page.rsplit("/", 1)[1]
    with app.test_request_context(headers={"Cookie": f"idp_browser={_browser(client)}"}):
        ia = current_interaction(uid)
        sess = app.extensions["idp"].sessions.get(client.get_cookie("idp_sso").value)
        assert ia is not None and ia.login_at is not None
        assert ia.login_acr == ACR_PASSWORD and ia.fresh_login(sess.sid)


def _browser(client) -> str:
    return client.get_cookie("idp_browser").value


# --- the acr asked for ----------------------------------------------------------------------

def test_acr_values_met_by_the_password_login(client, rp):
    tokens = rp.tokens(client, acr_values=ACR_PASSWORD)
    assert _claims(tokens["id_token"])["acr"] == ACR_PASSWORD


def test_voluntary_acr_no_method_reaches_gives_what_the_login_reached(
        client, rp, no_certificate_method):
    tokens = rp.tokens(client, acr_values=ACR_CERTIFICATE)
    assert _claims(tokens["id_token"])["acr"] == ACR_PASSWORD


@pytest.mark.parametrize("prompt", [None, "none", "login"])
def test_essential_acr_no_method_reaches_is_unmet_authentication_requirements(
        client, rp, prompt, no_certificate_method):
    resp = rp.authorize(client, claims=_essential(ACR_CERTIFICATE), prompt=prompt)
    assert resp.status_code == 302  # no login page that could not help
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == "unmet_authentication_requirements"
    assert params["state"] == rp.last["state"] and params["iss"]


def test_essential_acr_of_unknown_values_only_is_unmet(client, rp):
    resp = rp.authorize(client, claims=_essential("urn:example:loa:99"))
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    assert params["error"] == "unmet_authentication_requirements"


def test_essential_acr_the_password_reaches_is_issued(client, rp):
    tokens = rp.tokens(client, claims=_essential(ACR_PASSWORD, ACR_CERTIFICATE))
    assert _claims(tokens["id_token"])["acr"] == ACR_PASSWORD


def test_a_fresh_login_below_the_requested_acr_does_not_satisfy_it(
        app, client, rp, certificate_login):
    page = rp.authorize(client, acr_values=ACR_CERTIFICATE).headers["Location"]
    html = client.get(page).get_data(as_text=True)
    assert 'id="needed-acr"' in html and "공동인증서" in html  # the page names the level
    resp = rp.login(client, page)  # a password login reaches less than asked
    assert resp.status_code == 303 and resp.headers["Location"] == page
    again = client.get(page).get_data(as_text=True)
    assert "더 높은 수준의 인증이 필요합니다" in again
    done = certificate_login(client, page)
    assert _exchange_id_token(client, rp, done)["acr"] == ACR_CERTIFICATE


def test_a_session_below_the_requested_acr_goes_to_the_login_page(
        app, client, rp, certificate_login):
    rp.code_flow(client)  # a password session
    resp = rp.authorize(client, claims=_essential(ACR_CERTIFICATE))
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    none = rp.authorize(client, claims=_essential(ACR_CERTIFICATE), prompt="none")
    assert callback_params(none.headers["Location"], REDIRECT_URI)["error"] == "login_required"


def test_an_essential_acr_is_answered_with_a_requested_value(
        app, client, rp, certificate_login):
    """OIDC Core §5.5.1.1: the acr returned must match one of the requested values."""
    page = rp.authorize(client).headers["Location"]
    certificate_login(client, page)
    resp = rp.authorize(client, claims=_essential(ACR_PASSWORD, ACR_IDENTITY))
    assert resp.status_code == 302
    assert _exchange_id_token(client, rp, resp)["acr"] == ACR_IDENTITY
    plain = rp.authorize(client)  # without a requirement: what the login reached
    assert _exchange_id_token(client, rp, plain)["acr"] == ACR_CERTIFICATE


def test_no_level_is_shown_when_none_is_asked(client, rp):
    html = client.get(rp.authorize(client).headers["Location"]).get_data(as_text=True)
    assert 'id="needed-acr"' not in html


@pytest.mark.parametrize("claims", [
    "not json", "[]", '{"id_token": []}', '{"id_token": {"acr": 1}}',
    '{"id_token": {"acr": {"values": [1]}}}', "[" * 100_000,
])
def test_a_malformed_claims_parameter_is_invalid_request(client, rp, claims):
    resp = rp.authorize(client, claims=claims)
    assert resp.status_code == 302
    assert callback_params(resp.headers["Location"], REDIRECT_URI)["error"] == "invalid_request"


def test_claims_without_an_acr_requirement_change_nothing(client, rp):
    for claims in ('{"id_token": {"acr": null}}', '{"userinfo": {"email": null}}',
                   '{"id_token": {"acr": {"essential": true}}}'):
        tokens = rp.tokens(client, claims=claims)
        assert _claims(tokens["id_token"])["acr"] == ACR_PASSWORD


def test_discovery_announces_the_claims_parameter_and_the_acr_classes(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["claims_parameter_supported"] is True
    assert meta["acr_values_supported"] == [ACR_PASSWORD, "urn:kotra:acr:federated",
                                            ACR_IDENTITY, ACR_CERTIFICATE]
