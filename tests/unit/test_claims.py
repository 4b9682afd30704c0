"""The claims service: a company manager's claims, and the acr classes and their order."""

from __future__ import annotations

import base64
import json

import pytest

from idp.extensions import db
from idp.models import Company, MemberType
from idp.models.readmodels import load_member
from idp.services.claims import (
    ACR_CERTIFICATE,
    ACR_FEDERATED,
    ACR_IDENTITY,
    ACR_LEVELS,
    ACR_PASSWORD,
    AcrRequest,
    user_claims,
)
from idp.services.members import add_member
from tests.helpers import PASSWORD, TestRP


def _manager(app, *, company: bool = True) -> int:
    with app.app_context():
        p = app.extensions["idp"]
        member = add_member(db.session, p.passwords, p.policy, login_id="manager01",
                            name="테스트무역(주)", email=None, password=PASSWORD,
                            member_type=MemberType.COMPANY_MANAGER)
        if company:
            managed = Company(business_number="1208200275", name="테스트무역(주)")
            db.session.add(managed)
            db.session.flush()
            member.managed_company_id = managed.id
        db.session.commit()
        return member.id


def test_a_company_managers_claims_name_the_managed_company(app):
    member_id = _manager(app)
    with app.app_context():
        member = load_member(db.session, member_id)
        claims = user_claims(member, "openid kotra", app.extensions["idp"].entitlements)
    assert claims["kotra_member_type"] == "company_manager"
    assert claims["kotra_company"] == {"business_number": "1208200275", "name": "테스트무역(주)",
                                       "role": "manager"}
    assert claims["kotra_entitlements"] == ["company_console"]


def test_a_company_manager_without_a_company_has_no_company_claim(app):
    member_id = _manager(app, company=False)
    with app.app_context():
        member = load_member(db.session, member_id)
        claims = user_claims(member, "openid kotra", app.extensions["idp"].entitlements)
    assert "kotra_company" not in claims and claims["kotra_member_type"] == "company_manager"


def test_a_company_manager_signs_in_and_relying_parties_see_the_company(app, client):
    rp = TestRP.create(app, member=False, login_id="manager01")
    _manager(app)
    tokens = rp.tokens(client)
    payload = tokens["id_token"].split(".")[1]
    id_token = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert id_token["kotra_company"]["role"] == "manager"
    info = client.get("/userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["kotra_member_type"] == "company_manager"
    assert info["kotra_company"]["business_number"] == "1208200275"
    assert info["kotra_entitlements"] == ["company_console"]


def test_an_affiliated_member_keeps_the_affiliation_claim(app):
    rp = TestRP.create(app, affiliation="certificate")
    with app.app_context():
        from idp.models import Member
        member_id = db.session.query(Member.id).filter_by(login_id=rp.login_id).scalar()
        member = load_member(db.session, member_id)
        company = user_claims(member, "kotra", app.extensions["idp"].entitlements)[
            "kotra_company"]
    assert company["affiliation_method"] == "certificate" and "role" not in company


def test_acr_classes_are_ordered_weakest_first():
    assert list(ACR_LEVELS) == [ACR_PASSWORD, ACR_FEDERATED, ACR_IDENTITY, ACR_CERTIFICATE]
    assert [ACR_LEVELS[a] for a in ACR_LEVELS] == sorted(ACR_LEVELS.values())


@pytest.mark.parametrize(("request_", "acr", "met"), [
    (AcrRequest(), ACR_PASSWORD, True),
    (AcrRequest((ACR_IDENTITY,)), ACR_PASSWORD, False),
    (AcrRequest((ACR_IDENTITY,)), ACR_CERTIFICATE, True),
    (AcrRequest((ACR_CERTIFICATE, ACR_PASSWORD)), ACR_PASSWORD, True),  # any value will do
    (AcrRequest(("urn:unknown",)), ACR_PASSWORD, True),  # voluntary, unknown: ignored
    (AcrRequest(("urn:unknown",), essential=True), ACR_CERTIFICATE, False),
    (AcrRequest((ACR_IDENTITY,), essential=True), ACR_IDENTITY, True),
])
def test_an_acr_request_is_met_by_an_equal_or_stronger_class(request_, acr, met):
    assert request_.met_by(acr) is met


def test_an_essential_acr_is_issued_as_the_strongest_requested_value_met():
    wanted = AcrRequest((ACR_PASSWORD, ACR_IDENTITY), essential=True)
    assert wanted.issued(ACR_CERTIFICATE) == ACR_IDENTITY
    assert wanted.issued(ACR_PASSWORD) == ACR_PASSWORD
    assert AcrRequest((ACR_PASSWORD,)).issued(ACR_CERTIFICATE) == ACR_CERTIFICATE
