"""아이디 찾기 by mobile in real Chromium: from a relying party's sign-in, the login page's link,
name and mobile, the SMS code read from the development outbox (/dev/outbox.json), the masked
ID and join time, then 로그인 back to the same sign-in, which completes at the site."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from tests.browser.conftest import Stack

DEMO_NAME, DEMO_PHONE = "홍길동", ("010", "1234", "5678")  # demouser1 (idp demo seed)


def outbox_code(stack: Stack, to: str) -> str:
    with urllib.request.urlopen(f"{stack.issuer}/dev/outbox.json?to={to}", timeout=5) as resp:
        messages = json.load(resp)["messages"]
    assert messages, f"no SMS to {to} in the outbox"
    match = re.search(r"\[(\d{6})\]", messages[0]["body"])
    assert match, messages[0]
    return match.group(1)


def test_find_id_by_mobile_then_sign_in(context: Any, stack: Stack, artifacts_dir: Path) -> None:
    page = context.new_page()
    page.goto(stack.site1 + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    login_url = page.url.split("?")[0]

    page.get_by_role("link", name="아이디 찾기").click()
    page.wait_for_url(re.compile(r"/find-id\?ia="))
    page.screenshot(path=str(artifacts_dir / "find-id-1-mobile.png"), full_page=True)
    page.get_by_label("이름").fill(DEMO_NAME)
    page.get_by_label("휴대폰 앞자리").select_option(DEMO_PHONE[0])
    page.get_by_label("휴대폰 가운데 자리").fill(DEMO_PHONE[1])
    page.get_by_label("휴대폰 뒷자리").fill(DEMO_PHONE[2])
    page.get_by_role("button", name="조회").click()
    page.wait_for_url(re.compile(r"/find-id/mobile/"))
    assert page.get_by_role("status").inner_text() == "인증번호를 발송했습니다."
    page.screenshot(path=str(artifacts_dir / "find-id-2-code.png"), full_page=True)

    code = outbox_code(stack, "".join(DEMO_PHONE))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.get_by_label("인증번호").fill(wrong)
    page.get_by_role("button", name="확인").click()
    assert "남은 입력 횟수: 4회" in page.get_by_role("alert").inner_text()
    page.get_by_label("인증번호").fill(code)
    page.get_by_role("button", name="확인").click()
    page.locator(".find-result").first.wait_for()
    ids = page.locator(".login-id").all_inner_texts()
    assert "dem******" in ids  # demouser1, masked as the manual shows
    assert "demouser1" not in page.content()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
                        page.locator(".joined-at").first.inner_text())
    page.screenshot(path=str(artifacts_dir / "find-id-3-result.png"), full_page=True)

    # 로그인 goes back to the same pending sign-in, which then completes at the site
    page.get_by_role("main").get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(login_url)
    page.locator("#login_id").fill("demouser1")
    page.locator("#password").fill(stack.members["demouser1"])
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile("^" + re.escape(stack.site1)))
    assert "demouser1" in page.content() or "홍길동" in page.content()


def test_outbox_page_in_the_browser(context: Any, stack: Stack, artifacts_dir: Path) -> None:
    page = context.new_page()
    page.goto(stack.issuer + "/dev/outbox")
    assert page.get_by_role("heading", name="개발용 발송함").is_visible()
    page.screenshot(path=str(artifacts_dir / "dev-outbox.png"), full_page=True)
