"""The sign-up wizard in real headless Chromium (issue 6).

The provider runs in this process (the `live_server` fixture, IDP_ENV=testing) with the
development emulator of the verification vendors (idp/adapters/identity_emulator.py): each
verification goes through the emulated popup pages (휴대폰: carrier, name, birthdate, gender,
phone and the SMS code read from /dev/outbox.json; 간편인증: the app; 신용카드: the card).
Demo site 1 (`python -m clients.demo_site`) is the relying party that a new member signs in to.
axe-core checks every step and error state; screenshots go to /tmp/idp-test (signup_*.png).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from idp.extensions import db
from idp.services import terms
from idp.services.clients import add_client
from tests.browser.emulator_popup import PERSON, emulate
from tests.browser.test_accessibility import AXE_JS, assert_accessible
from tests.conftest import free_port, require_service

PROJECT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((PROJECT / "tests" / "unit" / "password_strength_vectors.json")
                     .read_text(encoding="utf-8"))["vectors"]
PASSWORD = "Blue!ocean2026x"


@pytest.fixture()
def axe() -> str:
    if not AXE_JS.exists():
        require_service("axe-core", False, "run `npm ci --prefix tests/browser/axe` (needs npm)")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture()
def provider(app: Any, live_server: str) -> Iterator[tuple[str, Any]]:
    from idp.services import hs

    verifiers = app.extensions["idp"].identity_verifiers
    assert {getattr(v, "vendor", None) for v in verifiers.values()} == {"emulator"}
    with app.app_context():
        hs.load_builtin(db.session)  # (the interests picker searches the nomenclature)
        for kind, required in (("service", True), ("privacy", True), ("marketing", False),
                               ("privacy_optional", False)):
            terms.publish(db.session, kind=kind, version=1, title_ko=f"{kind} 약관",
                          title_en=f"{kind} terms", body=f"{kind} 본문", required=required,
                          now=terms.utcnow())
        db.session.commit()
    yield live_server, None


@pytest.fixture()
def demo_site(app: Any, provider: tuple[str, Any],
              tmp_path: Path) -> Iterator[str]:
    issuer, _ = provider
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with app.app_context():
        client, secret = add_client(
            db.session, name="KOTRA 데모 사이트 1", redirect_uris=[f"{base}/callback"],
            post_logout_redirect_uris=[f"{base}/"], backchannel_logout_uri=None,
            resource_server=False, grant_types=["authorization_code", "refresh_token"],
            token_endpoint_auth_method="client_secret_basic", first_party=True,
            id_token_signed_response_alg="RS256", require_pkce=True)
        db.session.commit()
        config = {"site1": {"client_id": client.client_id, "client_secret": secret,
                            "redirect_uri": f"{base}/callback",
                            "post_logout_redirect_uri": f"{base}/"}}
    path = tmp_path / "demo_clients.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    log = (tmp_path / "site1.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "clients.demo_site", "--site", "1", "--port",
                             str(port), "--issuer", issuer, "--config", str(path)],
                            cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT)
    try:
        import time
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp_path / "site1.log").read_text()) from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def shot(page: Any, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=artifacts_dir / f"signup_{name}.png", full_page=True)


def walk_to_info(page: Any, axe: str, artifacts: Path, suffix: str = "",
                 method: str = "휴대폰 인증", emulated: str = "mobile",
                 person: Mapping[str, str] = PERSON, check_popup: bool = False) -> None:
    """From the hub: 일반회원 가입 → terms (all agree) → verification through the emulated
    popup; checks each page."""
    assert_accessible(page, axe, f"hub{suffix}")
    shot(page, artifacts, f"0_hub{suffix}")
    page.locator("#choice-general button[type=submit]").click()
    page.wait_for_url(re.compile(r"/signup/[^/]+/terms"))
    assert page.locator("[aria-current=step]").inner_text().strip().endswith(
        "약관동의" if not suffix else "Terms")
    # the required items missing: an error state
    page.locator("#signup-terms button[type=submit]").click()
    assert page.locator("p.error[role=alert]").is_visible()
    assert_accessible(page, axe, f"terms error{suffix}")
    page.locator("#agree_all").check()
    assert page.locator("#agree_service").is_checked() and page.locator("#marketing_sms")\
        .is_checked()
    assert_accessible(page, axe, f"terms{suffix}")
    shot(page, artifacts, f"1_terms{suffix}")
    page.locator("#signup-terms button[type=submit]").click()
    page.wait_for_url(re.compile(r"/signup/[^/]+/verify"))
    assert_accessible(page, axe, f"verify{suffix}")
    shot(page, artifacts, f"2_verify{suffix}")
    issuer = page.url.split("/signup/")[0]
    page.get_by_role("link", name=method).click()
    emulate(page, issuer, emulated, person, axe if check_popup else None,
            artifacts if check_popup else None)
    page.wait_for_url(re.compile(r"/signup/[^/]+/info"))


def fill_basic(page: Any, login_id: str) -> None:
    page.locator("#login_id").fill(login_id)
    page.locator("#check-id").click()
    # (locators, not wait_for_function: the page's CSP forbids evaluating strings)
    page.locator("#id-check[data-status]").wait_for(state="attached")
    assert page.locator("#id-check").get_attribute("data-status") == "available"
    page.locator("#password").fill("Password123!")
    page.locator('#pw-strength[data-level="0"]').wait_for(state="attached")
    page.locator("#password").fill(PASSWORD)
    page.locator('#pw-strength[data-level="2"]').wait_for(state="attached")
    page.locator("#confirm").fill(PASSWORD)
    page.locator("#email").fill(f"{login_id}@example.com")


def test_signup_from_a_demo_site_to_signed_in(page: Any, provider: Any, demo_site: str,
                                              app: Any, axe: str, artifacts_dir: Path) -> None:
    issuer, _verifier = provider
    problems: list[str] = []
    # script errors and CSP violations (an error state answers 400 on purpose: not counted)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and "status of 400" not in m.text
            and "favicon" not in (m.location.get("url") or "") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(demo_site + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(issuer) + r"/interaction/"))
    page.get_by_role("link", name="회원가입", exact=True).click()
    page.wait_for_url(re.compile(r"/signup\?ia="))
    walk_to_info(page, axe, artifacts_dir, check_popup=True)
    assert page.locator("#signup-name").input_value() == "홍길동"
    assert page.locator("#signup-mobile").input_value() == "010-1234-5678"
    # a server-side refusal: the confirmation does not match
    fill_basic(page, "browser01")
    page.locator("#confirm").fill("Other!ocean2026x")
    page.get_by_role("button", name="다음").click()
    assert page.locator("#confirm-error").is_visible()
    assert page.locator("#confirm").get_attribute("aria-invalid") == "true"
    assert_accessible(page, axe, "info basic error")
    shot(page, artifacts_dir, "3_basic_error")
    fill_basic(page, "browser01")
    assert_accessible(page, axe, "info basic")
    shot(page, artifacts_dir, "3_basic")
    page.get_by_role("button", name="다음").click()
    page.wait_for_url(re.compile(r"tab=optional"))
    page.locator("#name_en").fill("Gildong Hong")
    page.locator("#department").fill("해외영업팀")
    assert_accessible(page, axe, "info optional")
    shot(page, artifacts_dir, "3_optional")
    page.get_by_role("button", name="다음").click()
    page.wait_for_url(re.compile(r"tab=interests"))
    hs_input = page.locator("#interest_hs_q")
    hs_input.fill("초콜릿")
    page.locator("#interest_hs_list [role=option]").first.wait_for()
    page.locator("#interest_hs_list [role=option]", has_text="1806").first.click()
    country = page.locator("#interest_country_q")
    country.fill("베트남")
    page.locator("#interest_country_list [role=option]").first.wait_for()
    page.locator("#interest_country_list [role=option]").first.click()
    assert_accessible(page, axe, "info interests")
    shot(page, artifacts_dir, "3_interests")
    page.get_by_role("button", name="다음").click()
    page.wait_for_url(re.compile(r"tab=company"))
    page.get_by_role("link", name="관심 품목/지역").click()  # kept in the flow
    assert page.locator("[data-field=interest_hs] [data-chips] li").get_attribute(
        "data-code") == "1806"
    assert page.locator("[data-field=interest_country] [data-chips] li").get_attribute(
        "data-code") == "VN"
    page.go_back()
    assert_accessible(page, axe, "info company")
    shot(page, artifacts_dir, "3_company")
    # reload and back lose nothing
    page.get_by_role("link", name="기본정보").click()
    assert page.locator("#login_id").input_value() == "browser01"
    page.go_back()
    page.reload()
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/signup/[^/]+/done"))
    assert page.get_by_text("KOTRA 통합 일반회원(기업미소속)으로 가입이 완료되었습니다.")\
        .is_visible()
    assert_accessible(page, axe, "done")
    shot(page, artifacts_dir, "4_done")
    page.get_by_role("button", name="로그인").click()
    try:
        page.wait_for_url(re.compile("^" + re.escape(demo_site) + r"/(\?.*)?$"))
    except Exception:
        raise AssertionError(page.url + page.content()[:3000]) from None
    assert page.get_by_text("홍길동님, 환영합니다.").is_visible()
    shot(page, artifacts_dir, "5_signed_in_at_demo_site")
    assert problems == [], problems
    with app.app_context():
        from sqlalchemy import select

        from idp.models import Member
        from idp.services.interests import load_interests

        member = db.session.scalars(select(Member).where(Member.login_id == "browser01")).one()
        chosen = load_interests(db.session, member.id)
        assert (chosen.hs_codes, chosen.country_codes) == (["1806"], ["VN"])


def test_duplicate_signup_is_refused(page: Any, provider: Any, app: Any, axe: str,
                                     artifacts_dir: Path) -> None:
    issuer, _ = provider
    page.goto(issuer + "/signup")
    walk_to_info(page, axe, artifacts_dir, suffix="", method="간편인증", emulated="simple")
    fill_basic(page, "firstone1")
    page.get_by_role("button", name="다음").click()
    page.wait_for_url(re.compile(r"tab=optional"))
    page.goto(page.url.replace("tab=optional", "tab=company"))
    page.get_by_role("button", name="가입하기").click()
    page.wait_for_url(re.compile(r"/done"))
    # the same person again, in a new browser session
    page.context.clear_cookies()
    page.goto(issuer + "/signup")
    page.locator("#choice-general button[type=submit]").click()
    page.locator("#agree_all").check()
    page.locator("#signup-terms button[type=submit]").click()
    page.get_by_role("link", name="신용카드 인증").click()
    emulate(page, issuer, "card")  # the same person (name, birthdate, phone): the same DI
    page.locator("#already-member").wait_for()
    assert page.get_by_role("link", name="아이디 찾기").get_attribute("href") == "/find-id"
    assert_accessible(page, axe, "already a member")
    shot(page, artifacts_dir, "already_member")
    # an expired or unknown flow
    page.goto(issuer + "/signup/unknown/info")
    assert_accessible(page, axe, "flow gone")


def test_the_whole_signup_in_english(page: Any, provider: Any, axe: str,
                                     artifacts_dir: Path) -> None:
    issuer, _ = provider
    page.goto(issuer + "/signup?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    walk_to_info(page, axe, artifacts_dir, suffix="_en", method="Mobile phone")
    fill_basic(page, "english01")
    assert page.locator("#pw-strength").inner_text().startswith("Strength")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    assert_accessible(page, axe, "company tab (English)")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r"/done"))
    assert page.get_by_text("You are now a KOTRA unified general member").is_visible()
    assert_accessible(page, axe, "done (English)")
    shot(page, artifacts_dir, "4_done_en")
    body = page.locator("body").inner_text()
    assert not re.search(r"[가-힣]", body.replace("한국어", "").replace("홍길동", "")), body


def test_password_strength_is_the_same_in_the_browser(page: Any, provider: Any) -> None:
    """static/password_strength.js on the shared vectors gives Python's costs and scores."""
    issuer, _ = provider
    page.goto(issuer + "/signup")
    page.add_script_tag(url=issuer + "/static/password_strength.js")
    got = page.evaluate(
        "async (vectors) => { await window.kotraPasswordStrength.ready; "
        "return vectors.map(v => window.kotraPasswordStrength.estimate(v.password, "
        "v.user_inputs)); }", VECTORS)
    mismatches = [(v["password"], v["cost"], v["score"], g) for v, g in
                  zip(VECTORS, got, strict=True)
                  if (g["cost"], g["score"], g["level"]) != (v["cost"], v["score"], v["level"])]
    assert mismatches == []
