"""소속기업 관리 in a real browser (issue 7): a member joins the demo company from MY KOTRA by
its approval password (search → the record → the 6 digits), leaves it again; another member
types wrong approval passwords until the lock and sees its message. axe-core checks every page
and state; screenshots go to the artifacts folder (affiliation_*.png; docs/img)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from idp.demo import DEMO_APPROVAL_PASSWORD, DEMO_COMPANY
from tests.browser.conftest import IDP, _run
from tests.browser.test_accessibility import AXE_JS, assert_accessible
from tests.conftest import require_service

Stack = Any
PASSWORD = "Affiliate!2026a"
NUMBER = DEMO_COMPANY[0]


@pytest.fixture(scope="module")
def axe() -> str:
    if not AXE_JS.exists():
        require_service("axe-core", False, "run `npm ci --prefix tests/browser/axe` (needs npm)")
    return AXE_JS.read_text(encoding="utf-8")


def _member(stack: Stack, login_id: str) -> None:
    _run([IDP, "members", "add", "--login-id", login_id, "--name", "소속점검",
          "--email", f"{login_id}@example.com", "--password-stdin", "--json"],
         stack.env, PASSWORD)


def _open_my_company(page: Any, stack: Stack, login_id: str) -> None:
    page.goto(stack.issuer + "/my/company")
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    page.locator("#login_id").fill(login_id)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/my/company$"))


def _search(page: Any, number: str) -> None:
    page.get_by_label("사업자등록번호").fill(number)
    page.get_by_role("button", name="검색").click()
    page.wait_for_url(re.compile(r"/my/company\?business_number="))


def shot(page: Any, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=artifacts_dir / f"affiliation_{name}.png", full_page=True)


def test_join_by_approval_password_then_leave(context: Any, stack: Stack, axe: str,
                                              artifacts_dir: Path) -> None:
    _member(stack, "affil0001")
    page = context.new_page()
    _open_my_company(page, stack, "affil0001")
    assert page.get_by_role("heading", name="소속기업 관리").is_visible()
    assert_accessible(page, axe, "소속기업 관리: not affiliated")
    shot(page, artifacts_dir, "search")

    _search(page, "663-85-01035")
    record = page.locator("#company-record")
    assert "(주)한국이디에스" in record.inner_text() and "663-85-01035" in record.inner_text()
    assert_accessible(page, axe, "소속기업 관리: the record")
    shot(page, artifacts_dir, "record")

    page.get_by_label("승인비밀번호").fill(DEMO_APPROVAL_PASSWORD)
    page.get_by_role("button", name="비밀번호 확인").click()
    page.wait_for_url(re.compile(r"/my/company\?done=joined"))
    assert page.get_by_role("status").inner_text() == "소속기업이 등록되었습니다."
    current = page.locator("#current-company").inner_text()
    assert "(주)한국이디에스" in current and "승인 비밀번호" in current
    assert_accessible(page, axe, "소속기업 관리: affiliated")
    shot(page, artifacts_dir, "joined")

    page.get_by_role("link", name="소속 해제").click()
    page.wait_for_url(re.compile(r"/my/company/leave$"))
    assert_accessible(page, axe, "소속 해제: confirmation")
    shot(page, artifacts_dir, "leave")
    page.get_by_label("안내 사항을 확인하였으며, 소속 해제에 동의합니다.").check()
    page.get_by_role("button", name="소속 해제").click()
    page.wait_for_url(re.compile(r"/my/company\?done=left"))
    assert page.get_by_role("status").inner_text() == "소속기업 등록이 해제되었습니다."
    assert page.locator("#current-company").count() == 0


def test_wrong_approval_passwords_lock_with_a_message(context: Any, stack: Stack, axe: str,
                                                      artifacts_dir: Path) -> None:
    _member(stack, "affil0002")
    page = context.new_page()
    _open_my_company(page, stack, "affil0002")
    _search(page, NUMBER)
    for i in range(4):
        page.get_by_label("승인비밀번호").fill(f"90817{i}")
        page.get_by_role("button", name="비밀번호 확인").click()
        alert = page.get_by_role("alert")
        assert "승인 비밀번호가 일치하지 않습니다." in alert.inner_text()
        assert f"남은 입력 횟수 {4 - i}회" in alert.inner_text()
    assert page.get_by_label("승인비밀번호").get_attribute("aria-invalid") == "true"
    assert_accessible(page, axe, "소속기업 관리: wrong approval password")
    shot(page, artifacts_dir, "wrong")
    page.get_by_label("승인비밀번호").fill("908179")
    page.get_by_role("button", name="비밀번호 확인").click()
    alert = page.get_by_role("alert")
    assert "승인 비밀번호를 여러 번 잘못 입력하셨습니다." in alert.inner_text()
    assert page.get_by_label("승인비밀번호").count() == 0  # no field while locked
    assert_accessible(page, axe, "소속기업 관리: locked")
    shot(page, artifacts_dir, "locked")
    # Searching again still shows the lock, not the field.
    _search(page, NUMBER)
    assert "승인 비밀번호를 여러 번 잘못 입력하셨습니다." in page.locator(
        "#approval-locked").inner_text()


@pytest.fixture(scope="module")
def mileage_site(stack: Stack) -> dict[str, str]:
    """A relying party that asks for the certificate level (it never gets a code here)."""
    redirect_uri = "http://127.0.0.1:9/cb"
    registered = _run([IDP, "clients", "add", "--name", "마일리지 사이트", "--redirect-uri",
                       redirect_uri, "--grant-type", "authorization_code", "--first-party",
                       "--json"], stack.env)
    return {"client_id": registered["client_id"], "redirect_uri": redirect_uri}


def test_step_up_to_certificate_level_pages(browser: Any, stack: Stack, axe: str,
                                            mileage_site: dict[str, str],
                                            artifacts_dir: Path) -> None:
    from tests.browser.test_accessibility import _authorize_url

    for login_id, state in (("democert1", "ready"), ("demoapprove1", "approval_password")):
        ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
        try:
            page = ctx.new_page()
            page.goto(_authorize_url(stack, mileage_site["client_id"],
                                     mileage_site["redirect_uri"],
                                     acr_values="urn:kotra:acr:certificate"))
            page.wait_for_url(re.compile(r"/interaction/"))
            assert page.locator("#member-certificate").is_visible()
            if state == "ready":
                assert_accessible(page, axe, "login page: certificate level needed")
                shot(page, artifacts_dir, "stepup_identify")
            page.locator("#login_id").fill(login_id)
            page.locator("#password").fill(stack.members[login_id])
            if state != "ready":  # the site itself is not running here: answer for it
                page.route(re.compile(re.escape(mileage_site["redirect_uri"]) + ".*"),
                           lambda route: route.fulfill(body="site"))
            page.locator("form button[type=submit]").click()
            if state != "ready":
                # No login method this member could use reaches the class: the voluntary
                # acr_values is not met and the request goes on to the site at once (no
                # login page to loop on); the ID token's acr says password.
                page.wait_for_url(re.compile(re.escape(mileage_site["redirect_uri"])))
                assert "code=" in page.url
                continue
            page.wait_for_url(re.compile(r"/interaction/[^/?]+(\?.*)?$"))
            page.locator("#member-certificate").wait_for()
            assert_accessible(page, axe, f"login page: step-up, {state}")
            shot(page, artifacts_dir, f"stepup_{state}")
            page.get_by_role("link", name="인증서 로그인").click()
            page.wait_for_url(re.compile(r"/certificate$"))
            assert "663-85-01035" in page.content()
            assert_accessible(page, axe, "인증서 로그인 page")
            shot(page, artifacts_dir, "stepup_certificate")
        finally:
            ctx.close()


# -- the sign-up's 소속기업 tab, in-process provider (tests/browser/test_signup_browser.py) --------

from tests.browser.test_signup_browser import (  # noqa: E402 (fixtures and helpers)
    fill_basic,
    page,
    provider,
    walk_to_info,
)

__all__ = ["page", "provider"]


def test_signup_company_tab_by_approval_password(page: Any, provider: Any, app: Any, axe: str,
                                                 artifacts_dir: Path) -> None:
    from idp.extensions import db
    from idp.models import Company, CompanyDirectoryEntry

    issuer, _ = provider
    with app.app_context():
        p = app.extensions["idp"]
        db.session.add(Company(business_number="1208200275", name="대한무역투자진흥공사",
                               ceo_name="유정열", approval_password_hash=p.passwords.hash(
                                   "347369")))
        db.session.add(CompanyDirectoryEntry(
            business_number="1208200275", name_ko="대한무역투자진흥공사", ceo_ko="유정열",
            name_en="KOTRA", address_ko="서울 서초구 헌릉로 13",
            address_en="13 Heolleung-ro, Seocho-gu, Seoul", phone="02-3460-7114",
            fax="02-3460-7777"))
        db.session.commit()
    page.goto(issuer + "/signup")
    walk_to_info(page, axe, artifacts_dir)
    fill_basic(page, "affilsign1")
    for tab in ("optional", "interests", "company"):
        page.get_by_role("button", name="다음").click()
        page.wait_for_url(re.compile(rf"tab={tab}"))
    page.get_by_label("사업자등록번호").fill("120-82-00275")
    page.get_by_role("button", name="검색").click()
    page.locator("#company-record").wait_for()
    assert "서울 서초구 헌릉로 13" in page.locator("#company-record").inner_text()
    assert_accessible(page, axe, "sign-up 소속기업 tab: the record")
    shot(page, artifacts_dir, "signup_record")
    page.get_by_label("승인비밀번호").fill("123450")
    page.get_by_role("button", name="비밀번호 확인").click()
    assert "승인 비밀번호가 일치하지 않습니다." in page.get_by_role("alert").inner_text()
    assert_accessible(page, axe, "sign-up 소속기업 tab: wrong approval password")
    page.get_by_label("승인비밀번호").fill("347369")
    page.get_by_role("button", name="비밀번호 확인").click()
    page.locator("#company-verified").wait_for()
    assert "대한무역투자진흥공사" in page.locator("#company-verified").inner_text()
    assert_accessible(page, axe, "sign-up 소속기업 tab: verified")
    shot(page, artifacts_dir, "signup_verified")
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/signup/[^/]+/done"))
    assert page.get_by_text("KOTRA 통합 일반회원(기업소속)으로 가입이 완료되었습니다.").is_visible()
    assert page.locator("#signup-company").inner_text() == "대한무역투자진흥공사"
    assert_accessible(page, axe, "sign-up done with the company")
    shot(page, artifacts_dir, "signup_done")
