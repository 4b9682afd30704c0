"""Accessibility: every page and state of the provider passes axe-core's WCAG 2.1 AA rules.

A public agency's pages must meet KWCAG 2.2 (WCAG 2.1 AA). axe-core (npm, installed into
tests/browser/axe by `.ci/run` and by `make test` when npm is present) runs inside the real
page in Chromium; any violation fails the test with its rule, impact and the offending nodes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import IDP, _run, _start, _stop, _wait_http
from tests.browser.conftest import Stack as RunningStack
from tests.conftest import free_port, require_service

Stack = Any
AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# The rule sets of WCAG 2.0/2.1 at levels A and AA (what KWCAG 2.2 asks).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_JS.exists():
        require_service("axe-core", False,
                        "run `npm ci --prefix tests/browser/axe` (needs npm)")
    return AXE_JS.read_text(encoding="utf-8")


def assert_accessible(page: Any, axe_source: str, state: str) -> None:
    """Run axe-core in the page (through the DevTools protocol: the page's CSP allows no
    inline script, and none is needed) and fail on any WCAG A/AA violation."""
    page.evaluate(axe_source)
    result = page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', "
        "values: tags}}); return r.violations.map(v => ({id: v.id, impact: v.impact, "
        "help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 5)})); }",
        WCAG_TAGS,
    )
    details = json.dumps(result, ensure_ascii=False, indent=1)
    assert result == [], f"{state} ({page.url}):\n{details}"


def _authorize_url(stack: Stack, client_id: str, redirect_uri: str, **extra: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid profile email", "state": secrets.token_urlsafe(8),
              "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
              "code_challenge_method": "S256", **extra}
    return f"{stack.issuer}/authorize?{urlencode(params)}"


@pytest.fixture(scope="module")
def third_party(stack: Stack) -> dict[str, str]:
    """A relying party that is not KOTRA's own: its users see the consent page."""
    redirect_uri = "http://127.0.0.1:9/cb"  # never reached: the test stops at consent
    registered = _run([IDP, "clients", "add", "--name", "외부 협력 사이트", "--redirect-uri",
                       redirect_uri, "--grant-type", "authorization_code", "--json"],
                      stack.env)
    return {"client_id": registered["client_id"], "redirect_uri": redirect_uri}


def _sign_in(page: Any, login_id: str, password: str) -> None:
    page.locator("#login_id").fill(login_id)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").click()


def test_login_page_every_tab_language_and_error(context: Any, stack: Stack,
                                                 axe_source: str) -> None:
    page = context.new_page()
    page.goto(stack.site1 + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    login_url = page.url.split("?")[0]
    assert_accessible(page, axe_source, "login page, 일반회원 tab")
    for tab in ("simple", "company"):
        page.goto(f"{login_url}?tab={tab}")
        assert_accessible(page, axe_source, f"login page, {tab} tab")
    page.goto(f"{login_url}?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page, axe_source, "login page in English")
    page.goto(f"{login_url}?lang=ko")
    _sign_in(page, "nosuchuser77", "Wrong!pass123")
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, "login page with the error message")


def test_consent_logout_and_home_pages(context: Any, stack: Stack, axe_source: str,
                                       third_party: dict[str, str]) -> None:
    page = context.new_page()
    page.goto(stack.issuer + "/")
    assert_accessible(page, axe_source, "home, signed out")

    page.goto(_authorize_url(stack, third_party["client_id"], third_party["redirect_uri"]))
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    _sign_in(page, "demouser1", stack.members["demouser1"])
    page.wait_for_url(re.compile(r"/consent"))
    assert_accessible(page, axe_source, "consent page")

    page.goto(stack.issuer + "/")
    assert_accessible(page, axe_source, "home, signed in")

    page.goto(stack.issuer + "/logout")  # no id_token_hint: the user is asked to confirm
    assert page.get_by_role("button", name="로그아웃").is_visible()
    assert_accessible(page, axe_source, "logout confirmation")
    page.get_by_role("button", name="로그아웃").click()
    page.wait_for_load_state()
    assert_accessible(page, axe_source, "logged out")


@pytest.mark.parametrize("path", [
    "/authorize?client_id=unknown-client&response_type=code",  # error page, no redirect
    "/interaction/expired-or-unknown",                         # interaction expired
    "/no-such-page",                                           # 404
])
def test_error_pages(context: Any, stack: Stack, axe_source: str, path: str) -> None:
    page = context.new_page()
    page.goto(stack.issuer + path)
    assert_accessible(page, axe_source, f"error page {path}")


TERMS_LOGIN_ID = "termsuser1"
TERMS_PASSWORD = "Terms!user2026"


@pytest.fixture(scope="module")
def terms_stack(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A provider of its own with the demo terms published and a member who has agreed to
    none of them (the main stack publishes none: its members would all be asked)."""
    tmp = tmp_path_factory.mktemp("terms")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**stack.env, "IDP_DATABASE_URL": f"sqlite:///{tmp / 'terms.sqlite3'}",
           "IDP_ISSUER": issuer}
    own = RunningStack(issuer=issuer, site1="", site2="", tmp=tmp, env=env)
    _run([IDP, "db", "upgrade", "--json"], env)
    seeded = _run([IDP, "demo", "seed", "--clients-file", str(tmp / "clients.json"), "--json"],
                  env)
    assert seeded["terms_published"] == ["service", "privacy", "marketing", "privacy_optional"]
    _run([IDP, "members", "add", "--login-id", TERMS_LOGIN_ID, "--name", "약관확인",
          "--password-stdin", "--json"], env, TERMS_PASSWORD)
    site = json.loads((tmp / "clients.json").read_text(encoding="utf-8"))["site1"]
    try:
        proc = _start(own, "idp-terms", [IDP, "serve", "--bind", f"127.0.0.1:{port}",
                                         "--workers", "1"], env)
        _wait_http(f"{issuer}/healthz", proc, own)
        yield own, site
    finally:
        _stop(own)


def test_terms_step_page_toggle_error_and_english(context: Any, terms_stack: Any,
                                                  axe_source: str, artifacts_dir: Path) -> None:
    own, site = terms_stack
    page = context.new_page()
    page.goto(_authorize_url(own, site["client_id"], site["redirect_uri"]))
    page.wait_for_url(re.compile(r"/interaction/"))
    _sign_in(page, TERMS_LOGIN_ID, TERMS_PASSWORD)
    page.wait_for_url(re.compile(r"/terms$"))
    terms_url = page.url
    assert_accessible(page, axe_source, "terms step")
    # the document text opens in place, and stays accessible
    page.locator("summary").first.click()
    assert page.get_by_role("region", name="이용약관 전문").is_visible()
    assert_accessible(page, axe_source, "terms step, a document opened")
    page.screenshot(path=str(artifacts_dir / "terms-step.png"), full_page=True)
    # the all-agree toggle (static/terms.js under script-src 'self') ticks every item
    items = page.locator("[data-terms-item]")
    page.get_by_label("약관 전체 동의").check()
    assert all(items.nth(i).is_checked() for i in range(items.count()))
    page.locator("#agree_privacy").uncheck()
    assert not page.get_by_label("약관 전체 동의").is_checked()
    page.get_by_role("button", name="동의하고 계속").click()
    page.get_by_role("alert").wait_for()
    assert page.locator("#agree_privacy").get_attribute("aria-invalid") == "true"
    assert_accessible(page, axe_source, "terms step with a required item declined")
    page.goto(terms_url + "?lang=en")
    assert_accessible(page, axe_source, "terms step in English")
    page.goto(terms_url + "?lang=ko")
    page.get_by_label("약관 전체 동의").check()
    with page.expect_request(re.compile(re.escape(site["redirect_uri"]) + r"\?code=")):
        page.get_by_role("button", name="동의하고 계속").click()


def test_legacy_conversion_pages(context: Any, stack: Stack, axe_source: str) -> None:
    """Issue 8: the old member's screens (choose, new password, terms, done), in Korean and
    English, with their error states."""
    from tests.browser.test_legacy_browser import NEW_PASSWORD, import_person, start_conversion

    _personal, master = import_person(stack, "a11y")
    page = context.new_page()
    start_conversion(page, stack, _personal)
    choose_url = page.url
    assert_accessible(page, axe_source, "legacy conversion: choose the old account")
    page.goto(choose_url + "?lang=en")
    assert_accessible(page, axe_source, "legacy conversion: choose, in English")
    page.goto(choose_url + "?lang=ko")
    page.get_by_role("radio", name=re.compile(master)).check()
    page.get_by_role("button", name="아이디 선택 완료").click()
    page.wait_for_url(re.compile(r"/password$"))
    assert_accessible(page, axe_source, "legacy conversion: new password")
    page.locator("#password").fill("short")
    page.locator("#confirm").fill("short")
    page.get_by_role("button", name="확인").click()
    page.get_by_role("alert").wait_for()
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    assert_accessible(page, axe_source, "legacy conversion: password refused by the policy")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "legacy conversion: new password, in English")
    page.goto(page.url.split("?")[0] + "?lang=ko")
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#confirm").fill(NEW_PASSWORD)
    page.get_by_role("button", name="확인").click()
    page.wait_for_url(re.compile(r"/terms$"))
    assert_accessible(page, axe_source, "legacy conversion: terms")
    page.get_by_role("button", name="확인").click()  # the optional item may stay unticked
    page.wait_for_url(re.compile(r"/done$"))
    assert page.locator("#former-master").is_visible()
    assert_accessible(page, axe_source, "legacy conversion: done, a former MASTER")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "legacy conversion: done, in English")


def test_find_id_pages_and_the_outbox(context: Any, stack: Stack, axe_source: str) -> None:
    """Issue 6: 아이디 찾기 (the three ways, errors, the code page, a wrong code, the answer
    for a number no member has, the email answer), in Korean and English, and /dev/outbox."""
    from tests.browser.test_find_id_browser import outbox_code

    page = context.new_page()
    for way in ("mobile", "simple", "email"):
        page.goto(f"{stack.issuer}/find-id?way={way}")
        assert_accessible(page, axe_source, f"find ID, {way}")
        page.goto(f"{stack.issuer}/find-id?way={way}&lang=en")
        assert_accessible(page, axe_source, f"find ID, {way}, in English")
    page.goto(f"{stack.issuer}/find-id?lang=ko")
    page.get_by_label("이름").fill("접근성")
    page.get_by_label("휴대폰 가운데 자리").fill("12")  # too short: the server says so
    page.get_by_label("휴대폰 뒷자리").fill("3456")
    page.locator("#phone2").evaluate("e => e.removeAttribute('pattern')")
    page.get_by_role("button", name="조회").click()
    page.get_by_role("alert").wait_for()
    assert page.locator("#phone2").get_attribute("aria-invalid") == "true"
    assert_accessible(page, axe_source, "find ID, a wrong mobile number")
    page.get_by_label("휴대폰 가운데 자리").fill("5555")
    page.get_by_label("휴대폰 뒷자리").fill("0101")
    page.get_by_role("button", name="조회").click()
    page.wait_for_url(re.compile(r"/find-id/mobile/"))
    assert_accessible(page, axe_source, "find ID, the code page")
    code = outbox_code(stack, "01055550101")
    page.get_by_label("인증번호").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="확인").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, "find ID, a wrong code")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "find ID, the code page in English")
    page.goto(page.url.split("?")[0] + "?lang=ko")
    page.get_by_label("인증번호").fill(code)
    page.get_by_role("button", name="확인").click()
    page.locator("#not-found").wait_for()
    assert_accessible(page, axe_source, "find ID, no ID for that name and number")
    page.goto(f"{stack.issuer}/find-id?way=email")
    page.get_by_label("이름").fill("접근성")
    page.get_by_label("이메일").fill("a11y@example.com")
    page.get_by_role("button", name="조회").click()
    page.locator("#email-sent").wait_for()
    assert_accessible(page, axe_source, "find ID, the email answer")
    page.goto(f"{stack.issuer}/dev/outbox")
    assert_accessible(page, axe_source, "development outbox")
def test_my_kotra_pages(browser: Any, stack: Stack, axe_source: str) -> None:
    """MY KOTRA (issue 6): every page, its refusals and the English version."""
    login_id, password = "mya11y001", "Mya11y!pass2026"
    _run([IDP, "members", "add", "--login-id", login_id, "--name", "접근성점검",
          "--email", f"{login_id}@example.com", "--password-stdin", "--json"],
         stack.env, password)
    context = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    other = browser.new_context(locale="ko-KR")
    try:
        # A second device, so that the sessions page lists one to sign out.
        second = other.new_page()
        second.goto(stack.issuer + "/my")
        _sign_in(second, login_id, password)
        second.wait_for_url(stack.issuer + "/my")
        page = context.new_page()
        page.goto(stack.issuer + "/my")
        _sign_in(page, login_id, password)
        page.wait_for_url(stack.issuer + "/my")
        for path, state in (("/my", "home"), ("/my/profile", "profile"),
                            ("/my/reauth", "re-authentication"), ("/my/password", "password"),
                            ("/my/consents", "consents"), ("/my/sessions", "sessions"),
                            ("/my/sites", "connected sites"), ("/my/sns", "SNS links"),
                            ("/my/company", "company placeholder"),
                            ("/my/withdraw", "withdrawal")):
            page.goto(stack.issuer + path)
            assert_accessible(page, axe_source, f"MY KOTRA {state}")
            page.goto(stack.issuer + path + "?lang=en")
            assert_accessible(page, axe_source, f"MY KOTRA {state}, in English")
            page.goto(stack.issuer + path + "?lang=ko")
        # Refusals and results.
        page.goto(stack.issuer + "/my/profile")
        page.locator("#email").fill("changed@example.com")
        page.locator("#fax").fill("abc")
        page.get_by_role("button", name="저장하기").click()
        page.get_by_role("alert").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA profile, a refused value")
        page.locator("#fax").fill("")
        page.get_by_role("button", name="저장하기").click()
        page.get_by_role("alert").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA profile, re-authentication needed")
        page.goto(stack.issuer + "/my/reauth")
        page.locator("#password").fill("Wrong!pass99")
        page.get_by_role("button", name="확인").click()
        page.get_by_role("alert").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA re-authentication, wrong password")
        page.goto(stack.issuer + "/my/password")
        page.locator("#current").fill("Wrong!pass99")
        page.locator("#new_password").fill("Another!pass42")
        page.locator("#confirm").fill("Another!pass42")
        page.get_by_role("button", name="저장하기").click()
        page.get_by_role("alert").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA password, wrong current password")
        page.goto(stack.issuer + "/my/consents")
        page.get_by_role("button", name="이메일 수신 동의").click()
        page.get_by_role("status").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA consents, with history")
        page.goto(stack.issuer + "/my/withdraw")
        page.locator("#password").fill(password)
        page.get_by_role("button", name="회원탈퇴").click()  # the box left unticked: refused
        page.wait_for_load_state()
        page.goto(stack.issuer + "/my/sessions")
        page.get_by_role("button", name="다른 기기 모두 로그아웃").click()
        page.get_by_role("status").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA sessions, others signed out")
        page.goto(stack.issuer + "/my/withdraw")
        page.locator("#password").fill(password)
        page.locator("#confirm").check()
        page.get_by_role("button", name="회원탈퇴").click()
        page.get_by_role("heading", name="회원탈퇴가 완료되었습니다").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA withdrawal done")
    finally:
        context.close()
        other.close()
def test_password_reset_pages(context: Any, stack: Stack, axe_source: str) -> None:
    """Issue 6: 비밀번호 재설정 — ID, verification, new password, done; errors; English."""
    from tests.browser.test_reset_browser import (
        close_stack_app,
        open_stack_app,
    )

    app = open_stack_app(stack)  # the provider's app in this process, on the stack's database
    try:
        _password_reset_pages(context, stack, axe_source, app)
    finally:
        close_stack_app(app)


def _password_reset_pages(context: Any, stack: Stack, axe_source: str, app: Any) -> None:
    from tests.browser.test_reset_browser import (
        add_member_with_identity,
        give_browser_verification,
        walk_to_password_page,
    )

    add_member_with_identity(stack, app, "a11yreset1", "A11y!reset2026", "CI-a11y-reset-1")
    page = context.new_page()
    page.goto(stack.issuer + "/reset-password")
    assert_accessible(page, axe_source, "reset: the ID")
    page.goto(stack.issuer + "/reset-password?lang=en")
    assert_accessible(page, axe_source, "reset: the ID, in English")
    page.goto(stack.issuer + "/reset-password?lang=ko")
    page.get_by_label("아이디").fill("nosuchid99")
    page.get_by_role("button", name="다음").click()
    page.wait_for_url(re.compile(r"/reset-password/[^/?]+$"))
    assert_accessible(page, axe_source, "reset: identity verification")
    vr = give_browser_verification(app, context, "CI-a11y-reset-1")
    page.goto(page.url + f"/verified?vr={vr}")
    page.get_by_role("alert").wait_for()  # no such member: the one message, at the ID
    assert_accessible(page, axe_source, "reset: no member matches")
    page.goto(page.url.split("/reset-password")[0] + "/reset-password/x/verified?vr=used")
    assert_accessible(page, axe_source, "reset: expired")
    walk_to_password_page(page, context, stack, app, "a11yreset1", "CI-a11y-reset-1")
    assert_accessible(page, axe_source, "reset: new password")
    page.locator("#password").fill("weak")
    page.locator("#confirm").fill("weak")
    page.get_by_role("button", name="저장하기").click()
    page.get_by_role("alert").wait_for()
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    assert_accessible(page, axe_source, "reset: password refused by the policy")
    page.goto(page.url.split("?")[0] + "?lang=en")
    assert_accessible(page, axe_source, "reset: new password, in English")
    page.goto(page.url.split("?")[0] + "?lang=ko")
    page.locator("#password").fill("A11y!newpass27")
    page.locator("#confirm").fill("A11y!newpass27")
    page.get_by_role("button", name="저장하기").click()
    page.wait_for_url(re.compile(r"/done$"))
    assert_accessible(page, axe_source, "reset: done")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "reset: done, in English")
def test_sns_pages(context: Any, sns_stack: Stack, axe_source: str) -> None:
    """Issue 9: the emulator's login page, the simple sign-up (terms, the items the SNS did
    not give, done) with their error states, and the login page after a cancelled round
    trip, in Korean and English."""
    from tests.browser.test_sns_browser import sns_to_vendor

    page = context.new_page()
    sns_to_vendor(page, sns_stack, "카카오톡 로그인")
    assert_accessible(page, axe_source, "SNS emulator: login page")
    page.get_by_role("button", name="취소").click()
    page.wait_for_url(re.compile(r"sns=cancelled"))
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, "login page: SNS round trip cancelled")

    sns_to_vendor(page, sns_stack, "카카오톡 로그인")
    page.get_by_label("카카오 사용자 (모든 항목 동의 안 함)").check()
    page.get_by_role("button", name="동의하고 로그인").click()
    page.wait_for_url(re.compile(r"/terms$"))
    terms_url = page.url
    assert_accessible(page, axe_source, "SNS sign-up: terms")
    page.get_by_role("button", name="가입하기").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, "SNS sign-up: terms, required items declined")
    page.goto(terms_url + "?lang=en")
    assert_accessible(page, axe_source, "SNS sign-up: terms, in English")
    page.goto(terms_url + "?lang=ko")
    page.get_by_label("약관 전체 동의").check()
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/info$"))
    assert_accessible(page, axe_source, "SNS sign-up: the items the SNS did not give")
    page.locator("#mobile").fill("12")
    page.get_by_role("button", name="가입하기").click()
    page.get_by_role("alert").wait_for()
    assert page.locator("#mobile").get_attribute("aria-invalid") == "true"
    assert_accessible(page, axe_source, "SNS sign-up: items refused")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "SNS sign-up: items, in English")
    page.goto(page.url.split("?")[0] + "?lang=ko")
    page.locator("#name").fill("접근성")
    page.locator("#mobile").fill("010-7777-8888")
    page.locator("#email").fill("a11y.sns@example.com")
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/done$"))
    assert_accessible(page, axe_source, "SNS sign-up: done")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "SNS sign-up: done, in English")
# --- Issue 6: the emulated identity-verification popups and 간편인증 login (idv) ----------

def _emulator_person(page: Any, name: str = "홍길동", mobile: str = "01012345678") -> None:
    page.locator("#name").fill(name)
    page.locator("#birthdate").fill("19850301")
    page.locator("#mobile").fill(mobile)
    page.locator("input[name=agree]").check()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_identity_emulator_pages(context: Any, stack: Stack, axe_source: str,
                                 lang: str) -> None:
    page = context.new_page()
    # 휴대폰: the form, its errors, the SMS code page, a wrong code.
    page.goto(f"{stack.issuer}/verify/start?method=mobile&purpose=signup&next=/&lang={lang}")
    page.wait_for_url(re.compile(r"/dev/verify/"))
    assert_accessible(page, axe_source, f"emulator 휴대폰 form ({lang})")
    page.locator("button[name=action][value=next]").click()
    page.get_by_role("alert").first.wait_for()
    assert_accessible(page, axe_source, f"emulator 휴대폰 form with errors ({lang})")
    page.locator("input[name=carrier][value=SKT]").check()
    page.locator("input[name=gender][value=F]").check()
    _emulator_person(page)
    page.locator("button[name=action][value=next]").click()
    page.locator("#code").wait_for()
    assert_accessible(page, axe_source, f"emulator SMS code page ({lang})")
    page.locator("#code").fill("12345")
    page.locator("button[name=action][value=verify]").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, f"emulator wrong code ({lang})")
    # 신용카드: the form.
    page.goto(f"{stack.issuer}/verify/start?method=card&purpose=signup&next=/&lang={lang}")
    page.wait_for_url(re.compile(r"/dev/verify/"))
    assert_accessible(page, axe_source, f"emulator 신용카드 form ({lang})")
    # 간편인증 login from the login page: the app choice, the approval, no member.
    page.goto(stack.site1 + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    page.locator("#identity-login").click()
    page.wait_for_url(re.compile(r"/dev/verify/"))
    assert_accessible(page, axe_source, "emulator 간편인증 form")
    page.locator("input[name=app][value=pass]").check()
    _emulator_person(page, "나모름", "01077778888")
    page.locator("button[name=action][value=next]").click()
    page.locator("button[name=action][value=approve]").wait_for()
    assert_accessible(page, axe_source, "emulator 간편인증 approve in the app")
    page.locator("button[name=action][value=approve]").click()
    page.wait_for_url(re.compile(r"/identity-login/done"))
    assert_accessible(page, axe_source, "간편인증 login: no member")
def test_interests_search_pages(context: Any, stack: Stack, axe_source: str) -> None:
    """The interests search without script (/interests/search): HS and countries, results,
    none, too long, English. (The picker itself: tests/browser/test_interests_picker.py.)"""
    page = context.new_page()
    base = f"{stack.issuer}/interests/search"
    for query, state in (
            ({"kind": "hs"}, "empty"),
            ({"kind": "hs", "q": "초콜릿"}, "HS results"),
            ({"kind": "hs", "q": "zzzz"}, "no result"),
            ({"kind": "country", "q": "미국"}, "countries"),
            ({"kind": "hs", "q": "x" * 101}, "too long"),
            ({"kind": "hs", "q": "chocolate", "lang": "en"}, "English")):
        page.goto(f"{base}?{urlencode(query)}")
        assert_accessible(page, axe_source, f"interests search, {state}")
def test_signup_pages_reachable_without_verification(context: Any, terms_stack: Any,
                                                     axe_source: str) -> None:
    """회원가입 (issue 6): the hub (from the login page, with `ia`), step 1 with its error,
    step 2 and the expired-flow page, in both languages. The steps after the identity
    verification (member information tabs and their errors, done, already a member) are
    checked by tests/browser/test_signup_browser.py, which scripts the vendor."""
    own, site = terms_stack
    page = context.new_page()
    page.goto(_authorize_url(own, site["client_id"], site["redirect_uri"]))
    page.get_by_role("link", name="회원가입", exact=True).click()
    assert_accessible(page, axe_source, "sign-up hub (from a relying party)")
    page.locator("#choice-general button[type=submit]").click()
    page.wait_for_url(re.compile(r"/terms$"))
    assert_accessible(page, axe_source, "sign-up step 1")
    page.locator("#signup-terms button[type=submit]").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, "sign-up step 1, required items missing")
    page.locator("#agree_all").check()
    page.locator("#signup-terms button[type=submit]").click()
    page.wait_for_url(re.compile(r"/verify$"))
    assert_accessible(page, axe_source, "sign-up step 2")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "sign-up step 2, in English")
    page.goto(own.issuer + "/signup/expired/terms")
    assert_accessible(page, axe_source, "sign-up flow expired, in English")
    page.goto(own.issuer + "/signup?lang=ko")
    assert_accessible(page, axe_source, "sign-up hub (from the home page)")


# --- Issue 9: 일반회원 전환 (idp/web/conversion.py) ----------------------------------------

def test_conversion_pages(browser: Any, sns_stack: Stack, axe_source: str,
                          artifacts_dir: Path) -> None:
    """Start, 실명인증, 회원정보 입력 (and a refused password), 전환완료; then, converted, the
    refusal and the expired pages; the verification page in English."""
    from tests.browser.test_conversion_browser import convert, kakao_member_on_the_site

    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        kakao_member_on_the_site(page, sns_stack, "kakao-a11y-conversion")

        def check(page: Any, state: str) -> None:
            assert_accessible(page, axe_source, state)
            if state == "conversion: 실명인증":
                url = page.url
                page.goto(url + "?lang=en")
                assert_accessible(page, axe_source, state + ", in English")
                page.goto(url + "?lang=ko")

        convert(page, sns_stack, artifacts_dir, check, login_id="a11yconvert1",
                name="접근성", mobile="01033334444")
        page.goto(sns_stack.issuer + "/my/convert")
        assert_accessible(page, axe_source, "conversion: not a simple member")
        page.goto(sns_stack.issuer + "/my/convert/expired/verify")
        assert_accessible(page, axe_source, "conversion: expired")
    finally:
        ctx.close()
# --- Issue 9: SNS 찾기 and MY KOTRA > SNS 계정 연결 (snsx) ------------------------------------

def test_sns_find_pages(context: Any, stack: Stack, axe_source: str,
                        artifacts_dir: Path) -> None:
    """SNS 찾기: both ways, a refused number, the code page, a wrong code, the answer for a
    number no member has, in Korean and English."""
    from tests.browser.test_find_id_browser import outbox_code

    page = context.new_page()
    for way in ("mobile", "verify"):
        page.goto(f"{stack.issuer}/find-sns?way={way}")
        assert_accessible(page, axe_source, f"find SNS, {way}")
        page.goto(f"{stack.issuer}/find-sns?way={way}&lang=en")
        assert_accessible(page, axe_source, f"find SNS, {way}, in English")
    page.goto(f"{stack.issuer}/find-sns?lang=ko")
    page.get_by_label("이름").fill("접근성")
    page.get_by_label("휴대폰 가운데 자리").fill("12")
    page.get_by_label("휴대폰 뒷자리").fill("3456")
    page.locator("#phone2").evaluate("e => e.removeAttribute('pattern')")
    page.get_by_role("button", name="인증번호 받기").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, "find SNS, a wrong mobile number")
    page.get_by_label("휴대폰 가운데 자리").fill("5656")
    page.get_by_label("휴대폰 뒷자리").fill("0909")
    page.get_by_role("button", name="인증번호 받기").click()
    page.wait_for_url(re.compile(r"/find-sns/mobile/"))
    assert_accessible(page, axe_source, "find SNS, the code page")
    code = outbox_code(stack, "01056560909")
    page.get_by_label("인증번호").fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="확인").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page, axe_source, "find SNS, a wrong code")
    page.get_by_label("인증번호").fill(code)
    page.get_by_role("button", name="확인").click()
    page.locator("#not-found").wait_for()
    page.screenshot(path=str(artifacts_dir / "sns-find-none.png"), full_page=True)
    assert_accessible(page, axe_source, "find SNS, nothing for that name and number")
    page.goto(page.url + "?lang=en")
    assert_accessible(page, axe_source, "find SNS, the code page expired, in English")


def test_my_kotra_sns_links_page(browser: Any, sns_stack: Stack, axe_source: str,
                                 artifacts_dir: Path) -> None:
    """MY KOTRA > SNS 계정 연결: empty, linked through the Kakao emulator, a refusal, English."""
    login_id, password = "snsa11y01", "Snsa11y!pass2026"
    _run([IDP, "members", "add", "--login-id", login_id, "--name", "연결점검",
          "--email", f"{login_id}@example.com", "--password-stdin", "--json"],
         sns_stack.env, password)
    context = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    try:
        page = context.new_page()
        page.goto(sns_stack.issuer + "/my/sns")
        _sign_in(page, login_id, password)
        page.wait_for_url(re.compile(r"/terms$"))  # this provider has terms published
        page.get_by_label("약관 전체 동의").check()
        page.get_by_role("button", name="동의하고 계속").click()
        page.wait_for_url(re.compile(r"/my(/sns)?$"))
        page.goto(sns_stack.issuer + "/my/sns")
        assert_accessible(page, axe_source, "MY KOTRA SNS links, none")
        # Facebook: no other browser test signs in with its emulator's users. Linking asks
        # for the password again first (본인 확인), then the button once more.
        page.get_by_role("button", name="페이스북 계정 연결").click()
        page.wait_for_url(re.compile(r"/my/reauth"))
        page.locator("#password").fill(password)
        page.get_by_role("button", name="확인", exact=True).click()
        page.wait_for_url(re.compile(r"/my/sns$"))
        page.get_by_role("button", name="페이스북 계정 연결").click()
        page.wait_for_url(re.compile(r"/dev/sns/"))
        page.get_by_label("최페이스 (이메일 제공)").check()
        page.get_by_role("button", name="동의하고 로그인").click()
        page.wait_for_url(re.compile(r"/my/sns\?result=linked"))
        page.get_by_role("status").wait_for()
        page.screenshot(path=str(artifacts_dir / "my-sns-linked.png"), full_page=True)
        assert_accessible(page, axe_source, "MY KOTRA SNS links, one linked")
        page.goto(sns_stack.issuer + "/my/sns?result=other_member")
        page.get_by_role("alert").wait_for()
        assert_accessible(page, axe_source, "MY KOTRA SNS links, a refusal")
        page.goto(sns_stack.issuer + "/my/sns?lang=en")
        assert_accessible(page, axe_source, "MY KOTRA SNS links, in English")
    finally:
        context.close()


def test_sns_find_result_page(context: Any, sns_stack: Stack, axe_source: str,
                              artifacts_dir: Path) -> None:
    """SNS 찾기 with a match: a Naver simple member signed up here finds its SNS."""
    from tests.browser.test_find_id_browser import outbox_code
    from tests.browser.test_sns_browser import sns_to_vendor

    page = context.new_page()
    sns_to_vendor(page, sns_stack, "네이버 로그인")
    page.get_by_label("직접 입력").check()
    for selector, value in {"#custom_id": "nv-a11y-find", "#custom_name": "찾기점검",
                            "#custom_email": "find.a11y@naver.com",
                            "#custom_mobile": "010-6666-7777"}.items():
        page.locator(selector).fill(value)
    page.get_by_role("button", name="동의하고 로그인").click()
    page.wait_for_url(re.compile(r"/terms$"))
    page.get_by_label("약관 전체 동의").check()
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/done$"))
    page.goto(f"{sns_stack.issuer}/find-sns")
    page.get_by_label("이름").fill("찾기점검")
    page.get_by_label("휴대폰 가운데 자리").fill("6666")
    page.get_by_label("휴대폰 뒷자리").fill("7777")
    page.get_by_role("button", name="인증번호 받기").click()
    page.wait_for_url(re.compile(r"/find-sns/mobile/"))
    page.get_by_label("인증번호").fill(outbox_code(sns_stack, "01066667777"))
    page.get_by_role("button", name="확인").click()
    page.locator(".sns-account").first.wait_for()
    assert page.locator(".sns-account").first.inner_text() == "f***@naver.com"
    page.screenshot(path=str(artifacts_dir / "sns-find-found.png"), full_page=True)
    assert_accessible(page, axe_source, "find SNS, the SNS found")
