"""간편인증 login in real Chromium through the emulated vendor popup: demo site 1 → the
provider's login page → 간편인증 로그인 → the emulator (app, name, birthdate, phone → approve in
the app) → back on site 1 signed in as the demo member, with acr/amr of identity
verification; and the 휴대폰 popup with its SMS code, read from the development outbox table.
Screenshots in `artifacts_dir`."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from tests.browser.test_sso_browser import open_provider_login, row

Stack = Any


def fill_person(page: Any, *, name: str = "홍길동", birthdate: str = "19850301",
                mobile: str = "01012345678") -> None:
    page.locator("#name").fill(name)
    page.locator("#birthdate").fill(birthdate)
    page.locator("#mobile").fill(mobile)
    page.get_by_label(re.compile("본인확인 서비스 이용약관")).check()


def last_sms_code(stack: Stack) -> str:
    db = stack.env["IDP_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        body = conn.execute("SELECT body FROM dev_messages WHERE channel = 'sms' "
                            "ORDER BY id DESC LIMIT 1").fetchone()[0]
    match = re.search(r"\[(\d{6})\]", body)
    assert match, body
    return match.group(1)


def test_identity_login_through_the_emulated_app(context: Any, stack: Stack,
                                                 artifacts_dir: Path) -> None:
    page = context.new_page()
    open_provider_login(page, stack.site1, stack)
    page.get_by_role("link", name="간편인증 로그인").click()
    page.wait_for_url(re.compile(re.escape(stack.issuer) + r"/dev/verify/"))
    assert page.get_by_role("heading", name="간편인증").is_visible()
    page.get_by_label("카카오톡").check()
    fill_person(page)
    page.screenshot(path=artifacts_dir / "idv_simple_form.png", full_page=True)
    page.get_by_role("button", name="인증 요청").click()
    assert page.get_by_role("timer").is_visible()
    page.screenshot(path=artifacts_dir / "idv_simple_app.png", full_page=True)
    page.get_by_role("button", name="인증 완료").click()
    page.wait_for_url(re.compile("^" + re.escape(stack.site1) + r"/(\?.*)?$"))
    assert page.get_by_text("홍길동님, 환영합니다.").is_visible(), stack.logs()
    assert "mca" in row(page, "인증 방법 (amr)")
    page.screenshot(path=artifacts_dir / "idv_signed_in.png", full_page=True)


def test_identity_login_of_a_stranger_says_so(context: Any, stack: Stack,
                                              artifacts_dir: Path) -> None:
    page = context.new_page()
    open_provider_login(page, stack.site1, stack)
    page.get_by_role("link", name="간편인증 로그인").click()
    page.get_by_label("네이버").check()
    fill_person(page, name="나모름", mobile="01055556666")
    page.get_by_role("button", name="인증 요청").click()
    page.get_by_role("button", name="인증 완료").click()
    page.wait_for_url(re.compile(r"/identity-login/done"))
    assert page.get_by_role("alert").inner_text().startswith("본인확인 정보와 일치하는 회원")
    assert page.get_by_role("link", name="회원가입").is_visible()
    assert page.get_by_role("link", name="아이디 찾기").is_visible()
    page.screenshot(path=artifacts_dir / "idv_no_member.png", full_page=True)


def test_mobile_popup_sms_code_wrong_then_right(context: Any, stack: Stack,
                                                artifacts_dir: Path) -> None:
    page = context.new_page()
    page.goto(f"{stack.issuer}/verify/start?method=mobile&purpose=signup&next=/")
    page.wait_for_url(re.compile(r"/dev/verify/"))
    page.get_by_label("KT", exact=True).check()
    page.get_by_label("남자").check()
    fill_person(page)
    page.get_by_role("button", name="인증번호 요청").click()
    assert page.get_by_role("timer").is_visible()
    code = last_sms_code(stack)
    page.locator("#code").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="확인").click()
    assert "(1/5회 오류)" in page.get_by_role("alert").inner_text()
    page.screenshot(path=artifacts_dir / "idv_mobile_wrong_code.png", full_page=True)
    page.locator("#code").fill(code)
    page.get_by_role("button", name="확인").click()
    page.wait_for_url(re.compile(re.escape(stack.issuer) + r"/\?vr="))
