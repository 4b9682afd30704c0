"""The company console in a real browser (issue 7, SPEC §3.5–3.6): an employee signs in at demo
site 1; the manager signs in on the login page's 기업정보 관리 tab with the business number and
the company password, walks through the console (axe-core on every page and state, in Korean
and one in English) and revokes the employee — whose site is signed out over the back channel.
Screenshots in the artifacts folder (IDP_TEST_ARTIFACTS; copies in docs/img when
IDP_DOC_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from tests.browser.conftest import PROJECT, PYTHON, _run
from tests.browser.test_accessibility import assert_accessible, axe_source  # noqa: F401
from tests.browser.test_my_browser import _sign_in, _site_signed_out

Stack = Any
BN, BN_DASHED = "1248100998", "124-81-00998"
COMPANY_PASSWORD = "Console!corp26"
EMPLOYEE, EMPLOYEE_PASSWORD = "consolestaff1", "Staff!member26"


def _shot(page: Any, artifacts_dir: Path, name: str) -> None:
    path = artifacts_dir / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    if os.environ.get("IDP_DOC_SCREENSHOTS") == "1":
        shutil.copy(path, PROJECT / "docs" / "img" / path.name)


def _menu(page: Any, stack: Stack, name: str, path: str) -> None:
    page.get_by_role("link", name=name).click()
    page.wait_for_url(stack.issuer + path)


def test_company_manager_signs_in_on_the_company_tab_and_revokes_an_employee(
        browser: Any, stack: Stack, axe_source: str, artifacts_dir: Path) -> None:  # noqa: F811
    _run([PYTHON, "-m", "tests.browser.company_seed", "seed", BN, COMPANY_PASSWORD, EMPLOYEE,
          EMPLOYEE_PASSWORD], stack.env)
    staff = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    office = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    staff.set_default_timeout(10_000)
    office.set_default_timeout(10_000)
    try:
        # The employee signs in at demo site 1 (affiliated by approval password).
        site = staff.new_page()
        site.goto(stack.site1 + "/")
        site.get_by_role("link", name="로그인", exact=True).click()
        site.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        _sign_in(site, EMPLOYEE, EMPLOYEE_PASSWORD)
        site.wait_for_url(re.compile("^" + re.escape(stack.site1)))
        assert site.get_by_text("환영합니다").count() == 1, stack.logs()
        assert site.get_by_text("(주)콘솔무역").count() >= 1, stack.logs()

        # The manager opens the console: the login page, on the 기업정보 관리 tab.
        page = office.new_page()
        page.goto(stack.issuer + "/company")
        page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        assert page.locator("#tab-company").is_visible()
        assert_accessible(page, axe_source, "login: 기업정보 관리 tab")
        _shot(page, artifacts_dir, "company-login-tab")
        login_url = page.url
        page.locator("#business_number").fill(BN_DASHED)
        page.locator("#company_password").fill("Wrong!pass99")
        page.locator("#company-login").click()
        assert page.get_by_role("alert").inner_text() == (
            "사업자등록번호 또는 비밀번호가 일치하지 않습니다.")
        assert_accessible(page, axe_source, "login: 기업정보 관리 tab, wrong password")
        page.goto(login_url + ("&" if "?" in login_url else "?") + "lang=en")
        assert page.locator("#tab-company").is_visible()
        assert_accessible(page, axe_source, "login: 기업정보 관리 tab, in English")
        page.goto(login_url + ("&" if "?" in login_url else "?") + "lang=ko")
        page.locator("#business_number").fill(BN_DASHED)
        page.locator("#company_password").fill(COMPANY_PASSWORD)
        page.locator("#company-login").click()
        page.wait_for_url(stack.issuer + "/company")

        # MY KOTRA for the company, with the notice on top.
        assert page.get_by_role("heading", name="MY KOTRA 홈").is_visible()
        assert page.get_by_text("승인 비밀번호가 여러 번 틀려").is_visible()
        assert_accessible(page, axe_source, "console: home with a notice")
        _shot(page, artifacts_dir, "company-console-home")
        page.get_by_role("button", name=re.compile("^알림 확인")).click()
        page.locator("#notices-title").wait_for(state="detached")
        assert page.get_by_text("승인 비밀번호가 여러 번 틀려").count() == 0

        _menu(page, stack, "기업 신청 사업 내역", "/company/services")
        assert page.get_by_text("해외 수출상담회").is_visible()
        assert page.get_by_text("한*원").is_visible()
        assert_accessible(page, axe_source, "console: services")
        _menu(page, stack, "마일리지 내역", "/company/mileage")
        assert page.locator("#mileage-balance").inner_text().endswith("7,000")
        assert_accessible(page, axe_source, "console: mileage")
        _shot(page, artifacts_dir, "company-console-mileage")

        # 기업정보 수정 and 승인 비밀번호 변경: locked until the certificate, then open.
        _menu(page, stack, "기업정보 수정", "/company/info")
        assert page.locator("#info-save").is_disabled()
        assert_accessible(page, axe_source, "console: info, before the certificate")
        _menu(page, stack, "승인 비밀번호 변경", "/company/approval-password")
        assert page.locator("#approval-warning").is_visible()
        assert_accessible(page, axe_source, "console: approval password, before the certificate")
        _menu(page, stack, "기업 비밀번호 변경", "/company/password")
        assert_accessible(page, axe_source, "console: company password")
        _run([PYTHON, "-m", "tests.browser.company_seed", "certify", BN], stack.env)
        _menu(page, stack, "기업정보 수정", "/company/info")
        assert page.locator("#certified").is_visible()
        page.locator("#homepage").fill("www.console-trading.example")
        page.locator("#name").fill("(주)콘솔글로벌")
        page.get_by_role("button", name="저장하기").click()
        page.wait_for_url(re.compile(r"/company/info\?saved=1"))
        assert page.locator("#name-requested").is_visible()
        assert page.locator("#name-change-pending").is_visible()
        assert_accessible(page, axe_source, "console: info saved, name change requested")
        _shot(page, artifacts_dir, "company-console-info")
        page.locator("#phone").fill("전화")
        page.get_by_role("button", name="저장하기").click()
        page.get_by_role("alert").wait_for()
        assert_accessible(page, axe_source, "console: info, a refused value")
        _menu(page, stack, "승인 비밀번호 변경", "/company/approval-password")
        page.locator("#approval_password").fill("123456")
        page.locator("#approval_password_confirm").fill("123456")
        page.get_by_role("button", name="변경하기").click()
        page.get_by_role("alert").wait_for()
        assert "쉬운 번호" in page.get_by_role("alert").inner_text()
        assert_accessible(page, axe_source, "console: approval password, a trivial one")
        page.locator("#approval_password").fill("582914")
        page.locator("#approval_password_confirm").fill("582914")
        page.get_by_role("button", name="변경하기").click()
        page.wait_for_url(re.compile(r"/company/approval-password\?done=1"))
        assert page.locator("#approval-done").is_visible()
        assert_accessible(page, axe_source, "console: approval password changed")
        _shot(page, artifacts_dir, "company-console-approval")

        # 소속직원 관리: revoke the employee, after the confirmation.
        _menu(page, stack, "소속직원 관리", "/company/employees")
        assert page.get_by_role("cell", name=EMPLOYEE).is_visible()
        assert_accessible(page, axe_source, "console: employees")
        _shot(page, artifacts_dir, "company-console-employees")
        page.get_by_role("link", name="한직원 소속 해제").click()
        page.locator("#revoke-question").wait_for()
        assert_accessible(page, axe_source, "console: revoke confirmation")
        page.locator("#revoke-confirm").click()
        page.wait_for_url(re.compile(r"/company/employees\?revoked=1"))
        assert page.locator("#revoked").is_visible()
        assert page.locator("#no-employees").is_visible()
        assert_accessible(page, axe_source, "console: employee revoked")
        page.goto(stack.issuer + "/company/employees?lang=en")
        assert page.get_by_role("heading", name="Employees").is_visible()
        assert_accessible(page, axe_source, "console: employees, in English")

        # The employee's site was told over the back channel.
        assert _site_signed_out(site, stack.site1), stack.logs()
    finally:
        staff.close()
        office.close()
