"""End-to-end SSO in a real browser: demo site 1 and 2 <-> the provider.

Screenshots go to the `artifacts_dir` folder (IDP_TEST_ARTIFACTS, default /tmp/idp-test).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

# The `stack` fixture (tests/browser/conftest.py): issuer, site1, site2, logs(), and members
# {login_id: password}: the `idp demo seed` accounts demouser1 (not affiliated), demoapprove1
# (approval password), democert1 (certificate), and E2E_LOGIN_ID.
Stack = Any
E2E_LOGIN_ID = "e2etester1"  # made with `idp members add` by the fixture

EN_CATALOG = (Path(__file__).resolve().parents[2] / "idp" / "translations" / "en"
              / "LC_MESSAGES" / "messages.po")
GENERIC_LOGIN_ERROR = "아이디 또는 비밀번호가 일치하지 않습니다."


def _on(page: Any, base: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(base) + r"/(\?.*)?$")


def open_provider_login(page: Any, site: str, stack: Stack) -> Any:
    """From a signed-out demo site home, click 로그인 and land on the provider's login page."""
    page.goto(site + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    return page


def sign_in(page: Any, site: str, login_id: str, password: str) -> None:
    page.locator("#login_id").fill(login_id)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(_on(page, site))


def row(page: Any, header: str) -> str:
    """The text of the demo site's table cell next to `header`."""
    return str(page.locator("tr", has=page.locator("th", has_text=header)).locator("td")
               .first.inner_text())


def test_sso_across_two_sites_and_backchannel_logout(context: Any, stack: Stack,
                                                     artifacts_dir: Path) -> None:
    page = context.new_page()
    problems: list[str] = []  # console errors (e.g. CSP violations) on the provider's pages

    def on_console(msg: Any) -> None:
        where = msg.location.get("url") or ""
        if (msg.type == "error" and page.url.startswith(stack.issuer)
                and not where.endswith("/favicon.ico")):  # no favicon yet: cosmetic only
            problems.append(f"{msg.text} {where} @ {page.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc} @ {page.url}"))

    # Site 1 -> the provider's login page with its three tabs.
    open_provider_login(page, stack.site1, stack)
    for tab in ("일반회원", "간편회원", "기업정보 관리"):
        assert page.get_by_role("tab", name=tab).is_visible(), tab
    assert page.get_by_role("tab", name="일반회원").get_attribute("aria-selected") == "true"
    assert page.get_by_label("아이디").first.is_visible()
    page.screenshot(path=artifacts_dir / "login_page.png", full_page=True)

    # Password sign-in -> back on site 1, signed in, with member type and entitlements.
    sign_in(page, stack.site1, "demouser1", stack.members["demouser1"])
    assert page.get_by_text("홍길동님, 환영합니다.").is_visible(), stack.logs()
    assert row(page, "회원 유형") == "일반회원"
    assert row(page, "소속 기업") == "없음"
    entitlements = row(page, "권한")
    for ent in ("online_consultation", "seminar_application", "other_service_application"):
        assert ent in entitlements, entitlements
    for ent in ("service_mileage", "company_info_edit", "approve_employees"):
        assert ent not in entitlements, entitlements
    assert "pwd" in row(page, "인증 방법 (amr)")
    page.screenshot(path=artifacts_dir / "site1_signed_in.png", full_page=True)

    # Site 2 -> signed in by SSO, nothing typed.
    page.goto(stack.site2 + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(_on(page, stack.site2))
    assert page.get_by_text("홍길동님, 환영합니다.").is_visible(), stack.logs()
    assert row(page, "회원 유형") == "일반회원"
    page.screenshot(path=artifacts_dir / "site2_sso.png", full_page=True)

    # Sign out on site 2 (RP-initiated logout with id_token_hint; confirm if asked).
    page.get_by_role("button", name="로그아웃").click()
    page.wait_for_url(re.compile("^(" + re.escape(stack.site2) + "|" + re.escape(stack.issuer)
                                 + ")/"))
    if page.url.startswith(stack.issuer):
        page.get_by_role("button", name="로그아웃").click()
        page.wait_for_url(_on(page, stack.site2))
    assert page.get_by_text("로그아웃되었습니다.").is_visible()
    assert page.get_by_role("link", name="로그인", exact=True).is_visible()

    # Site 1 was told over the back channel, by the provider's worker right after the
    # logout (outside the logout request): reloading within two seconds shows it signed out.
    deadline = time.monotonic() + 2.0
    page.goto(stack.site1 + "/")
    while (not page.get_by_role("link", name="로그인", exact=True).is_visible()
           and time.monotonic() < deadline):
        page.wait_for_timeout(100)
        page.goto(stack.site1 + "/")
    assert page.get_by_role("link", name="로그인", exact=True).is_visible(), stack.logs()
    assert page.get_by_text("환영합니다").count() == 0, stack.logs()
    page.screenshot(path=artifacts_dir / "site1_after_logout.png", full_page=True)

    # And the provider's session is gone too: logging in again asks for the password.
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    assert page.locator("#password").is_visible()
    assert problems == []


def test_approval_password_member_company_and_gated_services(context: Any,
                                                             stack: Stack) -> None:
    page = context.new_page()
    open_provider_login(page, stack.site1, stack)
    sign_in(page, stack.site1, "demoapprove1", stack.members["demoapprove1"])
    assert page.get_by_text("김승인님, 환영합니다.").is_visible(), stack.logs()
    assert row(page, "회원 유형") == "일반회원"
    company = row(page, "소속 기업")
    assert "(주)한국이디에스" in company, company
    assert "6638501035" in company, company
    assert "승인 비밀번호로 소속" in company, company  # affiliation_method approval_password
    entitlements = row(page, "권한")
    for ent in ("online_consultation", "seminar_application", "other_service_application",
                "approve_employees"):
        assert ent in entitlements, entitlements
    for ent in ("service_mileage", "company_info_edit"):
        assert ent not in entitlements, entitlements

    refused = page.goto(stack.site1 + "/services/service_mileage")
    assert refused is not None and refused.status == 403
    assert page.get_by_text("이용 불가").is_visible()
    allowed = page.goto(stack.site1 + "/services/other_service_application")
    assert allowed is not None and allowed.status == 200
    assert page.get_by_text("신청 가능").is_visible()


def test_certificate_member_may_use_mileage(context: Any, stack: Stack) -> None:
    """SPEC §2: affiliation by certificate is the only kind that unlocks service mileage."""
    page = context.new_page()
    open_provider_login(page, stack.site2, stack)
    sign_in(page, stack.site2, "democert1", stack.members["democert1"])
    company = row(page, "소속 기업")
    assert "기업 범용인증서로 소속" in company, company
    entitlements = row(page, "권한")
    for ent in ("service_mileage", "company_info_edit", "approve_employees",
                "other_service_application"):
        assert ent in entitlements, entitlements
    resp = page.goto(stack.site2 + "/services/service_mileage")
    assert resp is not None and resp.status == 200


def test_wrong_password_generic_message_and_security_headers(context: Any, stack: Stack,
                                                             artifacts_dir: Path) -> None:
    page = context.new_page()
    page.goto(stack.site1 + "/")
    with page.expect_response(re.compile("^" + re.escape(stack.issuer) + r"/interaction/[^/]+$")
                              ) as shown:
        page.get_by_role("link", name="로그인", exact=True).click()
    resp = shown.value
    assert resp.status == 200
    csp = resp.header_value("content-security-policy") or ""
    assert "frame-ancestors 'none'" in csp, csp
    # Forms post to us, and their 303 may lead to the pending request's redirect_uri only.
    assert csp.endswith(f"; form-action 'self' {stack.site1}"), csp
    assert resp.header_value("referrer-policy") == "same-origin"

    page.locator("#login_id").fill(E2E_LOGIN_ID)
    page.locator("#password").fill(stack.members[E2E_LOGIN_ID] + "x")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("form button[type=submit]").click()
    resp = posted.value
    assert resp.status == 401
    # The browser sent the Referer the https CSRF check needs (Referrer-Policy: same-origin).
    referer = resp.request.header_value("referer") or ""
    assert referer.startswith(stack.issuer + "/interaction/"), referer
    csp = resp.header_value("content-security-policy") or ""
    assert "frame-ancestors 'none'" in csp, csp
    assert csp.endswith(f"; form-action 'self' {stack.site1}"), csp
    assert resp.header_value("referrer-policy") == "same-origin"
    alert = page.get_by_role("alert")
    assert alert.inner_text().strip() == GENERIC_LOGIN_ERROR
    assert page.locator("#password").input_value() == ""  # never echoed back
    page.screenshot(path=artifacts_dir / "login_error.png", full_page=True)

    # An unknown ID gets the very same message (no account enumeration).
    page.locator("#login_id").fill("nosuchuser77")
    page.locator("#password").fill(stack.members[E2E_LOGIN_ID])
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("form button[type=submit]").click()
    assert posted.value.status == 401
    assert page.get_by_role("alert").inner_text().strip() == GENERIC_LOGIN_ERROR

    # The right password still works from the same page.
    page.locator("#login_id").fill(E2E_LOGIN_ID)
    page.locator("#password").fill(stack.members[E2E_LOGIN_ID])
    page.locator("form button[type=submit]").click()
    page.wait_for_url(_on(page, stack.site1))
    assert page.get_by_text("최종점검님, 환영합니다.").is_visible(), stack.logs()


def test_language_toggle_keeps_the_login_working(context: Any, stack: Stack) -> None:
    """ENGLISH on the login page keeps the pending authorization request (no translations
    needed for this part)."""
    page = context.new_page()
    open_provider_login(page, stack.site2, stack)
    page.get_by_role("link", name="ENGLISH").click()
    page.wait_for_url(re.compile(r"[?&]lang=en"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#password").is_visible()
    sign_in(page, stack.site2, E2E_LOGIN_ID, stack.members[E2E_LOGIN_ID])
    assert page.get_by_text("최종점검님, 환영합니다.").is_visible(), stack.logs()


@pytest.mark.xfail(not EN_CATALOG.exists(), strict=False,
                   reason="translations pending: idp/translations/en/LC_MESSAGES/messages.po "
                          "does not exist yet")
@pytest.mark.parametrize("how", ["toggle", "ui_locales"])
def test_login_page_in_english(context: Any, stack: Stack, artifacts_dir: Path,
                               how: str) -> None:
    page = context.new_page()
    if how == "toggle":
        open_provider_login(page, stack.site1, stack)
        page.get_by_role("link", name="ENGLISH").click()
        page.wait_for_url(re.compile(r"[?&]lang=en"))
    else:
        page.goto(stack.site1 + "/login?ui_locales=en")
        page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    assert page.locator("html").get_attribute("lang") == "en"
    if how == "toggle":
        page.screenshot(path=artifacts_dir / "login_en.png", full_page=True)
    tabs = [t.strip() for t in page.get_by_role("tab").all_inner_texts()]
    assert len(tabs) == 3
    for tab in tabs:
        assert not re.search(r"[\uac00-\ud7a3]", tab), tabs  # no Hangul left in the tabs
    button = page.locator("form button[type=submit]").inner_text().strip()
    assert re.fullmatch(r"(?i)log ?in|sign ?in", button), button
    label = page.locator("label[for=password]").inner_text()
    assert "Password" in label, label
