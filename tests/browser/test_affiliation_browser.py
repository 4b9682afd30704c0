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
