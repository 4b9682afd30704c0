"""Driving the development emulator of the identity-verification vendors' popups
(idp/web/identity_emulator.py, templates/verify/emulator.html) in Chromium: 휴대폰 (carrier,
name, birthdate, gender, phone, the SMS code read from /dev/outbox.json), 간편인증 (the app),
신용카드 (the card). The emulator derives CI and DI from name, birthdate and phone
(idp.adapters.identity_emulator.emulator_ci_di), so the same person is the same account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.browser.test_accessibility import assert_accessible

PERSON = {"name": "홍길동", "birthdate": "19850301", "mobile": "01012345678"}


def last_sms_code(page: Any, issuer: str, mobile: str) -> str:
    """The newest code the emulator sent to `mobile`, from the development outbox."""
    answer = page.request.get(f"{issuer}/dev/outbox.json?to={mobile}")
    assert answer.ok, answer.status
    messages = [m for m in answer.json()["messages"] if m["channel"] == "sms"]
    assert messages, answer.text()
    found = re.search(r"\[(\d{6})\]", messages[0]["body"])
    assert found, messages[0]["body"]
    return found.group(1)


def emulate(page: Any, issuer: str, method: str, person: Mapping[str, str] = PERSON,
            axe: str | None = None, artifacts: Path | None = None,
            prefix: str = "signup") -> None:
    """Fill the emulated vendor popup of `method` (mobile | simple | card) and come back."""
    page.wait_for_url(re.compile(re.escape(issuer) + r"/dev/verify/"))
    if method == "mobile":
        page.locator("input[name=carrier][value=KT]").check()
    elif method == "simple":
        page.locator("input[name=app][value=kakao]").check()
    else:
        page.locator("#card").select_option("shinhan")
        page.locator("#card_number").fill("4111111111111111")
    page.locator("#name").fill(person["name"])
    page.locator("#birthdate").fill(person["birthdate"])
    if method != "simple":
        page.locator("input[name=gender][value=M]").check()
    page.locator("#mobile").fill(person["mobile"])
    page.locator("input[name=agree]").check()
    if axe is not None:
        assert_accessible(page, axe, f"emulator {method} form")
    if artifacts is not None:
        page.screenshot(path=artifacts / f"{prefix}_2a_emulator_{method}.png", full_page=True)
    page.locator("#emulator-form button[type=submit]").click()
    if method == "mobile":
        page.locator("#code").wait_for()
        page.locator("#code").fill(last_sms_code(page, issuer, person["mobile"]))
        if axe is not None:
            assert_accessible(page, axe, "emulator mobile code")
        if artifacts is not None:
            page.screenshot(path=artifacts / f"{prefix}_2b_emulator_code.png", full_page=True)
        page.locator("#emulator-code button[value=verify]").click()
    elif method == "simple":
        page.locator("#emulator-app button[type=submit]").click()
    page.wait_for_url(re.compile(r"^(?!.*/dev/verify/)"))  # back from the popup (anywhere)
