"""기업정보 등록 (issue 7; SPEC §3.4; idp/web/company_register.py, idp/services/
company_register.py): every lookup outcome, every refusal, the directory path with the
certificate, the new-company path with the 사업자등록증, double submits and races, CSRF,
another browser's flow and English."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.cookies import build_cookies
from idp.extensions import db
from idp.models import (
    AuditEvent,
    Company,
    CompanyRequest,
    Member,
    MemberType,
    TermsConsent,
    Upload,
)
from idp.services import company_register as service
from idp.services import terms
from idp.services.ports import DirectoryRecord
from idp.services.uploads import open_upload
from tests.helpers import add_test_member, give_certificate

KOTRA = "1208200275"
EDS = "6638501035"
UNKNOWN = "1234567891"
UNKNOWN2 = "4068100003"
CLOSED = "2208112341"
SUSPENDED = "1018100001"
DOWN = "2148600001"
PENDING = "3058100001"
REGISTERED = "6068100001"

COMPANY_PASSWORD = "Company!pass2026"
RECORDS = {
    KOTRA: DirectoryRecord(business_number=KOTRA, name_ko="대한무역투자진흥공사",
                           ceo_ko="유정열", name_en="Korea Trade-Investment Promotion Agency",
                           ceo_en="Yoo Jeongyeol", corp_number="1146710004418",
                           postcode="06792", address_ko="서울 서초구 헌릉로 13",
                           address_en="13 Heolleung-ro, Seocho-gu, Seoul",
                           phone="1600-7119", fax="02-3460-7777", email="info@kotra.or.kr",
                           homepage="www.kotra.or.kr"),
    EDS: DirectoryRecord(business_number=EDS, name_ko="(주)한국이디에스", ceo_ko="홍길동"),
}
OUTCOMES = {CLOSED: "closed", SUSPENDED: "suspended", DOWN: "unavailable", PENDING: "pending",
            REGISTERED: "registered"}


def png_bytes(extra: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00" + b"\x00" * extra)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture()
def site(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Terms published, and a fake lookup (the registries helper's module is not here)."""
    with app.app_context():
        for kind, required in (("service", True), ("privacy", True), ("marketing", False)):
            terms.publish(db.session, kind=kind, version=1, title_ko=f"{kind} 약관",
                          title_en=f"{kind} terms", body=f"{kind} 본문", required=required,
                          now=terms.utcnow())
        db.session.commit()
    calls: list[str] = []

    def fake_lookup(session: Any, registry: Any, directory: Any, number: str) -> service.Found:
        calls.append(number)
        company = session.scalar(select(Company).where(Company.business_number == number))
        if company is not None and company.status != "rejected":  # (as lookup_business)
            return service.Found("registered" if company.status == "active" else "pending",
                                 number)
        if number in OUTCOMES:
            return service.Found(OUTCOMES[number], number)
        record = RECORDS.get(number)
        return service.Found("directory" if record else "not_found", number, record)

    monkeypatch.setattr(service, "lookup", fake_lookup)
    app.lookups = calls
    return app


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found, html[:600]
    return found.group(1)


def start(client: Any) -> str:
    page = client.get("/company/register")
    assert page.status_code == 200
    resp = client.post("/company/register", data={
        "csrf_token": csrf(page.get_data(as_text=True)), "agree_all": "yes"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:400]
    match = re.match(r"/company/register/([^/]+)/number", resp.headers["Location"])
    assert match, resp.headers["Location"]
    return match.group(1)


def look_up(client: Any, fid: str, number: str) -> Any:
    page = client.get(f"/company/register/{fid}/number")
    return client.post(f"/company/register/{fid}/number", data={
        "csrf_token": csrf(page.get_data(as_text=True)), "business_number": number})


def certify(app: Any, client: Any, fid: str, number: str = KOTRA) -> Any:
    cr = give_certificate(app, client, "register", number)
    return client.get(f"/company/register/{fid}/form?cr={cr}")


def company_fields(**overrides: str) -> dict[str, str]:
    data = {
        "password": COMPANY_PASSWORD, "password_confirm": COMPANY_PASSWORD,
        "approval_password": "482915", "approval_password_confirm": "482915",
        "name": "대한무역투자진흥공사", "name_en": "Korea Trade-Investment Promotion Agency",
        "ceo_name": "유정열", "ceo_name_en": "Yoo Jeongyeol", "corp_number": "114671-0004418",
        "trade_licence_no": "", "business_type": "서비스", "business_category": "무역진흥",
        "company_type": "public", "startup": "no", "venture": "no",
        "classification": "nonprofit", "foreign_invested": "no", "trade_kind": "other",
        "main_product": "기타", "phone": "1600-7119", "fax": "02-3460-7777",
        "email": "info@kotra.or.kr", "homepage": "www.kotra.or.kr", "postcode": "06792",
        "address": "서울 서초구 헌릉로 13", "address_detail": "", "address_en": "13 Heolleung-ro",
        "remarks": "", "annual_sales": "1,000,000", "annual_exports": "0",
        "founded_year": "1962", "employees": "1300", "export_region": "asia",
        "export_country": "VN",
    }
    data.update(overrides)
    return data


def to_form(app: Any, client: Any, number: str = KOTRA) -> str:
    fid = start(client)
    resp = look_up(client, fid, number)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/found")
    resp = certify(app, client, fid, number)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:400]
    return fid


def submit_form(client: Any, fid: str, **overrides: str) -> Any:
    page = client.get(f"/company/register/{fid}/form")
    if page.status_code != 200:
        page = client.get("/company/register")
    token = csrf(page.get_data(as_text=True))
    return client.post(f"/company/register/{fid}/form",
                       data={"csrf_token": token, **company_fields(**overrides)})


def count(app: Any, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)))


def events(app: Any, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def sign_in(app: Any, client: Any, login_id: str = "member01", *,
            member_type: str | None = None) -> int:
    """An SSO session for a (new) member in this client's browser."""
    add_test_member(app, login_id)
    with app.app_context():
        p = app.extensions["idp"]
        member = db.session.scalar(select(Member).where(Member.login_id == login_id))
        if member_type:
            member.member_type = member_type
        handle, _sess = p.sessions.login(None, member_id=member.id, acr="1", amr=["pwd"])
        db.session.commit()
        member_id = member.id
    client.set_cookie(build_cookies(app.extensions["idp"].settings, secure=False).sso.name,
                      handle)
    return int(member_id)


# -- the way in ------------------------------------------------------------------------------

def test_hub_links_to_company_registration(site, client):
    html = client.get("/signup").get_data(as_text=True)
    assert 'href="/company/register"' in html
    assert "준비 중" not in html.split('id="choice-company"')[1].split("choice-simple")[0]


def test_terms_must_be_agreed_and_start_the_flow(site, client):
    page = client.get("/company/register")
    html = page.get_data(as_text=True)
    assert "STEP1. 약관동의" in html and 'aria-current="step"' in html
    assert "service 약관" in html and "marketing 약관" not in html  # required ones only
    resp = client.post("/company/register", data={"csrf_token": csrf(html),
                                                  "agree_service": "yes"})
    assert resp.status_code == 400
    assert "필수 약관에 모두 동의해 주세요." in resp.get_data(as_text=True)
    fid = start(client)
    assert client.get(f"/company/register/{fid}/number").status_code == 200


def test_csrf_is_required_everywhere(site, client):
    resp = client.post("/company/register", data={"agree_all": "yes"})
    assert resp.status_code == 400
    fid = start(client)
    resp = client.post(f"/company/register/{fid}/number", data={"business_number": KOTRA})
    assert resp.status_code == 400 and "만료" in resp.get_data(as_text=True)
    assert site.lookups == []
    look_up(client, fid, KOTRA)
    certify(site, client, fid)
    resp = client.post(f"/company/register/{fid}/form", data=company_fields())
    assert resp.status_code == 400 and count(site, Company) == 0


def test_a_malformed_business_number_is_refused(site, client):
    fid = start(client)
    for typed in ("", "12345", "1208200276", "120-82-0027５"):
        resp = look_up(client, fid, typed)
        assert resp.status_code == 400
        assert "사업자등록번호 10자리를 올바르게 입력해 주세요." in resp.get_data(as_text=True)
    assert site.lookups == []
    assert look_up(client, fid, "120-82-00275").status_code == 303  # dashes are fine
    assert site.lookups == [KOTRA]


# -- the outcomes ----------------------------------------------------------------------------

@pytest.mark.parametrize(("number", "status", "text"), [
    (CLOSED, 403, "폐업된 것으로 확인되어 기업정보 등록이 불가능합니다"),
    (SUSPENDED, 403, "휴업 중인 것으로 확인되어 기업정보 등록이 불가능합니다"),
    (DOWN, 503, "잠시 후 다시 시도해 주세요"),
    (PENDING, 409, "검토 중인 기업입니다"),
])
def test_refusals_write_nothing(site, client, number, status, text):
    fid = start(client)
    resp = look_up(client, fid, number)
    assert resp.status_code == status
    assert text in resp.get_data(as_text=True)
    assert count(site, Company) == 0
    refused = events(site, "company.registration_refused")
    assert [e.detail.get("reason") for e in refused] == (
        [OUTCOMES[number]] if number in (CLOSED, SUSPENDED) else [])
    # The flow stays at the number: another number may be tried.
    assert look_up(client, fid, KOTRA).status_code == 303


def test_a_registered_company_is_sent_to_the_manager_login(site, client):
    with site.app_context():
        db.session.add(Company(business_number=REGISTERED, name="등록된(주)"))
        db.session.commit()
    fid = start(client)
    resp = look_up(client, fid, REGISTERED)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert "존재하는 기업회원입니다. 로그인해주세요." in html
    assert 'href="/company/login"' in html
    # The link is the company console's sign-in: its login page opens on the 기업정보 관리
    # tab (the console's own client), and a manager who signs in lands in the console.
    resp = client.get("/company/login")
    assert resp.status_code == 303 and "client_id=kotra-company" in resp.headers["Location"]
    resp = client.get(resp.headers["Location"])  # /authorize -> the login page
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'id="tab-company"' in page and 'aria-selected="true">기업정보 관리' in page


def test_lookups_are_limited_per_address(site, client):
    site.extensions["idp"].settings["company_register"]["lookups_per_ip"] = 2
    fid = start(client)
    assert look_up(client, fid, CLOSED).status_code == 403
    assert look_up(client, fid, CLOSED).status_code == 403
    resp = look_up(client, fid, CLOSED)
    assert resp.status_code == 429 and "잠시 후" in resp.get_data(as_text=True)
    assert len(site.lookups) == 2


# -- found in the directory ------------------------------------------------------------------

def test_directory_path_registers_an_active_company(site, client):
    fid = start(client)
    resp = look_up(client, fid, KOTRA)
    assert resp.headers["Location"] == f"/company/register/{fid}/found"
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    for shown in ("120-82-00275", "대한무역투자진흥공사", "유정열", "서울 서초구 헌릉로 13",
                  "13 Heolleung-ro, Seocho-gu, Seoul", "1600-7119"):
        assert shown in html
    assert 'id="certificate-note"' in html  # (and the 인증서찾기 widget, when installed)
    # The form needs the certificate first.
    assert client.get(f"/company/register/{fid}/form").headers["Location"].endswith("/found")
    resp = certify(site, client, fid)
    assert resp.headers["Location"] == f"/company/register/{fid}/form"
    # Reloading the widget's ?cr= (used once) keeps the certified flow.
    cr = give_certificate(site, client, "register", KOTRA)
    assert client.get(f"/company/register/{fid}/form?cr={cr}").status_code == 303
    resp = client.get(f"/company/register/{fid}/form?cr={cr}")
    assert resp.headers["Location"] == f"/company/register/{fid}/form"
    page = client.get(f"/company/register/{fid}/form").get_data(as_text=True)
    assert 'value="Korea Trade-Investment Promotion Agency"' in page  # prefilled
    assert 'value="1146710004418"' in page and 'value="info@kotra.or.kr"' in page
    assert page.count('<span class="req">*</span>') >= 15
    resp = submit_form(client, fid)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    assert resp.headers["Location"] == f"/company/register/{fid}/done"
    done = client.get(resp.headers["Location"])
    assert done.status_code == 200
    assert "기업정보 등록이 완료되었습니다." in done.get_data(as_text=True)
    assert 'href="/company/login" id="done-login"' in done.get_data(as_text=True)
    with site.app_context():
        p = site.extensions["idp"]
        company = db.session.scalar(select(Company))
        assert (company.business_number, company.status) == (KOTRA, "active")
        assert company.name_en == "Korea Trade-Investment Promotion Agency"
        assert company.corp_number == "1146710004418"
        assert company.profile["company_type"] == "public"
        assert company.profile["annual_sales"] == 1_000_000
        assert company.profile["startup"] is False
        assert company.profile["export_country"] == "VN"
        assert p.passwords.verify(company.approval_password_hash, "482915")
        assert company.approval_password_hash.startswith("$argon2id$")
        manager = db.session.scalar(select(Member).where(
            Member.managed_company_id == company.id))
        assert manager.member_type == MemberType.COMPANY_MANAGER
        assert p.passwords.verify(manager.password_hash, COMPANY_PASSWORD)
        kinds = set(db.session.scalars(select(TermsConsent.kind).where(
            TermsConsent.member_id == manager.id)))
        assert kinds == {"service", "privacy"}
    assert len(events(site, "company.registered")) == 1
    # The flow is used: the form is gone, the done page stays for this browser only.
    assert submit_form(client, fid).headers["Location"].endswith("/done")
    assert count(site, Company) == 1
    other = site.test_client()
    assert other.get(f"/company/register/{fid}/done").status_code == 400


def rejected_company(app: Any, number: str, *, with_manager: bool = True) -> tuple[int, int]:
    """A company an operator refused (its row keeps the number), with its old manager
    principal and its decided registration request: (company id, manager id or 0)."""
    from idp.services.companies import create_manager

    with app.app_context():
        p = app.extensions["idp"]
        company = Company(business_number=number, name="(주)반려된무역", name_en="Old Co.",
                          status="rejected", profile={"email": "old@example.com",
                                                      "legacy_key": "kept"},
                          approval_password_hash=p.passwords.hash("739102"))
        db.session.add(company)
        db.session.flush()
        manager_id = 0
        if with_manager:
            manager = create_manager(db.session, company, p.passwords.hash("Old!pass20261"))
            manager_id = manager.id
        db.session.add(CompanyRequest(kind="registration", company_id=company.id,
                                      status="rejected", reason="서류 불명확", data={}))
        db.session.commit()
        return company.id, manager_id


def test_a_rejected_company_registers_again_with_its_certificate(site, client):
    """SPEC §3.4: a rejected company's number may be registered again; its row (UNIQUE
    business number) is taken over, with a new manager password and approval password."""
    company_id, manager_id = rejected_company(site, KOTRA)
    fid = to_form(site, client)  # the lookup does not stop at the rejected row
    resp = submit_form(client, fid)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    assert resp.headers["Location"].endswith("/done")
    with site.app_context():
        p = site.extensions["idp"]
        [company] = db.session.scalars(select(Company))
        assert (company.id, company.status, company.name) == (
            company_id, "active", "대한무역투자진흥공사")
        assert company.profile["company_type"] == "public"
        assert company.profile["email"] == "info@kotra.or.kr"
        assert "legacy_key" not in company.profile  # a new application: the new form only
        assert p.passwords.verify(company.approval_password_hash, "482915")
        [manager] = db.session.scalars(select(Member).where(
            Member.managed_company_id == company.id))
        assert manager.id == manager_id and manager.is_active
        assert manager.name == "대한무역투자진흥공사"
        assert p.passwords.verify(manager.password_hash, COMPANY_PASSWORD)
        assert not p.passwords.verify(manager.password_hash, "Old!pass20261")
    [event] = events(site, "company.registered")
    assert event.detail["reapplied"] is True and event.detail["company_id"] == company_id
    # Now it is registered: a second registration is sent to the manager login.
    assert look_up(client, start(client), KOTRA).status_code == 409


def test_two_re_registrations_of_a_rejected_company_give_one(site, app):
    rejected_company(app, KOTRA)
    one, two = app.test_client(), app.test_client()
    fid1, fid2 = to_form(app, one), to_form(app, two)
    first = submit_form(one, fid1)
    second = submit_form(two, fid2)
    assert (first.status_code, second.status_code) == (303, 409)
    assert count(app, Company) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member).where(
            Member.member_type == MemberType.COMPANY_MANAGER)) == 1


def test_a_rejected_row_is_taken_over_once(site, app):
    """Two re-applications that both saw the row rejected: the conditional UPDATE lets one
    take it over; the other gets AlreadyRegistered (what the UNIQUE gives a second INSERT)."""
    import datetime as dt

    from idp.services.company_profile import clean_info

    company_id, _manager = rejected_company(app, KOTRA)
    fields = company_fields()
    info = clean_info(fields, now_year=2026)
    hashes = service.Secrets("x", "y")
    with app.app_context():
        now = dt.datetime(2026, 12, 2)
        company, _m = service._reapply(db.session, company_id, info=info, hashes=hashes,
                                       status="pending", now=now)
        assert company.status == "pending"
        with pytest.raises(service.AlreadyRegistered):
            service._reapply(db.session, company_id, info=info, hashes=hashes,
                             status="active", now=now)
        db.session.rollback()


def test_done_login_signs_the_new_manager_in_to_the_company_console(site, client):
    """가입완료 → 로그인 (no pending sign-in): the console's entry, the 기업정보 관리 tab, the
    business number and the new password, then the console."""
    from urllib.parse import urlsplit

    def path(location: str) -> str:
        parts = urlsplit(location)
        return parts.path + ("?" + parts.query if parts.query else "")

    fid = to_form(site, client)
    done = client.get(submit_form(client, fid).headers["Location"]).get_data(as_text=True)
    href = re.search(r'href="([^"]+)" id="done-login"', done)
    assert href and href.group(1) == "/company/login"
    resp = client.get(path(client.get(href.group(1)).headers["Location"]))  # /authorize
    login = path(resp.headers["Location"])
    page = client.get(login).get_data(as_text=True)
    assert 'aria-selected="true">기업정보 관리' in page
    uid = login.split("/interaction/")[1].split("?")[0]
    resp = client.post(f"/interaction/{uid}/company", data={
        "csrf_token": csrf(page), "business_number": "120-82-00275",
        "password": COMPANY_PASSWORD})
    assert resp.status_code == 303 and "/company/callback" in resp.headers["Location"]
    resp = client.get(path(resp.headers["Location"]))
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/company")
    home = client.get("/company").get_data(as_text=True)
    assert "대한무역투자진흥공사" in home and "120-82-00275" in home


def test_the_certificate_must_be_the_flows_company(site, client):
    fid = start(client)
    look_up(client, fid, KOTRA)
    resp = certify(site, client, fid, EDS)
    assert resp.status_code == 400
    assert "조회하신 사업자등록번호의 기업 범용인증서가 아닙니다" in resp.get_data(as_text=True)
    [refused] = events(site, "company.registration_refused")
    assert refused.detail["reason"] == "certificate_mismatch"
    assert client.get(f"/company/register/{fid}/form").headers["Location"].endswith("/found")
    # A used or unknown certificate result is refused with the seam's message.
    resp = client.get(f"/company/register/{fid}/form?cr=nonsense")
    assert resp.status_code == 400 and "다시 인증해 주세요" in resp.get_data(as_text=True)
    # Another purpose's certificate is not taken here.
    cr = give_certificate(site, client, "login", KOTRA)
    assert client.get(f"/company/register/{fid}/form?cr={cr}").status_code == 400


def test_previous_goes_back_to_the_number(site, client):
    fid = start(client)
    look_up(client, fid, KOTRA)
    html = client.get(f"/company/register/{fid}/found").get_data(as_text=True)
    resp = client.post(f"/company/register/{fid}/found", data={"csrf_token": csrf(html)})
    assert resp.headers["Location"] == f"/company/register/{fid}/number"
    assert client.get(f"/company/register/{fid}/found").headers["Location"].endswith("/number")


@pytest.mark.parametrize(("overrides", "field", "text"), [
    ({"name": ""}, "name", "기업명을(를) 입력해 주세요."),
    ({"name_en": "대한"}, "name_en", "영문으로 입력해 주세요."),
    ({"ceo_name_en": ""}, "ceo_name_en", "대표자명(영문)을(를) 입력해 주세요."),
    ({"corp_number": "1146710004419"}, "corp_number", "법인등록번호 13자리"),
    ({"company_type": "huge"}, "company_type", "목록에서 선택해 주세요."),
    ({"classification": ""}, "classification", "기업분류을(를) 선택해 주세요."),
    ({"trade_kind": ""}, "trade_kind", "제조/무역구분을(를) 선택해 주세요."),
    ({"main_product": ""}, "main_product", "대표품목을(를) 입력해 주세요."),
    ({"phone": "call me"}, "phone", "전화번호를 올바르게"),
    ({"email": "not-an-email"}, "email", "이메일 주소를 올바르게"),
    ({"homepage": "javascript:alert(1)"}, "homepage", "홈페이지 주소를 올바르게"),
    ({"postcode": "1234"}, "postcode", "우편번호"),
    ({"founded_year": "3000"}, "founded_year", "설립년도"),
    ({"employees": "many"}, "employees", "종업원수은(는) 숫자로"),
    ({"startup": "maybe"}, "startup", "목록에서 선택해 주세요."),
    ({"export_country": "XX"}, "export_country", "목록에서 선택해 주세요."),
    ({"remarks": "가" * 1001}, "remarks", "너무 깁니다"),
    ({"password": "short1!", "password_confirm": "short1!"}, "password", "9~30자"),
    ({"password": "Company!pass2027"}, "password_confirm", "일치하지 않습니다"),
    ({"approval_password": "123456", "approval_password_confirm": "123456"},
     "approval_password", "추측하기 쉬운 승인 비밀번호"),
    ({"approval_password": "000000", "approval_password_confirm": "000000"},
     "approval_password", "추측하기 쉬운 승인 비밀번호"),
    ({"approval_password": "12a456", "approval_password_confirm": "12a456"},
     "approval_password", "숫자 6자리"),
    ({"approval_password_confirm": "482916"}, "approval_password_confirm", "일치하지 않습니다"),
    ({"password": "", "password_confirm": ""}, "password", "기업 로그인 비밀번호을(를) 입력"),
])
def test_each_field_is_checked_with_a_korean_message(site, client, overrides, field, text):
    fid = to_form(site, client)
    resp = submit_form(client, fid, **overrides)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert error, html[:3000]
    assert text in error.group(1).replace("&#39;", "'")
    assert 'aria-describedby="' in html and 'aria-invalid="true"' in html
    assert count(site, Company) == 0
    # Nothing typed is lost (but the passwords).
    if field not in ("remarks", "company_type", "startup", "export_country") and \
            overrides.get(field, "x") and "password" not in field:
        value = overrides.get(field, "")
        assert value.replace("&", "&amp;") in html


def test_double_submit_registers_one_company(site, client):
    fid = to_form(site, client)
    page = client.get(f"/company/register/{fid}/form").get_data(as_text=True)
    data = {"csrf_token": csrf(page), **company_fields()}
    first = client.post(f"/company/register/{fid}/form", data=data)
    second = client.post(f"/company/register/{fid}/form", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(site, Company) == 1
    assert len(events(site, "company.registered")) == 1


def test_racing_registrations_of_one_company_give_one(site, app):
    """Two browsers both passed the lookup before either registered."""
    one, two = app.test_client(), app.test_client()
    fid1, fid2 = to_form(app, one), to_form(app, two)
    assert submit_form(one, fid1).status_code == 303
    resp = submit_form(two, fid2)
    assert resp.status_code == 409
    assert "존재하는 기업회원입니다. 로그인해주세요." in resp.get_data(as_text=True)
    assert count(app, Company) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member).where(
            Member.member_type == MemberType.COMPANY_MANAGER)) == 1


def test_another_browsers_flow_is_gone(site, client, app):
    fid = to_form(site, client)
    other = app.test_client()
    for path in ("number", "found", "form", "new"):
        resp = other.get(f"/company/register/{fid}/{path}")
        assert resp.status_code == 400, path
    assert "처음부터 다시 진행해 주세요" in other.get(
        f"/company/register/{fid}/form").get_data(as_text=True)


def test_revised_terms_before_the_end_ask_again(site, client):
    fid = to_form(site, client)
    with site.app_context():
        terms.publish(db.session, kind="privacy", version=2, title_ko="개정", title_en="rev",
                      body="새 본문", required=True, now=terms.utcnow())
        db.session.commit()
    resp = submit_form(client, fid)
    assert resp.status_code == 303 and "changed=1" in resp.headers["Location"]
    assert count(site, Company) == 0


def test_english(site, client):
    html = client.get("/company/register?lang=en").get_data(as_text=True)
    assert "Register company" in html and "Company registration steps" in html
    fid = start(client)
    resp = look_up(client, fid, CLOSED)
    assert "belongs to a closed business" in resp.get_data(as_text=True)
    fid = to_form(site, client)
    html = client.get(f"/company/register/{fid}/form").get_data(as_text=True)
    assert "Company name (English)" in html and "Approval password" in html
    assert "기업명" not in html
    resp = submit_form(client, fid, approval_password="111111",
                       approval_password_confirm="111111")
    assert "easy to guess" in resp.get_data(as_text=True)


# -- not found: a new company, waiting for review -------------------------------------------

def to_new(client: Any, number: str = UNKNOWN) -> str:
    fid = start(client)
    resp = look_up(client, fid, number)
    assert resp.headers["Location"] == f"/company/register/{fid}/new"
    return fid


def post_new(client: Any, fid: str, document: bytes | None, filename: str = "사업자등록증.png",
             **overrides: str) -> Any:
    page = client.get(f"/company/register/{fid}/new").get_data(as_text=True)
    data: dict[str, Any] = {"csrf_token": csrf(page), **company_fields(**overrides)}
    if document is not None:
        import io

        data["document"] = (io.BytesIO(document), filename)
    return client.post(f"/company/register/{fid}/new", data=data,
                       content_type="multipart/form-data")


def test_new_company_needs_a_signed_in_general_member(site, client):
    fid = to_new(client)
    html = client.get(f"/company/register/{fid}/new").get_data(as_text=True)
    assert "기업등록요청을 위해서는 반드시 개인 회원가입을 해 주십시오." in html
    assert f'href="/my/login?next=/company/register/{fid}/new"' in html
    assert 'name="document"' not in html
    # A company manager (or a simple member) cannot apply either.
    sign_in(site, client, "boss0001", member_type=MemberType.COMPANY_MANAGER.value)
    html = client.get(f"/company/register/{fid}/new").get_data(as_text=True)
    assert "일반회원으로 로그인해 주세요" in html
    token = csrf(client.get("/company/register").get_data(as_text=True))
    resp = client.post(f"/company/register/{fid}/new", data={"csrf_token": token,
                                                             **company_fields()})
    assert resp.status_code == 403 and count(site, Company) == 0


def test_my_login_comes_back_to_the_new_company_form(site, client):
    fid = to_new(client)
    resp = client.get(f"/my/login?next=/company/register/{fid}/new")
    assert resp.status_code == 303  # the console's authorization request keeps `next`
    with site.app_context():
        from idp.web.my import _local_my_path

        assert _local_my_path(f"/company/register/{fid}/new")
        assert _local_my_path("//evil.example/company/register/") is None


def test_new_company_waits_for_an_operator(site, client):
    fid = to_new(client)
    member_id = sign_in(site, client)
    html = client.get(f"/company/register/{fid}/new").get_data(as_text=True)
    assert 'value="테스트"' in html and 'value="member01"' in html  # the applicant
    assert 'enctype="multipart/form-data"' in html
    document = png_bytes()
    resp = post_new(client, fid, document, filename="../../사업자등록증.png")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "기업정보 등록 신청이 접수되었습니다." in done
    with site.app_context():
        p = site.extensions["idp"]
        company = db.session.scalar(select(Company))
        assert (company.business_number, company.status) == (UNKNOWN, "pending")
        request = db.session.scalar(select(CompanyRequest))
        assert (request.kind, request.status, request.member_id) == (
            "registration", "pending", member_id)
        upload = db.session.get(Upload, request.document_id)
        assert upload.content_type == "image/png" and upload.filename == "사업자등록증.png"
        assert document not in upload.sealed and base64.b64encode(document) not in upload.sealed
        assert open_upload(db.session, p.personal_data, upload.id) == (
            document, "image/png", "사업자등록증.png")
        manager = db.session.scalar(select(Member).where(
            Member.managed_company_id == company.id))
        assert p.passwords.verify(manager.password_hash, COMPANY_PASSWORD)
    assert len(events(site, "company.registration_submitted")) == 1
    # A second look-up of the number says it is waiting.
    assert look_up(client, start(client), UNKNOWN).status_code == 409


def test_a_rejected_new_company_applies_again(site, client):
    """The not-found path for a number an operator refused: the same row goes back to
    pending with the new values and passwords, and a new request waits beside the old."""
    company_id, _old = rejected_company(site, UNKNOWN, with_manager=False)
    fid = to_new(client)
    member_id = sign_in(site, client)
    resp = post_new(client, fid, png_bytes())
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    assert "기업정보 등록 신청이 접수되었습니다." in client.get(
        resp.headers["Location"]).get_data(as_text=True)
    with site.app_context():
        p = site.extensions["idp"]
        [company] = db.session.scalars(select(Company))
        assert (company.id, company.status, company.name_en) == (
            company_id, "pending", "Korea Trade-Investment Promotion Agency")
        assert p.passwords.verify(company.approval_password_hash, "482915")
        requests = list(db.session.scalars(select(CompanyRequest).order_by(CompanyRequest.id)))
        assert [(r.status, r.member_id) for r in requests] == [
            ("rejected", None), ("pending", member_id)]
        assert requests[1].document_id is not None
        # it had no manager principal: one is created with the new password
        [manager] = db.session.scalars(select(Member).where(
            Member.managed_company_id == company.id))
        assert p.passwords.verify(manager.password_hash, COMPANY_PASSWORD)
    [event] = events(site, "company.registration_submitted")
    assert event.detail["reapplied"] is True
    assert look_up(client, start(client), UNKNOWN).status_code == 409  # waiting again


@pytest.mark.parametrize(("document", "filename", "text"), [
    (None, "x.png", "사업자등록증 스캔본 파일을 첨부해 주세요."),
    (b"", "x.png", "사업자등록증 스캔본 파일을 첨부해 주세요."),
    (b"MZ\x90\x00 this is an exe", "사업자등록증.png", "PDF, PNG, JPG 파일만"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "a.svg", "PDF, PNG, JPG 파일만"),
    (b"GIF89a\x01\x00\x01\x00", "a.gif", "PDF, PNG, JPG 파일만"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "a.png", "손상되었거나"),
    (b"%PDF-1.4\n no trailer", "a.pdf", "손상되었거나"),
    (b"\xff\xd8\xff\xe0 truncated", "a.jpg", "손상되었거나"),
])
def test_uploads_are_checked_from_their_content(site, client, document, filename, text):
    fid = to_new(client)
    sign_in(site, client)
    resp = post_new(client, fid, document, filename)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert text in re.search(r'id="document-error">([^<]*)<', html).group(1)
    assert count(site, Company) == count(site, Upload) == 0


def test_pdf_and_jpeg_are_accepted(site, app):
    for document, kind, number in (
            (PDF, "application/pdf", UNKNOWN),
            (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20 + b"\xff\xd9", "image/jpeg",
             UNKNOWN2)):
        client = app.test_client()
        fid = to_new(client, number)
        sign_in(site, client, f"member{kind[-3:]}1")
        assert post_new(client, fid, document, "scan.bin").status_code == 303
        with app.app_context():
            upload = db.session.scalars(select(Upload).order_by(Upload.id.desc())).first()
            assert upload.content_type == kind
            assert upload.filename.endswith(".pdf" if kind.endswith("pdf") else ".jpg")


def test_too_large_uploads_get_a_korean_message_not_a_raw_413(site, client):
    site.extensions["idp"].settings["company_register"]["upload_max_bytes"] = 100_000
    fid = to_new(client)
    sign_in(site, client)
    # Within the body limit but over the file limit: the field's message.
    resp = post_new(client, fid, png_bytes() + b"\x00" * 100_001)
    assert resp.status_code == 400
    assert "파일 크기는 0MB 이하여야 합니다." in resp.get_data(as_text=True) or \
        "이하여야 합니다" in resp.get_data(as_text=True)
    # Over the body limit: a Korean page, status 413.
    resp = post_new(client, fid, b"\x89PNG" + b"\x00" * 300_000)
    assert resp.status_code == 413
    html = resp.get_data(as_text=True)
    assert "이하여야 합니다" in html and "<form" in html
    assert count(site, Company) == count(site, Upload) == 0
    # Other pages keep the app's small limit.
    resp = client.post("/company/register", data={"agree_all": "yes", "x": "a" * 70_000})
    assert resp.status_code == 413


def test_new_company_double_submit_and_csrf(site, client):
    fid = to_new(client)
    sign_in(site, client)
    resp = client.post(f"/company/register/{fid}/new", data={**company_fields()})
    assert resp.status_code == 400 and count(site, Company) == 0  # no CSRF token
    page = client.get(f"/company/register/{fid}/new").get_data(as_text=True)
    import io

    def data() -> dict[str, Any]:
        return {"csrf_token": csrf(page), **company_fields(),
                "document": (io.BytesIO(png_bytes()), "a.png")}
    first = client.post(f"/company/register/{fid}/new", data=data(),
                        content_type="multipart/form-data")
    second = client.post(f"/company/register/{fid}/new", data=data(),
                         content_type="multipart/form-data")
    assert first.status_code == second.status_code == 303
    assert count(site, Company) == count(site, CompanyRequest) == count(site, Upload) == 1


def _at_once(*calls: Any) -> list[Any]:
    import threading

    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_registrations_at_the_same_moment_give_one_company(site, app):
    """Two browsers submit the company form at once (threads; on PostgreSQL the UNIQUE
    business_number decides, the loser's savepoint rolls back): one company, no 500."""
    one, two = app.test_client(), app.test_client()
    fid1, fid2 = to_form(app, one), to_form(app, two)
    posts = []
    for client, fid in ((one, fid1), (two, fid2)):
        token = csrf(client.get(f"/company/register/{fid}/form").get_data(as_text=True))
        posts.append(lambda c=client, f=fid, t=token: c.post(
            f"/company/register/{f}/form", data={"csrf_token": t, **company_fields()}))
    statuses = sorted(r.status_code for r in _at_once(*posts))
    assert statuses == [303, 409]
    assert count(app, Company) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member).where(
            Member.member_type == MemberType.COMPANY_MANAGER)) == 1


def test_a_double_click_at_the_same_moment_registers_once(site, client):
    fid = to_form(site, client)
    token = csrf(client.get(f"/company/register/{fid}/form").get_data(as_text=True))

    def post() -> Any:
        return client.post(f"/company/register/{fid}/form",
                           data={"csrf_token": token, **company_fields()})
    statuses = [r.status_code for r in _at_once(post, post)]
    assert 303 in statuses and all(s in (303, 400) for s in statuses), statuses
    assert count(site, Company) == 1


def test_a_pending_sign_in_is_kept_for_the_manager_login(site, client):
    from tests.helpers import TestRP

    rp = TestRP.create(site, member=False)
    ia = rp.authorize(client).headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/company/register?ia={ia}").get_data(as_text=True)
    assert f'name="ia" value="{ia}"' in page
    client.post("/company/register", data={"csrf_token": csrf(page), "agree_all": "yes",
                                           "ia": ia})
    fid = start(client)  # (a second flow without the sign-in: the plain login link)
    with site.app_context():
        db.session.add(Company(business_number=REGISTERED, name="등록된(주)"))
        db.session.commit()
    assert 'href="/company/login"' in look_up(client, fid, REGISTERED).get_data(
        as_text=True)
    resp = client.post("/company/register", data={"csrf_token": csrf(page),
                                                  "agree_all": "yes", "ia": ia})
    fid = resp.headers["Location"].split("/")[3]
    html = look_up(client, fid, REGISTERED).get_data(as_text=True)
    assert f'href="/interaction/{ia}?tab=company"' in html
    # A forged sign-in id is dropped.
    html = client.get("/company/register?ia=forged").get_data(as_text=True)
    assert 'value="forged"' not in html


TRUNCATED_FILE_PART = b'--XX\r\nContent-Disposition: form-data; name="document"; filename="a"' \
    b"\r\n\r\n" + b"v" * 600_000


@pytest.mark.parametrize("body", [TRUNCATED_FILE_PART, TRUNCATED_FILE_PART + b"\r\n--XX--\r\n",
                                  b"--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--"])
def test_malformed_multipart_bodies_are_refused_without_leaks(site, client, body):
    """A truncated or nameless part: the CSRF check refuses it, and werkzeug's spooled file is
    closed (warnings are errors: a leaked file fails the test)."""
    import gc

    fid = to_new(client)
    sign_in(site, client)
    resp = client.post(f"/company/register/{fid}/new", data=body,
                       content_type="multipart/form-data; boundary=XX")
    assert resp.status_code == 400
    gc.collect()
    assert count(site, Company) == 0


def test_other_pages_still_refuse_multipart_bodies(site, client):
    page = client.get("/company/register").get_data(as_text=True)
    resp = client.post("/company/register", data={"csrf_token": csrf(page), "agree_all": "yes",
                                                  "f": (__import__("io").BytesIO(b"x"), "a")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and "form-urlencoded bodies only" in resp.get_data(
        as_text=True)


def test_two_applications_for_one_new_company_give_one_request(site, app):
    one, two = app.test_client(), app.test_client()
    fid1, fid2 = to_new(one), to_new(two)
    sign_in(site, one, "member01")
    sign_in(site, two, "member02")
    assert post_new(one, fid1, png_bytes()).status_code == 303
    resp = post_new(two, fid2, png_bytes())
    assert resp.status_code == 409
    assert "검토 중인 기업입니다" in resp.get_data(as_text=True)
    assert count(app, Company) == count(app, CompanyRequest) == count(app, Upload) == 1


def test_registration_works_when_no_terms_are_published(app, client, monkeypatch):
    monkeypatch.setattr(service, "lookup",
                        lambda s, r, d, n: service.Found("directory", n, RECORDS.get(n)))
    fid = start(client)
    assert look_up(client, fid, KOTRA).status_code == 303
    certify(app, client, fid)
    assert submit_form(client, fid).status_code == 303
    assert count(app, Company) == 1 and count(app, TermsConsent) == 0


def test_hostile_upload_bodies_never_give_a_5xx(site, client):
    """Raw bodies at the one endpoint that parses multipart: never a 5xx, no leaked file
    (warnings are errors), nothing written."""
    import gc

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    fid = to_new(client)
    sign_in(site, client)
    token = csrf(client.get(f"/company/register/{fid}/new").get_data(as_text=True))
    parts = st.lists(st.sampled_from([
        b"--XX\r\n", b"Content-Disposition: form-data\r\n",
        b'Content-Disposition: form-data; name="csrf_token"\r\n',
        b'Content-Disposition: form-data; name="document"; filename="a.png"\r\n',
        b'Content-Disposition: form-data; name=""\r\n', b"Content-Type: image/png\r\n",
        b"\r\n", b"\x89PNG\r\n\x1a\n", token.encode(), b"\x00", b"\xff\xfe", b"--XX--\r\n",
        b"a" * 70_000]), max_size=12).map(b"".join)

    @settings(max_examples=60, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(body=st.one_of(st.binary(max_size=300), parts),
           content_type=st.sampled_from(["multipart/form-data; boundary=XX",
                                         "multipart/form-data", "application/json", ""]))
    def hostile(body: bytes, content_type: str) -> None:
        resp = client.post(f"/company/register/{fid}/new", data=body,
                           content_type=content_type)
        assert resp.status_code < 500, (resp.status_code, body[:200])
        gc.collect()

    hostile()
    assert count(site, Company) == count(site, Upload) == 0


def test_a_member_has_at_most_three_applications_in_review(site, client):
    fid = to_new(client)
    member_id = sign_in(site, client)
    with site.app_context():
        for n, number in enumerate(("1248100998", "2208162517", "1208200275")):
            company = Company(business_number=number, name=f"대기{n}", status="pending")
            db.session.add(company)
            db.session.flush()
            db.session.add(CompanyRequest(kind="registration", company_id=company.id,
                                          member_id=member_id, status="pending"))
        db.session.commit()
    resp = post_new(client, fid, png_bytes())
    assert resp.status_code == 429
    assert "검토를 기다리는 기업정보 등록 신청이 이미 3건 있습니다." in resp.get_data(as_text=True)
    assert count(site, Company) == 3
