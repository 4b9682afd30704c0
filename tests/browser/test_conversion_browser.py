"""Issue 9 in real Chromium: Kakao sign-up → terms → sign in to the demo site → 일반회원 전환
(실명인증 through the identity-verification emulator's pages, ID and password with 안전도) →
sign in to the demo site with that ID and password, and with Kakao again: the same member.
Screenshots in `artifacts_dir` (conversion_*.png)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.test_sns_browser import sns_to_vendor
from tests.browser.test_sso_browser import open_provider_login, row, sign_in

Stack = Any
LOGIN_ID = "convert2026"
PASSWORD = "Blue!ocean2026x"


def _on_site(stack: Stack) -> re.Pattern[str]:
    return re.compile("^" + re.escape(stack.site1) + r"/(\?.*)?$")


def kakao_at_vendor(page: Any, stack: Stack, kakao_id: str) -> None:
    """The site's 로그인 → 간편회원 → Kakao's emulator: a Kakao user of this test's own."""
    sns_to_vendor(page, stack, "카카오톡 로그인")
    page.get_by_label("직접 입력").check()
    page.locator("#custom_id").fill(kakao_id)
    page.locator("#custom_name").fill("이카카오")
    page.locator("#custom_email").fill(f"{kakao_id}@kakao.example")
    page.locator("#custom_mobile").fill("010-2222-3333")
    page.get_by_role("button", name="동의하고 로그인").click()


def kakao_member_on_the_site(page: Any, stack: Stack, kakao_id: str) -> None:
    """A new Kakao simple member signed in to demo site 1."""
    kakao_at_vendor(page, stack, kakao_id)
    page.wait_for_url(re.compile(r"/sns/[^/]+/terms$"))
    page.get_by_label("약관 전체 동의").check()
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/done$"))
    page.get_by_role("main").get_by_role("button", name="로그인", exact=True).click()
    page.wait_for_url(_on_site(stack))
    assert page.get_by_text("이카카오님, 환영합니다.").is_visible(), stack.logs()
    assert row(page, "회원 유형") == "간편회원"


def convert(page: Any, stack: Stack, artifacts_dir: Path,
            check: Callable[[Any, str], None] = lambda page, state: None, *,
            login_id: str = LOGIN_ID, name: str = "김전환", mobile: str = "01098765432"
            ) -> None:
    """MY KOTRA's 일반회원 전환, from the signed-in simple member's browser."""
    page.goto(stack.issuer + "/my")
    page.get_by_role("main").get_by_role("link", name="일반회원 전환").click()
    page.wait_for_url(re.compile(r"/my/convert$"))
    check(page, "conversion: start")
    page.screenshot(path=artifacts_dir / "conversion_start.png", full_page=True)
    page.get_by_role("main").get_by_role("button", name="일반회원 전환").click()
    page.wait_for_url(re.compile(r"/my/convert/[^/]+/verify$"))
    check(page, "conversion: 실명인증")
    page.screenshot(path=artifacts_dir / "conversion_verify.png", full_page=True)
    # 간편인증 through the emulated vendor: the app, the person, approve in the app.
    page.locator("a.verify-simple").click()
    page.wait_for_url(re.compile(r"/dev/verify/"))
    page.locator("input[name=app][value=pass]").check()
    page.locator("#name").fill(name)
    page.locator("#birthdate").fill("19850301")
    page.locator("#mobile").fill(mobile)
    page.locator("input[name=agree]").check()
    page.locator("button[name=action][value=next]").click()
    page.locator("button[name=action][value=approve]").click()
    page.wait_for_url(re.compile(r"/my/convert/[^/]+/info$"))
    assert page.locator("#signup-name").input_value() == name
    assert page.locator("#email").input_value()  # prefilled with the SNS email
    check(page, "conversion: 회원정보 입력")
    page.locator("#login_id").fill(login_id)
    page.locator("#password").fill("weak")
    page.locator("#confirm").fill("weak")
    page.get_by_role("button", name="전환하기").click()
    page.get_by_role("alert").wait_for()
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    check(page, "conversion: 회원정보 입력, password refused")
    page.locator("#password").fill(PASSWORD)
    page.locator("#confirm").fill(PASSWORD)
    page.locator("#pw-strength").filter(has_text="안전도").wait_for()
    page.screenshot(path=artifacts_dir / "conversion_info.png", full_page=True)
    page.get_by_role("button", name="전환하기").click()
    page.wait_for_url(re.compile(r"/my/convert/[^/]+/done$"))
    assert page.get_by_text("전환이 완료되었습니다.").is_visible()
    check(page, "conversion: 전환완료")
    page.screenshot(path=artifacts_dir / "conversion_done.png", full_page=True)
    page.get_by_role("main").get_by_role("button", name="MY KOTRA", exact=True).click()
    page.wait_for_url(re.compile(r"/my$"))
    assert page.get_by_role("link", name="일반회원 전환").count() == 0


def test_kakao_member_converts_then_signs_in_with_id_and_password(
        browser: Any, sns_stack: Stack, artifacts_dir: Path) -> None:
    stack = sns_stack
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        kakao_member_on_the_site(page, stack, "kakao-conversion-1")
        convert(page, stack, artifacts_dir)
    finally:
        ctx.close()

    # Another browser: the ID and the password at the demo site.
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        open_provider_login(page, stack.site1, stack)
        sign_in(page, stack.site1, LOGIN_ID, PASSWORD)
        assert page.get_by_text("김전환님, 환영합니다.").is_visible(), stack.logs()
        assert row(page, "회원 유형") == "일반회원"
        assert "pwd" in row(page, "인증 방법 (amr)")
        page.screenshot(path=artifacts_dir / "conversion_password_sign_in.png", full_page=True)
    finally:
        ctx.close()

    # And Kakao still signs the same member in (a third browser).
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        kakao_at_vendor(page, stack, "kakao-conversion-1")
        page.wait_for_url(_on_site(stack))
        # The same member: the verified name the conversion gave, now a general member.
        assert page.get_by_text("김전환님, 환영합니다.").is_visible(), stack.logs()
        assert row(page, "회원 유형") == "일반회원"
        assert "fed" in row(page, "인증 방법 (amr)")
        page.screenshot(path=artifacts_dir / "conversion_kakao_again.png", full_page=True)
    finally:
        ctx.close()
