"""기업정보 등록 in real headless Chromium (issue 7; idp/web/company_register.py).

The provider runs in this process (the `live_server` fixture). The lookup is the test's fake
(as in tests/web/test_company_register.py: the registries helper's module is not needed); the
certificate step is injected like tests.helpers.give_certificate, for the browser's own
`idp_browser` cookie (the 인증서찾기 widget itself is tested with the NPKI browser tests). axe-core
checks every page and error state; screenshots go to /tmp/idp-test (company_register_*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from idp.cookies import build_cookies
from idp.extensions import db
from idp.models import Company
from idp.services import company_register as service
from idp.services import terms
from idp.services.ports import DirectoryRecord
from tests.browser.test_accessibility import AXE_JS, assert_accessible
from tests.conftest import require_service
from tests.helpers import certified_company

KOTRA = "1208200275"
CLOSED = "2208112341"
UNKNOWN = "1234567891"
RECORD = DirectoryRecord(
    business_number=KOTRA, name_ko="대한무역투자진흥공사", ceo_ko="유정열",
    name_en="Korea Trade-Investment Promotion Agency", ceo_en="Yoo Jeongyeol",
    corp_number="1146710004418", postcode="06792", address_ko="서울 서초구 헌릉로 13",
    address_en="13 Heolleung-ro, Seocho-gu, Seoul", phone="1600-7119", fax="02-3460-7777",
    email="info@kotra.or.kr", homepage="www.kotra.or.kr")


@pytest.fixture()
def axe() -> str:
    if not AXE_JS.exists():
        require_service("axe-core", False, "run `npm ci --prefix tests/browser/axe` (needs npm)")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture()
def site(app: Any, live_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with app.app_context():
        for kind, required in (("service", True), ("privacy", True)):
            terms.publish(db.session, kind=kind, version=1, title_ko=f"{kind} 약관",
                          title_en=f"{kind} terms", body=f"{kind} 본문", required=required,
                          now=terms.utcnow())
        db.session.commit()

    def fake_lookup(session: Any, registry: Any, directory: Any, number: str) -> service.Found:
        if session.scalar(select(Company.id).where(Company.business_number == number)):
            return service.Found("registered", number)
        if number == CLOSED:
            return service.Found("closed", number)
        if number == KOTRA:
            return service.Found("directory", number, RECORD)
        return service.Found("not_found", number)

    monkeypatch.setattr(service, "lookup", fake_lookup)
    return live_server


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1000, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def shot(page: Any, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=artifacts_dir / f"company_register_{name}.png", full_page=True)


def certify(app: Any, page: Any, number: str) -> str:
    """What a successful 인증서찾기 leaves behind, for this browser: the ?cr= id."""
    name = build_cookies(app.extensions["idp"].settings, secure=False).browser.name
    [browser_id] = [c["value"] for c in page.context.cookies() if c["name"] == name]
    with app.app_context():
        cid = app.extensions["idp"].certificates.record(
            purpose="register", result=certified_company(number), browser=browser_id)
        db.session.commit()
    return str(cid)


def test_register_a_company_from_the_directory(page: Any, site: str, app: Any, axe: str,
                                               artifacts_dir: Path) -> None:
    page.goto(f"{site}/signup")
    page.click("#company-register")
    assert page.url.endswith("/company/register")
    assert_accessible(page, axe, "terms")
    shot(page, artifacts_dir, "1_terms")
    page.click("button.primary")  # nothing agreed
    assert "필수 약관에 모두 동의해 주세요." in page.inner_text("[role=alert]")
    assert_accessible(page, axe, "terms refused")
    page.check("#agree_all")
    page.click("button.primary")
    assert page.url.endswith("/number")
    assert_accessible(page, axe, "business number")

    page.fill("#business_number", CLOSED)
    page.click("button.primary")
    assert "폐업된 것으로 확인되어" in page.inner_text("#lookup-message")
    assert_accessible(page, axe, "closed")
    shot(page, artifacts_dir, "2_closed")

    page.fill("#business_number", "120-82-00275")
    page.click("button.primary")
    assert page.url.endswith("/found")
    record = page.inner_text("#company-record")
    assert "대한무역투자진흥공사" in record and "120-82-00275" in record
    assert page.locator("#certificate-note").count() == 1  # (above the 인증서찾기 widget)
    assert_accessible(page, axe, "directory record")
    shot(page, artifacts_dir, "3_found")

    fid = page.url.split("/")[-2]
    cr = certify(app, page, KOTRA)
    page.goto(f"{site}/company/register/{fid}/form?cr={cr}")
    assert page.url.endswith("/form")  # (the ?cr= is dropped)
    assert page.input_value("#name_en") == "Korea Trade-Investment Promotion Agency"
    assert page.input_value("#address") == "서울 서초구 헌릉로 13"
    assert_accessible(page, axe, "company form")
    shot(page, artifacts_dir, "4_form")

    page.fill("#password", "Company!pass2026")
    page.fill("#password_confirm", "Company!pass2026")
    page.fill("#approval_password", "123456")
    page.fill("#approval_password_confirm", "123456")
    page.click("button.primary")
    assert "추측하기 쉬운" in page.inner_text("#approval_password-error")
    assert page.get_attribute("#approval_password", "aria-invalid") == "true"
    assert_accessible(page, axe, "company form with errors")
    shot(page, artifacts_dir, "5_form_errors")

    page.fill("#password", "Company!pass2026")
    page.fill("#password_confirm", "Company!pass2026")
    page.fill("#approval_password", "482915")
    page.fill("#approval_password_confirm", "482915")
    page.select_option("#company_type", "public")
    page.select_option("#classification", "nonprofit")
    page.select_option("#trade_kind", "other")
    page.fill("#main_product", "기타")
    page.check("#venture-no")
    page.select_option("#export_country", "VN")
    page.click("button.primary")
    assert page.url.endswith("/done")
    assert "기업정보 등록이 완료되었습니다." in page.inner_text("#done-title")
    assert_accessible(page, axe, "done")
    shot(page, artifacts_dir, "6_done")
    with app.app_context():
        company = db.session.scalar(select(Company).where(Company.business_number == KOTRA))
        assert company is not None and company.status == "active"
        assert company.profile["export_country"] == "VN" and company.profile["venture"] is False

    # The same company again: 존재하는 기업회원입니다.
    page.goto(f"{site}/company/register")
    page.check("#agree_all")
    page.click("button.primary")
    page.fill("#business_number", KOTRA)
    page.click("button.primary")
    assert "존재하는 기업회원입니다." in page.inner_text("#lookup-message")
    assert page.locator("#company-login").count() == 1
    assert_accessible(page, axe, "registered")


def test_a_new_company_asks_for_a_general_member_in_english(page: Any, site: str, axe: str,
                                                            artifacts_dir: Path) -> None:
    page.goto(f"{site}/company/register?lang=en")
    page.check("#agree_all")
    page.click("button.primary")
    page.fill("#business_number", UNKNOWN)
    page.click("button.primary")
    assert page.url.endswith("/new")
    assert "you must sign up as a general member" in page.inner_text("#need-member")
    assert page.get_attribute("#member-login", "href").startswith("/my/login?next=/company/")
    assert_accessible(page, axe, "new company, not signed in")
    shot(page, artifacts_dir, "7_new_not_signed_in_en")


def test_a_signed_in_member_applies_for_a_new_company(page: Any, site: str, app: Any,
                                                      axe: str, artifacts_dir: Path,
                                                      tmp_path: Path) -> None:
    from tests.helpers import PASSWORD, add_test_member
    from tests.unit.test_company_uploads import png

    add_test_member(app, "applicant1", name="김신청")
    page.goto(f"{site}/company/register")
    page.check("#agree_all")
    page.click("button.primary")
    page.fill("#business_number", UNKNOWN)
    page.click("button.primary")
    page.click("#member-login")  # MY KOTRA's sign-in, back to this page
    page.fill("#login_id", "applicant1")
    page.fill("#password", PASSWORD)
    page.click("#tab-general button[type=submit]")
    page.wait_for_url("**/terms")  # (the test member has not agreed to the terms yet)
    page.check("#agree_all")
    page.click("button[value=agree]")
    page.wait_for_url("**/company/register/*/new")
    assert page.input_value("#applicant_name") == "김신청"
    assert_accessible(page, axe, "new company form")
    scan = tmp_path / "사업자등록증.txt"
    scan.write_bytes(b"not an image")
    page.set_input_files("#document", str(scan))
    for key, value in (("password", "Company!pass2026"), ("password_confirm",
                       "Company!pass2026"), ("approval_password", "482915"),
                       ("approval_password_confirm", "482915"), ("name", "(주)새기업"),
                       ("name_en", "New Company Co."), ("ceo_name", "김대표"),
                       ("ceo_name_en", "Kim CEO"), ("main_product", "화장품"),
                       ("phone", "02-555-1234"), ("email", "ceo@new.example")):
        page.fill(f"#{key}", value)
    page.select_option("#company_type", "small")
    page.select_option("#classification", "corporation")
    page.select_option("#trade_kind", "trading")
    page.click("button.primary")
    assert "PDF, PNG, JPG" in page.inner_text("#document-error")
    assert_accessible(page, axe, "new company form, wrong file")
    shot(page, artifacts_dir, "8_new_wrong_file")
    scan = tmp_path / "사업자등록증.png"
    scan.write_bytes(png())
    page.set_input_files("#document", str(scan))
    for key, value in (("password", "Company!pass2026"), ("password_confirm",
                       "Company!pass2026"), ("approval_password", "482915"),
                       ("approval_password_confirm", "482915")):
        page.fill(f"#{key}", value)
    page.click("button.primary")
    assert page.url.endswith("/done")
    assert "접수되었습니다" in page.inner_text("#done-title")
    assert_accessible(page, axe, "new company done")
    shot(page, artifacts_dir, "9_new_done")
    with app.app_context():
        company = db.session.scalar(select(Company).where(Company.business_number == UNKNOWN))
        assert company is not None and company.status == "pending"
