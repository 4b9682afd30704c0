"""An old site's member converts in real Chromium, through the manual's screens (ch. 03), and
ends signed in at demo site 1 (issue 8).

The old accounts come in through `idp legacy import` on the stack's database (as an operator
would load the old export); an optional terms document is published so the terms page has an
item (optional: the other browser tests' members are not asked for it at sign-in).
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path
from typing import Any

import bcrypt

from tests.browser.conftest import IDP, _run

Stack = Any
OLD_PASSWORD = "old-site-pw1"
NEW_PASSWORD = "Unified!pass26"
GENERIC_LOGIN_ERROR = "아이디 또는 비밀번호가 일치하지 않습니다."
COLUMNS = ("legacy_id", "site", "member_type", "name", "email", "mobile", "business_number",
           "company_name", "joined_at", "password_hash", "password_scheme", "password_salt",
           "ci")


def import_person(stack: Stack, tag: str) -> tuple[str, str]:
    """Two old accounts of one person (same name and email): a 개인회원 on 무역투자24 with a
    bcrypt hash, and a 기업회원 MASTER elsewhere with a SHA-256 one. Returns their old IDs."""
    personal, master = f"{tag}old1", f"{tag}corp1"
    rows = [
        {"legacy_id": personal, "site": "무역투자24", "member_type": "personal",
         "name": "윤하림", "email": f"{tag}@example.com", "mobile": "010-1234-5678",
         "joined_at": "2021-04-26", "password_scheme": "bcrypt",
         "password_hash": bcrypt.hashpw(OLD_PASSWORD.encode(), bcrypt.gensalt(4)).decode()},
        {"legacy_id": master, "site": "KOTRA 기업회원", "member_type": "master",
         "name": "윤하림", "email": f"{tag}@example.com", "business_number": "1208200275",
         "company_name": "하림무역(주)", "joined_at": "2019-03-02",
         "password_scheme": "sha256",
         "password_hash": hashlib.sha256(b"another-old-pw").hexdigest()},
    ]
    path = stack.tmp / f"legacy-{tag}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    report = _run([IDP, "legacy", "import", str(path), "--json"], stack.env)
    assert report["rejected"] == 0, report
    publish_optional_terms(stack)
    return personal, master


def publish_optional_terms(stack: Stack) -> None:
    """The marketing consent (optional), once per stack."""
    listed = _run([IDP, "terms", "list", "--json"], stack.env)
    documents = listed if isinstance(listed, list) else listed.get("documents", [])
    if any(d.get("kind") == "marketing" for d in documents):
        return
    body = Path(stack.tmp / "marketing.txt")
    body.write_text("개인정보 마케팅 활용 동의 (선택): 성명, 전화번호, 이메일, 휴대전화",
                    encoding="utf-8")
    _run([IDP, "terms", "publish", "--kind", "marketing", "--version", "1", "--file",
          str(body), "--json"], stack.env)


def start_conversion(page: Any, stack: Stack, login_id: str) -> None:
    """From demo site 1's home, to the provider's 일반회원 tab, the old ID and password."""
    page.goto(stack.site1 + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    page.locator("#login_id").fill(login_id)
    page.locator("#password").fill(OLD_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/legacy/[^/]+$"))


def test_an_old_member_converts_and_signs_in_to_a_demo_site(context: Any, stack: Stack,
                                                           artifacts_dir: Path) -> None:
    personal, master = import_person(stack, "brw")
    page = context.new_page()
    problems: list[str] = []  # script errors and CSP violations (not the 400 of a bad form)
    page.on("console", lambda msg: problems.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    # 1. The old ID and password: every old account of the person, to choose from.
    start_conversion(page, stack, personal)
    assert page.get_by_text("회원님은 아래 홈페이지에 가입이 되어있습니다.").is_visible()
    choices = page.get_by_role("group", name="기존 회원정보 확인 후 선택")
    assert choices.get_by_role("radio").count() == 2
    assert "하림무역(주)" in choices.inner_text() and "MASTER" in choices.inner_text()
    assert "2021-04-26" in choices.inner_text()
    page.screenshot(path=artifacts_dir / "legacy_choose.png", full_page=True)
    choices.get_by_role("radio", name=re.compile(personal)).check()
    page.get_by_role("button", name="아이디 선택 완료").click()
    page.wait_for_url(re.compile(r"/password$"))

    # 2. The new password: the strength and the match are announced as one types.
    page.locator("#password").fill("weak")
    assert page.locator("#pw-strength").inner_text() == "안전도 : 하"
    page.locator("#password").fill(NEW_PASSWORD)
    assert page.locator("#pw-strength").inner_text() == "안전도 : 상"
    page.locator("#confirm").fill(NEW_PASSWORD + "x")
    assert page.locator("#pw-match").inner_text() == "비밀번호가 일치하지 않습니다."
    page.get_by_role("button", name="확인").click()
    alert = page.get_by_role("alert").inner_text()
    assert alert == "비밀번호가 일치하지 않습니다. 다시 입력해 주세요."
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#confirm").fill(NEW_PASSWORD)
    assert page.locator("#pw-match").inner_text() == "비밀번호가 일치합니다."
    page.screenshot(path=artifacts_dir / "legacy_password.png", full_page=True)
    page.get_by_role("button", name="확인").click()
    page.wait_for_url(re.compile(r"/terms$"))

    # 3. The revised terms, then the done page's notice about the company.
    page.get_by_label("약관 전체 동의").check()
    page.get_by_role("button", name="확인").click()
    page.wait_for_url(re.compile(r"/done$"))
    done = "KOTRA 통합 일반회원(기업미소속)으로 가입이 완료되었습니다."
    assert page.get_by_text(done).is_visible()
    assert page.get_by_role("link", name="소속기업 등록").get_attribute("href") == "/my/company"
    page.screenshot(path=artifacts_dir / "legacy_done.png", full_page=True)

    # 4. 확인: signed in at demo site 1 as the general member, keeping the old ID.
    page.get_by_role("button", name="확인").click()
    page.wait_for_url(re.compile("^" + re.escape(stack.site1) + r"/(\?.*)?$"))
    assert page.get_by_text("윤하림님, 환영합니다.").is_visible(), stack.logs()
    cell = page.locator("tr", has=page.locator("th", has_text="회원 유형")).locator("td").first
    assert cell.inner_text() == "일반회원"
    company = page.locator("tr", has=page.locator("th", has_text="소속 기업")).locator("td")
    assert company.first.inner_text() == "없음"  # the company is registered again, later
    assert problems == [], problems

    # The old password is refused from now on, with the message of any wrong password; the
    # new one signs in.
    fresh = context.browser.new_context(locale="ko-KR")
    try:
        other = fresh.new_page()
        other.goto(stack.site2 + "/")
        other.get_by_role("link", name="로그인", exact=True).click()
        other.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        for login_id in (personal, master):  # converted, and merged
            other.locator("#login_id").fill(login_id)
            other.locator("#password").fill(OLD_PASSWORD)
            other.locator("form button[type=submit]").click()
            assert other.get_by_role("alert").inner_text().strip() == GENERIC_LOGIN_ERROR
        other.locator("#login_id").fill(personal)
        other.locator("#password").fill(NEW_PASSWORD)
        other.locator("form button[type=submit]").click()
        other.wait_for_url(re.compile("^" + re.escape(stack.site2) + r"/(\?.*)?$"))
        assert other.get_by_text("윤하림님, 환영합니다.").is_visible()
    finally:
        fresh.close()
