"""MY KOTRA in a real browser (issue 6): sign in at a demo site on one device, open /my on
another, change the password there — the first device's site is signed out over the back
channel — then withdraw. Screenshots in the artifacts folder (IDP_TEST_ARTIFACTS)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.browser.conftest import IDP, _run

Stack = Any
LOGIN_ID, PASSWORD, NEW_PASSWORD = "mykotra01", "Mykotra!2026a", "Changed!pass77"


def _sign_in(page: Any, login_id: str, password: str) -> None:
    page.locator("#login_id").fill(login_id)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").click()


def _site_signed_out(page: Any, site: str, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    page.goto(site + "/")
    while (not page.get_by_role("link", name="로그인", exact=True).is_visible()
           and time.monotonic() < deadline):
        page.wait_for_timeout(100)
        page.goto(site + "/")
    return bool(page.get_by_role("link", name="로그인", exact=True).is_visible())


def test_my_kotra_password_change_signs_out_the_other_device_then_withdraw(
        browser: Any, stack: Stack, artifacts_dir: Path) -> None:
    _run([IDP, "members", "add", "--login-id", LOGIN_ID, "--name", "마이코트라",
          "--email", f"{LOGIN_ID}@example.com", "--password-stdin", "--json"],
         stack.env, PASSWORD)
    laptop = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    desktop = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900},
                                  user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
                                  "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
                                  "Safari/537.36")
    try:
        # Device 1 signs in at demo site 1.
        site = laptop.new_page()
        site.goto(stack.site1 + "/")
        site.get_by_role("link", name="로그인", exact=True).click()
        site.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        _sign_in(site, LOGIN_ID, PASSWORD)
        site.wait_for_url(re.compile("^" + re.escape(stack.site1)))
        assert site.get_by_text("환영합니다").count() == 1, stack.logs()

        # Device 2 opens MY KOTRA: the provider's login page (MY KOTRA is its own client).
        page = desktop.new_page()
        page.goto(stack.issuer + "/my")
        page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        _sign_in(page, LOGIN_ID, PASSWORD)
        page.wait_for_url(stack.issuer + "/my")
        assert page.get_by_role("heading", name="MY KOTRA 홈").is_visible()
        header = page.get_by_role("navigation", name="회원 메뉴")
        assert header.get_by_role("link", name="myKOTRA").is_visible()
        assert header.get_by_role("link", name="로그아웃").is_visible()
        page.screenshot(path=artifacts_dir / "my_home.png", full_page=True)
        page.get_by_role("link", name="회원정보 수정").click()
        assert page.locator("#email").input_value() == f"{LOGIN_ID}@example.com"
        # 관심정보: the interests picker, saved with the profile and shown again.
        page.locator("#interest_hs_q").fill("초콜릿")
        page.locator("#interest_hs_list [role=option]").first.wait_for()
        page.locator("#interest_hs_list [role=option]", has_text="1806").first.click()
        page.locator("#interest_country_q").fill("미국")
        page.locator("#interest_country_list [role=option]").first.wait_for()
        page.locator("#interest_country_list [role=option]").first.click()
        page.get_by_role("button", name="저장하기").click()
        page.wait_for_url(re.compile(r"/my/profile\?saved=1"))
        chips = page.locator("[data-chips] li")
        assert [chips.nth(i).get_attribute("data-code") for i in range(chips.count())] == [
            "1806", "US"]
        page.screenshot(path=artifacts_dir / "my_profile.png", full_page=True)
        page.get_by_role("link", name="동의 관리").click()
        page.get_by_role("button", name="문자(SMS) 수신 동의").click()
        assert page.get_by_role("status").is_visible()
        page.goto(stack.issuer + "/my/consents?lang=en")
        assert page.get_by_role("heading", name="Consents").is_visible()
        page.screenshot(path=artifacts_dir / "my_consents_en.png", full_page=True)
        page.goto(stack.issuer + "/my?lang=ko")

        # Two signed-in devices, this one marked.
        page.get_by_role("link", name="로그인 기기 관리").click()
        rows = page.locator("tbody tr")
        assert rows.count() == 2
        assert page.get_by_text("현재 기기").is_visible()
        assert page.get_by_text("Chrome · Windows").is_visible()
        page.screenshot(path=artifacts_dir / "my_sessions.png", full_page=True)

        # Change the password, with the 안전도 meter.
        page.get_by_role("link", name="비밀번호 변경").click()
        page.locator("#current").fill(PASSWORD)
        page.locator("#new_password").fill(NEW_PASSWORD)
        assert "안전도" in page.locator("#pw-strength").inner_text()
        page.locator("#confirm").fill(NEW_PASSWORD)
        assert page.locator("#pw-match").inner_text() == "비밀번호가 일치합니다."
        page.screenshot(path=artifacts_dir / "my_password_form.png", full_page=True)
        page.get_by_role("button", name="저장하기").click()
        page.wait_for_url(re.compile(r"/my/password\?done="))
        assert page.get_by_text("비밀번호가 변경되었습니다.").is_visible()
        page.screenshot(path=artifacts_dir / "my_password_changed.png", full_page=True)

        # Device 1's site was told over the back channel; device 2 is still signed in.
        assert _site_signed_out(site, stack.site1), stack.logs()
        site.screenshot(path=artifacts_dir / "my_other_device_signed_out.png", full_page=True)
        page.goto(stack.issuer + "/my/sessions")
        assert page.locator("tbody tr").count() == 1

        # Withdraw: a wrong password first, then the right one.
        page.get_by_role("link", name="회원탈퇴").click()
        page.locator("#password").fill(PASSWORD)  # the old one
        page.locator("#confirm").check()
        page.get_by_role("button", name="회원탈퇴").click()
        assert page.get_by_text("비밀번호가 일치하지 않습니다.").is_visible()
        page.locator("#password").fill(NEW_PASSWORD)
        page.locator("#confirm").check()
        page.screenshot(path=artifacts_dir / "my_withdraw.png", full_page=True)
        page.get_by_role("button", name="회원탈퇴").click()
        assert page.get_by_role("heading", name="회원탈퇴가 완료되었습니다").is_visible()
        page.screenshot(path=artifacts_dir / "my_withdrawn.png", full_page=True)

        # Never again: /my asks for a login, and the old ID does not sign in.
        page.goto(stack.issuer + "/my")
        page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        _sign_in(page, LOGIN_ID, NEW_PASSWORD)
        assert page.get_by_text("아이디 또는 비밀번호가 일치하지 않습니다.").is_visible()
    finally:
        laptop.close()
        desktop.close()
