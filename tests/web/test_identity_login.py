"""간편인증 login on the 일반회원 tab, end to end with the test relying party: the login page's
button → the emulated 간편인증 popup → the member found by CI → the code; acr/amr; acr_values;
no member, locked and withdrawn members; throttling; audit."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from idp.extensions import db
from idp.models import AuditEvent, Member
from idp.services.claims import ACR_IDENTITY, ACR_PASSWORD
from tests.helpers import callback_params
from tests.idv_helpers import give_identity, local, verify


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _login_page(rp: Any, client: Any, **extra: Any) -> str:
    resp = rp.authorize(client, **extra)
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    return local(resp.headers["Location"])


def _identity_login(app: Any, rp: Any, client: Any, **extra: Any) -> Any:
    """Press 간편인증 로그인, approve in the (emulated) app; the answer of the done page."""
    login = _login_page(rp, client, **extra)
    page = client.get(login).get_data(as_text=True)
    assert 'id="identity-login"' in page
    uid = login.split("/interaction/")[1].split("?")[0]
    go = client.get(f"/interaction/{uid}/identity-login")
    assert go.status_code == 303 and go.headers["Location"].startswith("/verify/start?")
    start = client.get(go.headers["Location"])
    back = verify(app, client, start, "simple")
    assert back.status_code == 303
    assert f"/interaction/{uid}/identity-login/done?vr=" in back.headers["Location"]
    return client.get(back.headers["Location"])


def test_identity_login_signs_in_the_member_with_that_ci(app, client, rp) -> None:
    give_identity(app, rp.login_id)
    done = _identity_login(app, rp, client)
    assert done.status_code == 303, done.get_data(as_text=True)[:500]
    params = callback_params(done.headers["Location"], rp.redirect_uri)
    tokens = rp.exchange(client, params["code"]).get_json()
    claims = _claims(tokens["id_token"])
    assert claims["sub"] == rp.subject
    assert claims["acr"] == ACR_IDENTITY and claims["amr"] == ["mca", "swk"]
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="login.success").one()
        assert event.detail["method"] == "identity"


def test_acr_values_asking_for_identity_verification_is_met(app, client, rp) -> None:
    give_identity(app, rp.login_id)
    page = client.get(_login_page(rp, client, acr_values=ACR_IDENTITY)).get_data(as_text=True)
    assert 'id="needed-acr"' in page and "간편인증(본인확인)" in page
    done = _identity_login(app, rp, client, acr_values=ACR_IDENTITY)
    params = callback_params(done.headers["Location"], rp.redirect_uri)
    claims = _claims(rp.exchange(client, params["code"]).get_json()["id_token"])
    assert claims["acr"] == ACR_IDENTITY


def test_a_password_session_is_stepped_up_by_identity_login(app, client, rp) -> None:
    give_identity(app, rp.login_id)
    first = rp.code_flow(client)  # password sign-in
    claims = _claims(rp.exchange(client, first["code"]).get_json()["id_token"])
    assert claims["acr"] == ACR_PASSWORD
    # an essential identity-verification acr: the password session is not enough
    essential = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_IDENTITY]}}})
    done = _identity_login(app, rp, client, claims=essential)
    params = callback_params(done.headers["Location"], rp.redirect_uri)
    claims = _claims(rp.exchange(client, params["code"]).get_json()["id_token"])
    assert claims["acr"] == ACR_IDENTITY and claims["sub"] == rp.subject


def test_no_member_for_the_ci_gets_signup_and_find_id_links(app, client, rp) -> None:
    done = _identity_login(app, rp, client)  # rp's member has no identity on record
    assert done.status_code == 404
    html = done.get_data(as_text=True)
    assert "일치하는 회원 정보가 없습니다" in html
    assert "/signup?ia=" in html and "/find-id?ia=" in html
    assert rp.login_id not in html
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="login.failure").one()
        assert event.detail == {"method": "identity", "reason": "no_member"}


@pytest.mark.parametrize("change", ["locked", "withdrawn"])
def test_locked_and_withdrawn_members_are_refused_alike(app, client, rp, change) -> None:
    give_identity(app, rp.login_id)
    with app.app_context():
        member = db.session.query(Member).filter_by(login_id=rp.login_id).one()
        if change == "locked":
            member.status = "locked"
        else:
            member.withdrawn_at = dt.datetime(2026, 1, 1)
        db.session.commit()
    done = _identity_login(app, rp, client)
    assert done.status_code == 404
    assert "일치하는 회원 정보가 없습니다" in done.get_data(as_text=True)
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="login.failure").one()
        assert event.detail["reason"] == "inactive"


def test_a_verification_for_another_purpose_does_not_sign_in(app, client, rp) -> None:
    from tests.helpers import give_verification, verified_identity

    give_identity(app, rp.login_id)
    uid = _login_page(rp, client).split("/interaction/")[1]
    rid = give_verification(app, client, "signup", verified_identity(method="simple"))
    done = client.get(f"/interaction/{uid}/identity-login/done", query_string={"vr": rid})
    assert done.status_code == 400
    assert "다른 용도로 받은 본인확인 결과입니다" in done.get_data(as_text=True)


def test_the_result_is_used_once(app, client, rp) -> None:
    give_identity(app, rp.login_id)
    login = _login_page(rp, client)
    uid = login.split("/interaction/")[1]
    go = client.get(f"/interaction/{uid}/identity-login")
    back = verify(app, client, client.get(go.headers["Location"]), "simple")
    assert client.get(back.headers["Location"]).status_code == 303
    again = client.get(back.headers["Location"])
    assert again.status_code == 400


def test_identity_logins_are_throttled_per_ip(app, client, rp) -> None:
    from tests.helpers import give_verification, verified_identity

    limit = app.extensions["idp"].settings["throttle"]["ip_lock_after"]
    uid = _login_page(rp, client).split("/interaction/")[1]
    statuses = []
    for _ in range(limit + 1):
        rid = give_verification(app, client, "login", verified_identity(method="simple"))
        statuses.append(client.get(f"/interaction/{uid}/identity-login/done",
                                   query_string={"vr": rid}).status_code)
    assert statuses[:limit] == [404] * limit
    assert statuses[limit] == 429


def test_an_unknown_interaction_is_expired(app, client) -> None:
    assert client.get("/interaction/nope/identity-login").status_code == 400
    assert client.get("/interaction/nope/identity-login/done").status_code == 400


def test_demo_members_sign_in_with_the_emulated_identity_of_the_seed(app, client, tmp_path
                                                                    ) -> None:
    """`idp demo seed` records the identities the emulator derives: 간편인증 login finds them."""
    from idp.demo import DEMO_IDENTITIES, seed
    from tests.helpers import TestRP

    with app.app_context():
        result = seed(db.session, app.extensions["idp"], tmp_path / "clients.json")
        again = seed(db.session, app.extensions["idp"], tmp_path / "clients.json")  # idempotent
    assert [i["login_id"] for i in result["identities"]] == list(DEMO_IDENTITIES)
    assert again["identities"] == result["identities"]
    rp = TestRP.create(app, member=False)
    with app.app_context():
        subject = db.session.query(Member).filter_by(login_id="demouser1").one().subject
    login = _login_page(rp, client)
    uid = login.split("/interaction/")[1]
    go = client.get(f"/interaction/{uid}/identity-login")
    birth, _gender, mobile = DEMO_IDENTITIES["demouser1"]
    back = verify(app, client, client.get(go.headers["Location"]), "simple", name="홍길동",
                  birthdate=birth, mobile=mobile)
    done = client.get(back.headers["Location"])
    params = callback_params(done.headers["Location"], rp.redirect_uri)
    claims = _claims(rp.exchange(client, params["code"]).get_json()["id_token"])
    assert claims["sub"] == subject and claims["acr"] == ACR_IDENTITY


def test_identity_login_through_the_real_inicis_adapter_and_the_relay(app, client, rp
                                                                       ) -> None:
    """KG이니시스 (against the fake vendor) end to end: the auto-submitted form to the vendor,
    its cross-site POST back (relayed from this origin), the result lookup, the login."""
    import re

    from idp.adapters.identity_inicis import InicisIdentityVerifier
    from tests.integration.test_identity_adapters import (
        API_KEY,
        MID,
        PERSON,
        FakeInicis,
        FakeTransport,
        session_for,
    )

    fake = FakeInicis()
    transport = FakeTransport(fake.handle)
    p = app.extensions["idp"]
    p.identity_verifiers = {"simple": InicisIdentityVerifier(
        mid=MID, api_key=API_KEY, di_key=b"k" * 32,
        session=session_for(transport, "https://kssa.inicis.com"))}
    # the member verified once before, by KG이니시스: the same CI
    with app.app_context():
        member = db.session.query(Member).filter_by(login_id=rp.login_id).one()
        from idp.models import MemberIdentity

        pd = p.personal_data
        db.session.add(MemberIdentity(
            member_id=member.id, ci_hash=pd.lookup_hash("ci", PERSON["userCi"]),
            di_hash=pd.lookup_hash("di", "INI-x"), ci_sealed=pd.seal(PERSON["userCi"], "ci"),
            di_sealed=pd.seal("INI-x", "di"), name="홍길동", birthdate=dt.date(1985, 3, 1),
            gender=None, nationality="domestic", carrier=None, method="simple",
            vendor="inicis"))
        db.session.commit()
    uid = _login_page(rp, client).split("/interaction/")[1]
    go = client.get(f"/interaction/{uid}/identity-login")
    to_vendor = client.get(go.headers["Location"])
    assert to_vendor.status_code == 200
    assert "form-action 'self' https://sa.inicis.com" in to_vendor.headers[
        "Content-Security-Policy"]
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"',
                             to_vendor.get_data(as_text=True)))
    back = fake.auth(fields, PERSON)  # the person approves in the app
    callback = local(fields["successUrl"])
    relay = app.test_client().post(callback, data=back)  # cross-site: no Lax cookie
    relayed = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"',
                              relay.get_data(as_text=True)))
    cont = client.post(callback, data=relayed)
    assert cont.status_code == 200
    link = re.search(r'data-autofollow href="([^"]+)"', cont.get_data(as_text=True))
    assert link
    import html as htmllib

    done = client.get(htmllib.unescape(link.group(1)))
    assert done.status_code == 303, done.get_data(as_text=True)[:300]
    params = callback_params(done.headers["Location"], rp.redirect_uri)
    claims = _claims(rp.exchange(client, params["code"]).get_json()["id_token"])
    assert claims["sub"] == rp.subject and claims["acr"] == ACR_IDENTITY
