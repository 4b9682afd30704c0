"""The company console (/company, issue 7, SPEC §3.5): the sign-in through its own client,
who gets in, and each page's rules: participations, company info (fresh certificate; a name
change is a request), approval password, company password, employees (revoke: the claim gone
at refresh, back-channel logout), mileage, notices."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from idp.adapters.backchannel import RecordingBackchannelSender
from idp.extensions import db
from idp.models import (
    Affiliation,
    AuditEvent,
    AuthorizationCode,
    BackchannelLogout,
    Company,
    CompanyNotice,
    CompanyRequest,
    Member,
    MileageAccount,
    MileageEntry,
    ServiceParticipation,
)
from idp.services.company_console import CONSOLE_CLIENT_ID
from tests.helpers import TestRP, give_certificate
from tests.web.test_company_login import BN, COMPANY_PASSWORD, add_company, claims_of

BCL = "https://rp.example/bcl"


@pytest.fixture()
def sender(app: Any) -> RecordingBackchannelSender:
    fake = RecordingBackchannelSender()
    app.extensions["idp"].outbox.sender = fake
    return fake


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, html[:800]
    return found.group(1)


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def sign_in_console(web: Any, number: str = BN, password: str = COMPANY_PASSWORD) -> Any:
    """/company -> the console's authorization request -> the 기업정보 관리 tab -> callback."""
    resp = web.get("/company")
    assert resp.status_code == 303 and "/company/login" in resp.headers["Location"]
    resp = web.get(path_of(resp.headers["Location"]))  # -> /authorize
    resp = web.get(path_of(resp.headers["Location"]))  # -> the login page
    location = path_of(resp.headers["Location"])
    assert "/interaction/" in location
    page = web.get(location).get_data(as_text=True)
    assert 'id="tab-company"' in page  # the console's sign-in opens on the company tab
    uid = location.split("/interaction/")[1].split("?")[0]
    resp = web.post(f"/interaction/{uid}/company", data={
        "csrf_token": csrf(page), "business_number": number, "password": password})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:400]
    assert "/company/callback" in resp.headers["Location"]
    resp = web.get(path_of(resp.headers["Location"]))
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/company")
    return web.get("/company")


def post(web: Any, path: str, data: dict[str, str], page: str | None = None) -> Any:
    html = web.get(page or path).get_data(as_text=True)
    return web.post(path, data={"csrf_token": csrf(html), **data})


def certify(app: Any, web: Any, number: str = BN, nxt: str = "/company/info") -> Any:
    cr = give_certificate(app, web, "manage", number)
    return web.get("/company/certified", query_string={"cr": cr, "next": nxt})


def events(app: Any, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def company(app: Any) -> Company:
    with app.app_context():
        found = db.session.scalar(select(Company).where(Company.business_number == BN))
        assert found is not None
        db.session.expunge(found)
        return found


INFO = {
    "name": "대한무역투자진흥공사", "name_en": "Korea Trade-Investment Promotion Agency",
    "ceo_name": "유정열", "ceo_name_en": "Yoo Jeong-yeol", "corp_number": "1146710004418",
    "company_type": "public", "classification": "nonprofit", "trade_kind": "other",
    "main_product": "기타", "phone": "1600-7119", "email": "kotra@kotra.or.kr",
    "homepage": "www.kotra.or.kr", "venture": "no", "annual_sales": "1,000,000",
}


# -- sign-in ----------------------------------------------------------------------------------

def test_the_console_signs_the_manager_in_through_its_client_and_discards_the_code(
        app, client) -> None:
    add_company(app)
    page = sign_in_console(client)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "대한무역투자진흥공사" in html and "120-82-00275" in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode).where(
            AuthorizationCode.client_id == CONSOLE_CLIENT_ID)) == 0


def test_a_general_member_is_sent_to_my_kotra(app, client, rp) -> None:
    add_company(app)
    rp.code_flow(client)  # a person signed in in this browser
    resp = client.get("/company/employees")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/my")


def test_pages_need_a_sign_in_and_posts_need_csrf(app, client) -> None:
    add_company(app)
    for path in ("/company", "/company/services", "/company/info", "/company/mileage",
                 "/company/employees", "/company/approval-password", "/company/password"):
        resp = client.get(path)
        assert resp.status_code == 303 and "/company/login?next=" in resp.headers["Location"]
    sign_in_console(client)
    assert client.post("/company/approval-password", data={
        "approval_password": "739104", "approval_password_confirm": "739104"}
    ).status_code == 400


def test_callback_refuses_another_browsers_state(app, client) -> None:
    add_company(app)
    resp = client.get("/company/login")
    state = dict(p.split("=", 1) for p in urlsplit(resp.headers["Location"]).query.split("&"))[
        "state"]
    other = app.test_client()
    resp = other.get("/company/callback", query_string={"state": state, "code": "x"})
    assert resp.status_code == 303 and urlsplit(resp.headers["Location"]).path == "/"


# -- participations, mileage, notices -----------------------------------------------------------

def test_services_lists_participations_with_masked_names_paged(app, client) -> None:
    company_id = add_company(app)
    with app.app_context():
        member = Member(subject="s-1", name="홍길동", login_id="hong01")
        db.session.add(member)
        db.session.flush()
        for day in range(25):
            db.session.add(ServiceParticipation(
                company_id=company_id, member_id=member.id if day == 24 else None,
                service=f"수출상담회 {day}", client_id="rp", site="KOTRA 사업신청",
                occurred_on=dt.date(2026, 1, 1) + dt.timedelta(days=day)))
        db.session.commit()
    sign_in_console(client)
    html = client.get("/company/services").get_data(as_text=True)
    assert "총 25건" in html and "수출상담회 24" in html and "홍*동" in html
    assert "홍길동" not in html and "수출상담회 0<" not in html
    second = client.get("/company/services?page=2").get_data(as_text=True)
    assert "수출상담회 0<" in second and "수출상담회 24" not in second
    home = client.get("/company").get_data(as_text=True)  # the five latest on the home page
    assert "총 25건" in home and "수출상담회 24" in home and "수출상담회 19" not in home


def test_services_and_mileage_say_when_there_is_nothing(app, client) -> None:
    add_company(app)
    sign_in_console(client)
    assert 'id="no-services"' in client.get("/company/services").get_data(as_text=True)
    assert 'id="no-mileage"' in client.get("/company/mileage").get_data(as_text=True)


def test_mileage_shows_the_balance_and_the_ledger(app, client) -> None:
    company_id = add_company(app)
    with app.app_context():
        db.session.add(MileageAccount(company_id=company_id, balance=7000))
        for i, (kind, amount, after) in enumerate([("earn", 10000, 10000), ("use", 3000, 7000)]):
            db.session.add(MileageEntry(
                company_id=company_id, kind=kind, amount=amount, balance_after=after,
                reason="해외전시회 참가" if kind == "earn" else "통번역 지원",
                client_id="rp", idempotency_key=f"k{i}", request_hash="0" * 64))
        db.session.commit()
    sign_in_console(client)
    html = client.get("/company/mileage").get_data(as_text=True)
    assert "7,000" in html and "+10,000" in html and "-3,000" in html and "통번역 지원" in html


def test_notices_show_until_marked_read(app, client) -> None:
    company_id = add_company(app)
    with app.app_context():
        db.session.add(CompanyNotice(company_id=company_id, kind="approval_password_locked",
                                     data={}))
        db.session.commit()
    sign_in_console(client)
    html = client.get("/company").get_data(as_text=True)
    assert "승인 비밀번호가 여러 번 틀려" in html
    notice_id = re.search(r'id="notice-(\d+)"', html).group(1)  # type: ignore[union-attr]
    resp = client.post(f"/company/notices/{notice_id}/read",
                       data={"csrf_token": csrf(html), "next": "/company/mileage"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/company/mileage")
    assert "승인 비밀번호가 여러 번 틀려" not in client.get("/company").get_data(as_text=True)


def test_every_notice_kind_the_services_add_has_its_own_text(app, client) -> None:
    """The kinds of CompanyNotice written by the affiliation and review services each have a
    sentence (not the generic 새 알림이 있습니다.)."""
    company_id = add_company(app)
    with app.app_context():
        for kind, data in (("approval_password_locked", {}), ("affiliation_joined",
                           {"name": "한직원"}), ("registration_approved", {}),
                           ("name_change_approved", {}),
                           ("name_change_rejected", {"reason": "서류 불일치"})):
            db.session.add(CompanyNotice(company_id=company_id, kind=kind, data=data))
        db.session.commit()
    sign_in_console(client)
    html = client.get("/company").get_data(as_text=True)
    for text in ("승인 비밀번호가 여러 번 틀려", "새 직원이 소속기업으로 등록했습니다: 한직원",
                 "기업정보 등록 신청이 승인되었습니다.", "사명 변경신청이 승인되었습니다.",
                 "사명 변경신청이 반려되었습니다. 사유: 서류 불일치"):
        assert text in html, text
    assert "새 알림이 있습니다." not in html
    english = client.get("/company?lang=en").get_data(as_text=True)
    assert "registration has been approved" in english


# -- company info -----------------------------------------------------------------------------

def test_info_edit_needs_a_fresh_certificate_of_this_company(app, client, clock) -> None:
    add_company(app)
    sign_in_console(client)
    page = client.get("/company/info").get_data(as_text=True)
    assert 'data-purpose="manage"' in page and 'id="info-save" disabled' in page
    resp = post(client, "/company/info", {**INFO, "phone": "02-3460-7114"})
    assert resp.status_code == 403 and "기업인증" in resp.get_data(as_text=True)
    # another company's certificate does not count
    other = certify(app, client, "1248100998")
    assert other.status_code == 403 and "이 기업의 범용인증서가 아닙니다" in other.get_data(
        as_text=True)
    resp = certify(app, client)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/company/info")
    assert 'id="certified"' in client.get("/company/info").get_data(as_text=True)
    resp = post(client, "/company/info", INFO)
    assert resp.status_code == 303 and "saved=1" in resp.headers["Location"]
    saved = company(app)
    assert saved.corp_number == "1146710004418"
    # the registration's keys and values (idp/services/company_profile.py)
    assert saved.profile["phone"] == "1600-7119" and saved.profile["annual_sales"] == 1000000
    assert saved.profile["venture"] is False and saved.profile["trade_kind"] == "other"
    assert saved.profile["startup"] is None and "is_venture" not in saved.profile
    assert events(app, "company.updated")[0].detail["fields"]
    clock.advance(601)  # the certificate counts for [company_console] certificate_seconds
    assert post(client, "/company/info", {**INFO, "fax": "02-3460-7777"}).status_code == 403


def test_a_new_korean_name_becomes_a_request_for_operators(app, client) -> None:
    add_company(app)
    sign_in_console(client)
    certify(app, client)
    resp = post(client, "/company/info", {**INFO, "name": "코트라", "name_en": "KOTRA"})
    assert resp.status_code == 303 and "requested=1" in resp.headers["Location"]
    assert company(app).name == "대한무역투자진흥공사"  # unchanged until an operator approves
    with app.app_context():
        req = db.session.scalar(select(CompanyRequest))
        assert req is not None and req.kind == "name_change" and req.status == "pending"
        assert req.data["name"] == "코트라" and req.data["name_en"] == "KOTRA"
    assert len(events(app, "company.name_change_requested")) == 1
    html = client.get("/company/info").get_data(as_text=True)
    assert "변경 요청 중" in html and "코트라" in html
    # a second change while one is pending adds no second request
    post(client, "/company/info", {**INFO, "name": "코트라2"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CompanyRequest)) == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"name_en": ""}, "기업명(영문)을(를) 입력해 주세요."),
    ({"name_en": "코트라"}, "기업명(영문)은(는) 영문으로 입력해 주세요."),
    ({"corp_number": "12345"}, "법인등록번호 13자리를 올바르게"),
    ({"phone": "전화"}, "전화번호를 올바르게 입력해 주세요."),
    ({"email": "nope"}, "이메일 주소를 올바르게"),
    ({"annual_exports": "많음"}, "연간수출액은(는) 숫자로"),
    ({"founded_year": "62"}, "설립년도를 네 자리 연도로"),
    ({"startup": "maybe"}, "스타트업 여부을(를) 목록에서 선택해 주세요."),
    ({"company_type": "공공기관"}, "기업유형을(를) 목록에서 선택해 주세요."),
    ({"trade_kind": ""}, "제조/무역구분을(를) 선택해 주세요."),
    ({"remarks": "x" * 1001}, "비고이(가) 너무 깁니다."),
])
def test_info_refusals(app, client, changes, message) -> None:
    add_company(app)
    sign_in_console(client)
    certify(app, client)
    resp = post(client, "/company/info", {**INFO, **changes})
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)
    assert "aria-invalid" in resp.get_data(as_text=True)


# -- approval password ------------------------------------------------------------------------

@pytest.mark.parametrize(("new", "confirm", "message"), [
    ("12345", "12345", "숫자 6자리로"),
    ("abcdef", "abcdef", "숫자 6자리로"),
    ("123456", "123456", "쉬운 번호는 사용할 수 없습니다"),
    ("000000", "000000", "쉬운 번호는 사용할 수 없습니다"),
    ("739104", "739105", "두 번 똑같이"),
])
def test_approval_password_refusals(app, client, new, confirm, message) -> None:
    add_company(app)
    sign_in_console(client)
    certify(app, client)
    resp = post(client, "/company/approval-password",
                {"approval_password": new, "approval_password_confirm": confirm})
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)


def test_approval_password_change_needs_the_certificate_and_warns(app, client) -> None:
    add_company(app)
    sign_in_console(client)
    page = client.get("/company/approval-password").get_data(as_text=True)
    assert "변경된 승인비밀번호 공유가 필요합니다" in page
    data = {"approval_password": "739104", "approval_password_confirm": "739104"}
    assert post(client, "/company/approval-password", data).status_code == 403
    certify(app, client, nxt="/company/approval-password")
    resp = post(client, "/company/approval-password", data)
    assert resp.status_code == 303
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "소속 직원들에게 변경된 승인 비밀번호를 알려 주세요" in done
    saved = company(app)
    passwords = app.extensions["idp"].passwords
    assert saved.approval_password_hash.startswith("$argon2id$")
    assert passwords.verify(saved.approval_password_hash, "739104")
    assert saved.approval_password_changed_at is not None
    assert len(events(app, "company.approval_password_changed")) == 1


# -- company password -------------------------------------------------------------------------

def test_company_password_change_with_the_current_one(app, client) -> None:
    add_company(app)
    sign_in_console(client)
    new = "Fresh!company7"
    wrong = post(client, "/company/password", {"current": "Wrong!pass99", "new_password": new,
                                               "confirm": new})
    assert wrong.status_code == 401
    weak = post(client, "/company/password", {"current": COMPANY_PASSWORD,
                                              "new_password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "영문, 숫자, 특수문자" in weak.get_data(as_text=True)
    resp = post(client, "/company/password", {"current": COMPANY_PASSWORD, "new_password": new,
                                              "confirm": new})
    assert resp.status_code == 303
    assert events(app, "company.password_changed")[0].detail["proof"] == "password"
    # the new password signs the company in
    fresh = app.test_client()
    assert sign_in_console(fresh, BN, new).status_code == 200


def test_a_forgotten_company_password_is_replaced_after_a_certificate(app, client) -> None:
    add_company(app)
    sign_in_console(client)
    certify(app, client, nxt="/company/password")
    page = client.get("/company/password").get_data(as_text=True)
    assert 'id="current"' not in page
    new = "Fresh!company7"
    resp = post(client, "/company/password", {"new_password": new, "confirm": new})
    assert resp.status_code == 303
    assert events(app, "company.password_changed")[0].detail["proof"] == "certificate"


# -- employees --------------------------------------------------------------------------------

def test_revoking_an_employee_drops_the_claim_and_signs_their_sites_out(
        app, client, sender) -> None:
    add_company(app)  # the company tests.helpers affiliates members to (1208200275)
    site = TestRP.create(app, backchannel_logout_uri=BCL, login_id="staff01",
                         affiliation="approval_password", name="직원")
    employee = app.test_client()
    tokens = site.tokens(employee)
    assert claims_of(tokens["id_token"]).get("sub") == site.subject
    info = employee.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["kotra_company"]["business_number"] == BN

    sign_in_console(client)
    html = client.get("/company/employees").get_data(as_text=True)
    assert "staff01" in html and "승인 비밀번호" in html
    with app.app_context():
        affiliation_id = db.session.scalar(select(Affiliation.id))
    confirm = client.get(f"/company/employees/{affiliation_id}/revoke").get_data(as_text=True)
    assert "소속을 해제하시겠습니까?" in confirm
    resp = client.post(f"/company/employees/{affiliation_id}/revoke",
                       data={"csrf_token": csrf(confirm)})
    assert resp.status_code == 303 and "revoked=1" in resp.headers["Location"]
    assert "staff01" not in client.get("/company/employees").get_data(as_text=True)

    # the member's refresh carries no company any more
    refreshed = employee.post("/token", headers=site.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    new = refreshed.get_json()
    info = employee.get("/userinfo", headers={
        "Authorization": f"Bearer {new['access_token']}"}).get_json()
    assert "kotra_company" not in info and info["kotra_member_type"] == "general"
    if "id_token" in new:
        assert "kotra_company" not in claims_of(new["id_token"])
    # and the relying party was told (back-channel logout queued)
    with app.app_context():
        queued = list(db.session.scalars(select(BackchannelLogout)))
        assert [q.client_id for q in queued] == [site.client_id]
        assert queued[0].reason == "affiliation_revoked"
        affiliation = db.session.get(Affiliation, affiliation_id)
        assert affiliation is not None and affiliation.ended_by == "revoked"
    assert events(app, "affiliation.revoked")[0].detail["actor"] is not None


def test_another_companys_employee_cannot_be_revoked(app, client) -> None:
    add_company(app)
    other_id = add_company(app, "1248100998", name="다른기업")
    with app.app_context():
        member = Member(subject="s-2", name="김철수", login_id="kim001")
        db.session.add(member)
        db.session.flush()
        db.session.add(Affiliation(member_id=member.id, company_id=other_id,
                                   method="certificate"))
        db.session.commit()
        affiliation_id = db.session.scalar(select(Affiliation.id))
    sign_in_console(client)
    page = client.get("/company/employees").get_data(as_text=True)
    assert "kim001" not in page and 'id="no-employees"' in page
    token = csrf(client.get("/company/password").get_data(as_text=True))
    resp = client.post(f"/company/employees/{affiliation_id}/revoke",
                       data={"csrf_token": token})
    assert resp.status_code == 404
    with app.app_context():
        affiliation = db.session.get(Affiliation, affiliation_id)
        assert affiliation is not None and affiliation.revoked_at is None


def test_english_pages(app, client) -> None:
    add_company(app)
    sign_in_console(client)
    for path in ("/company", "/company/services", "/company/info", "/company/employees",
                 "/company/mileage", "/company/approval-password", "/company/password"):
        resp = client.get(path + "?lang=en")
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        assert "Mileage history" in html and "마일리지 내역" not in html


def test_a_manager_going_to_my_kotra_gets_the_company_console(app, client) -> None:
    add_company(app)
    sign_in_console(client)
    resp = client.get("/my/profile")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/company")


def test_a_company_put_back_under_review_closes_the_console(app, client) -> None:
    company_id = add_company(app)
    sign_in_console(client)
    with app.app_context():
        found = db.session.get(Company, company_id)
        assert found is not None
        found.status = "pending"
        db.session.commit()
    resp = client.get("/company/employees")
    assert resp.status_code == 403 and 'id="company-inactive"' in resp.get_data(as_text=True)
    assert client.get("/my").status_code == 303  # (→ /company: no loop, one answer each)


def test_a_certificate_sign_in_counts_as_the_fresh_certificate(app, client, clock) -> None:
    add_company(app)
    resp = client.get("/company")
    resp = client.get(path_of(resp.headers["Location"]))  # -> /authorize
    resp = client.get(path_of(resp.headers["Location"]))  # -> the login page
    uid = path_of(resp.headers["Location"]).split("/interaction/")[1].split("?")[0]
    cr = give_certificate(app, client, "login", BN)
    resp = client.get(f"/interaction/{uid}/company/certificate", query_string={"cr": cr})
    assert resp.status_code == 303 and "/company/callback" in resp.headers["Location"]
    client.get(path_of(resp.headers["Location"]))
    assert 'id="certified"' in client.get("/company/info").get_data(as_text=True)
    assert post(client, "/company/info", {**INFO, "fax": "02-3460-7777"}).status_code == 303
    clock.advance(601)
    assert 'id="certified"' not in client.get("/company/info").get_data(as_text=True)
    assert post(client, "/company/info", {**INFO, "fax": "02-3460-7778"}).status_code == 403
