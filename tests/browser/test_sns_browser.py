"""Issue 9 in real Chromium: a Kakao sign-up through our terms to the demo site, and a Naver
sign-up then sign-in, against the provider's SNS emulators (the `sns_stack` fixture)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.browser.test_sso_browser import open_provider_login, row

Stack = Any


def _on_site(stack: Stack) -> re.Pattern[str]:
    return re.compile("^" + re.escape(stack.site1) + r"/(\?.*)?$")


def sns_to_vendor(page: Any, stack: Stack, button: str) -> None:
    """From the demo site: 로그인 → the provider's 간편회원 tab → the SNS button."""
    open_provider_login(page, stack.site1, stack)
    page.get_by_role("tab", name="간편회원").click()
    page.wait_for_url(re.compile(r"tab=simple"))
    page.get_by_role("link", name=button).click()
    page.wait_for_url(re.compile(r"/dev/sns/"))


def test_kakao_sign_up_terms_and_sign_in_to_the_demo_site(context: Any, sns_stack: Stack,
                                                         artifacts_dir: Path) -> None:
    stack = sns_stack
    page = context.new_page()
    sns_to_vendor(page, stack, "카카오톡 로그인")
    page.screenshot(path=artifacts_dir / "sns_kakao_emulator.png", full_page=True)
    page.get_by_label("이카카오 (이름·이메일·전화번호 동의)").check()
    page.get_by_role("button", name="동의하고 로그인").click()
    page.wait_for_url(re.compile(r"/sns/[^/]+/terms$"))
    assert page.get_by_text("※ 재동의 기간(3년)동안 미접속시 계정이 삭제됩니다.").is_visible()
    page.screenshot(path=artifacts_dir / "sns_terms.png", full_page=True)
    page.get_by_label("약관 전체 동의").check()
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/done$"))
    assert page.get_by_text("간편 회원가입이 완료되었습니다.").is_visible()
    assert page.get_by_role("button", name="일반회원 전환").is_visible()
    page.screenshot(path=artifacts_dir / "sns_done.png", full_page=True)
    page.get_by_role("button", name="로그인").click()
    page.wait_for_url(_on_site(stack))
    assert page.get_by_text("이카카오님, 환영합니다.").is_visible(), stack.logs()
    assert row(page, "회원 유형") == "간편회원"
    assert "fed" in row(page, "인증 방법 (amr)")
    page.screenshot(path=artifacts_dir / "sns_kakao_signed_in.png", full_page=True)


def test_naver_sign_in_to_the_demo_site(browser: Any, sns_stack: Stack,
                                        artifacts_dir: Path) -> None:
    stack = sns_stack
    custom = {"#custom_id": "nv-browser-1", "#custom_name": "나브라우저",
              "#custom_email": "browser.naver@example.com", "#custom_mobile": "010-4444-5555"}
    for attempt in ("sign-up", "sign-in"):
        ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
        ctx.set_default_timeout(10_000)
        try:
            page = ctx.new_page()
            sns_to_vendor(page, stack, "네이버 로그인")
            page.get_by_label("직접 입력").check()
            for selector, value in custom.items():
                page.locator(selector).fill(value)
            page.get_by_role("button", name="동의하고 로그인").click()
            if attempt == "sign-up":
                page.wait_for_url(re.compile(r"/terms$"))
                page.get_by_label("약관 전체 동의").check()
                page.get_by_role("button", name="가입하기").click()
                page.wait_for_url(re.compile(r"/done$"))
                page.get_by_role("button", name="로그인").click()
            # A known Naver account: straight back to the site, no terms, no form.
            page.wait_for_url(_on_site(stack))
            assert page.get_by_text("나브라우저님, 환영합니다.").is_visible(), stack.logs()
            assert row(page, "회원 유형") == "간편회원"
            assert "fed" in row(page, "인증 방법 (amr)")
            page.screenshot(path=artifacts_dir / f"sns_naver_{attempt}.png", full_page=True)
        finally:
            ctx.close()
