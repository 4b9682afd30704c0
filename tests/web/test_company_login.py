"""The login page's 기업정보 관리 tab (issue 7, SPEC §3.6): business number + company password,
and the corporate certificate; end to end with the test relying party (member type
company_manager, the company in the tokens, acr/amr); no company enumeration; throttling per
company and per IP; pending and rejected companies; audit."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from idp.extensions import db
from idp.models import AuditEvent, Company
from idp.services.claims import ACR_CERTIFICATE, ACR_PASSWORD
from idp.services.companies import create_manager
from idp.services.company_console import CONSOLE_CLIENT_ID
from tests.helpers import callback_params, form_fields, give_certificate

BN = "1208200275"  # 대한무역투자진흥공사 (a valid check digit)
COMPANY_PASSWORD = "Company!pass9"


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def add_company(app: Any, business_number: str = BN, *, status: str = "active",
                name: str = "대한무역투자진흥공사", password: str = COMPANY_PASSWORD) -> int:
    with app.app_context():
        p = app.extensions["idp"]
        company = Company(business_number=business_number, name=name,
                          name_en="Korea Trade-Investment Promotion Agency",
                          ceo_name="유정열", ceo_name_en="Yoo Jeong-yeol", status=status,
                          profile={"phone": "02-3460-7114"},
                          approval_password_hash=p.passwords.hash("739102"))
        db.session.add(company)
        db.session.flush()
        create_manager(db.session, company, p.passwords.hash(password))
        db.session.commit()
        return company.id


def login_location(rp: Any, client: Any, **extra: Any) -> str:
    resp = rp.authorize(client, **extra)
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    location: str = resp.headers["Location"]
    return location[location.index("/interaction/"):]


def company_login(rp: Any, client: Any, number: str = BN, password: str = COMPANY_PASSWORD,
                  **extra: Any) -> Any:
    location = login_location(rp, client, **extra)
    page = client.get(location + "?tab=company").get_data(as_text=True)
    assert 'id="tab-company"' in page
    action, hidden = form_fields(page)
    assert action.endswith("/company")
    return client.post(action, data={**hidden, "business_number": number,
                                     "password": password})


def test_password_login_signs_the_manager_in_with_the_company_in_the_tokens(
        app, client, rp) -> None:
    add_company(app)
    resp = company_login(rp, client, "120-82-00275")  # dashes are fine
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    params = callback_params(resp.headers["Location"], rp.redirect_uri)
    tokens = rp.exchange(client, params["code"]).get_json()
    claims = claims_of(tokens["id_token"])
    assert claims["acr"] == ACR_PASSWORD and claims["amr"] == ["pwd"]
    info = client.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["sub"] == claims["sub"]
    assert info["kotra_member_type"] == "company_manager"
    assert info["kotra_company"] == {"business_number": BN, "name": "대한무역투자진흥공사",
                                     "role": "manager"}
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="login.success").one()
        assert event.detail["method"] == "company_password"


@pytest.mark.parametrize(("number", "password"), [
    (BN, "Wrong!pass99"),           # a wrong password
    ("1248100998", COMPANY_PASSWORD),  # a valid number nobody registered
    ("1234567890", COMPANY_PASSWORD),  # not a business number at all
])
def test_failures_get_one_message_whatever_failed(app, client, rp, number, password) -> None:
    add_company(app)
    resp = company_login(rp, client, number, password)
    assert resp.status_code == 401
    page = resp.get_data(as_text=True)
    assert "사업자등록번호 또는 비밀번호가 일치하지 않습니다." in page
    assert 'id="tab-company"' in page
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="login.failure").one()
        assert event.detail["method"] == "company_password"


def test_empty_fields_are_asked_for(app, client, rp) -> None:
    resp = company_login(rp, client, "", "")
    assert resp.status_code == 400
    assert "사업자등록번호와 비밀번호를 입력해 주세요." in resp.get_data(as_text=True)


@pytest.mark.parametrize(("status", "message"), [
    ("pending", "심사가 진행 중입니다"),
    ("rejected", "반려된 기업입니다"),
])
def test_a_company_that_is_not_active_is_told_only_with_the_right_password(
        app, client, rp, status, message) -> None:
    add_company(app, status=status)
    wrong = company_login(rp, client, BN, "Wrong!pass99")
    assert wrong.status_code == 401 and message not in wrong.get_data(as_text=True)
    right = company_login(rp, client, BN)
    assert right.status_code == 403 and message in right.get_data(as_text=True)
    with app.app_context():
        reasons = [e.detail["reason"] for e in
                   db.session.query(AuditEvent).filter_by(event="login.failure")]
        assert reasons == ["password", f"company_{status}"]


def test_the_company_is_locked_after_repeated_failures(app, client, rp, clock) -> None:
    add_company(app)
    for _ in range(10):
        resp = company_login(rp, client, BN, "Wrong!pass99")
        assert resp.status_code in (401, 429)
        clock.advance(120)  # past each growing delay, inside the window
    # the company is locked now, even for the right password and from elsewhere
    resp = company_login(rp, client, BN)
    assert resp.status_code == 429 and "분 후 다시 시도해 주세요" in resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) > 60
    with app.app_context():
        assert db.session.query(AuditEvent).filter_by(event="login.locked").count() >= 1
    clock.advance(901)
    assert company_login(rp, client, BN).status_code == 303


def test_the_ip_is_throttled_across_companies(app, client, rp, clock) -> None:
    """Guessing many business numbers from one address locks that address (ip_lock_after)."""
    add_company(app)
    p = app.extensions["idp"]
    p.settings["throttle"]["ip_lock_after"] = 3
    from idp.wiring import build_throttle
    p.throttle = build_throttle(p.settings, p.store, p.clock)
    for number in ("1248100998", "2208162517", "1018165378"):
        assert company_login(rp, client, number).status_code == 401
    assert company_login(rp, client, BN).status_code == 429


def test_certificate_login_signs_the_manager_in_at_certificate_level(app, client, rp) -> None:
    add_company(app)
    location = login_location(rp, client)
    uid = location.split("/interaction/")[1].split("?")[0]
    page = client.get(location + "?tab=company").get_data(as_text=True)
    assert "npki-widget" in page and 'data-purpose="login"' in page  # 인증서찾기
    cr = give_certificate(app, client, "login", BN)
    resp = client.get(f"/interaction/{uid}/company/certificate", query_string={"cr": cr})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    params = callback_params(resp.headers["Location"], rp.redirect_uri)
    tokens = rp.exchange(client, params["code"]).get_json()
    claims = claims_of(tokens["id_token"])
    assert claims["acr"] == ACR_CERTIFICATE and claims["amr"] == ["swk"]
    info = client.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["kotra_member_type"] == "company_manager"
    assert info["kotra_company"]["business_number"] == BN
    # the result is used once
    again = client.get(f"/interaction/{uid}/company/certificate", query_string={"cr": cr})
    assert again.status_code in (400, 303)
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="login.success").one()
        assert event.detail["method"] == "certificate"


def test_certificate_of_an_unregistered_company_points_to_registration(
        app, client, rp) -> None:
    location = login_location(rp, client)
    uid = location.split("/interaction/")[1].split("?")[0]
    cr = give_certificate(app, client, "login", "1248100998")
    resp = client.get(f"/interaction/{uid}/company/certificate", query_string={"cr": cr})
    assert resp.status_code == 404
    page = resp.get_data(as_text=True)
    assert "등록되지 않은 기업입니다" in page and 'id="company-register"' in page


def test_certificate_of_a_pending_company_is_refused(app, client, rp) -> None:
    add_company(app, status="pending")
    location = login_location(rp, client)
    uid = location.split("/interaction/")[1].split("?")[0]
    cr = give_certificate(app, client, "login", BN)
    resp = client.get(f"/interaction/{uid}/company/certificate", query_string={"cr": cr})
    assert resp.status_code == 403 and "심사가 진행 중입니다" in resp.get_data(as_text=True)


def test_a_certificate_for_another_purpose_is_refused(app, client, rp) -> None:
    add_company(app)
    location = login_location(rp, client)
    uid = location.split("/interaction/")[1].split("?")[0]
    cr = give_certificate(app, client, "manage", BN)
    resp = client.get(f"/interaction/{uid}/company/certificate", query_string={"cr": cr})
    assert resp.status_code == 400
    assert "다른 용도로 받은 인증 결과입니다" in resp.get_data(as_text=True)


def test_the_company_consoles_sign_in_opens_on_the_company_tab(app, client) -> None:
    resp = client.get("/company")
    assert resp.status_code == 303
    resp = client.get(resp.headers["Location"])  # /company/login → /authorize
    assert resp.status_code == 303
    resp = client.get(resp.headers["Location"])  # /authorize → the login page
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'id="tab-company"' in page
    assert CONSOLE_CLIENT_ID  # (the console's own client)


def test_the_demo_companys_manager_signs_in(app, client, rp, tmp_path) -> None:
    from idp.demo import DEMO_COMPANY, DEMO_COMPANY_PASSWORD, seed

    with app.app_context():
        first = seed(db.session, app.extensions["idp"], tmp_path / "clients.json")
        again = seed(db.session, app.extensions["idp"], tmp_path / "clients.json")  # idempotent
    assert first["company_console"] == again["company_console"]
    resp = company_login(rp, client, DEMO_COMPANY[0], DEMO_COMPANY_PASSWORD)
    assert resp.status_code == 303 and resp.headers["Location"].startswith(rp.redirect_uri)


def test_the_company_tab_needs_its_csrf_token(app, client, rp) -> None:
    add_company(app)
    location = login_location(rp, client)
    uid = location.split("/interaction/")[1].split("?")[0]
    resp = client.post(f"/interaction/{uid}/company",
                       data={"business_number": BN, "password": COMPANY_PASSWORD})
    assert resp.status_code == 400
    assert "요청이 만료되었습니다" in resp.get_data(as_text=True)


def test_a_locked_manager_principal_cannot_sign_in(app, client, rp) -> None:
    from idp.models import Member, MemberType

    add_company(app)
    with app.app_context():
        manager = db.session.query(Member).filter_by(
            member_type=MemberType.COMPANY_MANAGER).one()
        manager.status = "locked"
        db.session.commit()
    resp = company_login(rp, client)
    assert resp.status_code == 401
    assert "사업자등록번호 또는 비밀번호가 일치하지 않습니다." in resp.get_data(as_text=True)
