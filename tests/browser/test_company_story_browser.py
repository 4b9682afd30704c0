"""Issue 7 end to end, in real Chromium, with the real pieces: the provider served live
(`idp serve`) with its NTS emulator, the NPKI verifier trusting the demo PKI of the testing
config (instance/demo-pki, its CRL at /dev/npki/crl/), the 인증서찾기 widget in the page, and
demo site 1 as the relying party (its mileage page calling the provider's API).

The story, in order (the tests share one provider and the browsers of this module):
 1. 기업정보 등록 of 대한무역투자진흥공사 (120-82-00275, in the demo directory) with the demo
    certificate files, then the manager signs in on the 기업정보 관리 tab;
 2. a general member joins it by the approval password (MY KOTRA → 소속기업 관리);
 3. demo site 1 sees the company in the member's claims;
 4. another member joins by the certificate, and uses the company's mileage on demo site 1:
    the provider asks for the certificate level (인증서 로그인 with the widget), the use goes
    through and the balance drops;
 5. the manager revokes that member in 소속직원 관리: demo site 1 is signed out over the back
    channel, and after signing in again the company claim is gone;
 6. wrong approval passwords until the lock, and the console's notice;
 7. the operator review of a new company (not in the directory) with a PDF upload: approved,
    the applicant told by email (dev outbox), the new company's manager signs in.

axe-core checks the page states the other browser tests do not reach; screenshots of the key
moments go to docs/img/story-*.png.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from idp.npki_pki import demo_summary, ensure_demo_pki
from tests.browser.conftest import (
    IDP,
    PROJECT,
    PYTHON,
    Stack,
    _configure,
    _run,
    _start,
    _stop,
    _wait_http,
)
from tests.browser.test_accessibility import assert_accessible, axe_source  # noqa: F401
from tests.conftest import free_port

DOCS_IMG = PROJECT / "docs" / "img"
DEMO_PKI = PROJECT / "instance" / "demo-pki"  # [npki] demo_pki of config/testing.toml
KOTRA, KOTRA_DASHED = "1208200275", "120-82-00275"
COMPANY_PASSWORD, APPROVAL = "Kotra!story2026", "482915"
NEW_BN, NEW_BN_DASHED = "2148100006", "214-81-00006"  # 계속사업자 at the emulator, no record
NEW_PASSWORD = "Newco!story2026"
MEMBER_PASSWORD = "Story!member26"
MEMBERS = {"storyjoin1": "이승인", "storycert1": "박인증", "storylock1": "최잠금",
           "storyapply1": "정신청"}
OPERATOR_ID, OPERATOR_PASSWORD = "storyops1", "Story!ops2026"
API_SCOPES = ("kotra.services.read", "kotra.services.write", "kotra.mileage.read",
              "kotra.mileage.write")
CREDIT = 30_000
CLIENTS_FILE = "demo_clients.story.json"  # the demo site's client, in the stack's folder
# A one-page PDF (ISO 32000-1 §7.5: header, objects, xref, trailer, %%EOF).
PDF = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
       b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R"
       b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
       b"4 0 obj<</Length 60>>stream\nBT /F1 24 Tf 72 760 Td (Business Registration) Tj ET\n"
       b"endstream endobj\n"
       b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


# --- the stack ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def story(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A provider of its own (the story registers companies and locks approval passwords)
    and demo site 1, configured as tests/browser/conftest.py's `stack` (same helpers); the
    site's client may call the mileage API; the story's members; the demo PKI on disk."""
    del browser
    ensure_demo_pki(DEMO_PKI)  # the files a person picks; the provider trusts its root
    tmp = tmp_path_factory.mktemp("story")
    idp_port, port1 = free_port(), free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "DEMO_CLIENT"))}
    env.update({"IDP_ENV": "testing", "IDP_DATABASE_URL": f"sqlite:///{tmp / 'story.sqlite3'}",
                "IDP_ISSUER": issuer, "PYTHONUNBUFFERED": "1",
                # the NTS emulator and the demo CRL are served by the provider it calls
                "IDP_SERVER_THREADS": "4"})
    stack = Stack(issuer=issuer, site1=f"http://127.0.0.1:{port1}", site2="", tmp=tmp,
                  env=env)
    config_path = tmp / CLIENTS_FILE
    _run([IDP, "db", "upgrade", "--json"], env)
    try:
        provider = _start(stack, "idp-story", [IDP, "serve", "--bind", f"127.0.0.1:{idp_port}",
                                               "--workers", "2"], env)
        stack.site2 = f"http://127.0.0.1:{free_port()}"  # registered, never started
        _configure(stack, env, config_path)
        clients = json.loads(config_path.read_text(encoding="utf-8"))
        with ThreadPoolExecutor(max_workers=4) as pool:
            allowed = pool.submit(_run, [IDP, "api", "allow", clients["site1"]["client_id"],
                                         *[a for s in API_SCOPES for a in ("--scope", s)],
                                         "--json"], env)
            made = [pool.submit(_run, [IDP, "members", "add", "--login-id", login_id,
                                       "--name", name, "--email", f"{login_id}@example.com",
                                       "--password-stdin", "--json"], env, MEMBER_PASSWORD)
                    for login_id, name in MEMBERS.items()]
            allowed.result()
            for done in made:
                done.result()
        stack.members.update(dict.fromkeys(MEMBERS, MEMBER_PASSWORD))
        site = _start(stack, "site1-story", [PYTHON, "-m", "clients.demo_site", "--site", "1",
                                             "--port", str(port1), "--issuer", issuer,
                                             "--config", str(config_path)], env)
        _wait_http(f"{issuer}/healthz", provider, stack)
        _wait_http(f"{stack.site1}/", site, stack)
        yield stack
    finally:
        _stop(stack)


@pytest.fixture(scope="module")
def people(browser: Any, story: Stack) -> Iterator[dict[str, Any]]:
    """One browser profile per person of the story, kept across its steps."""
    del story
    made: dict[str, Any] = {}

    def person(name: str) -> Any:
        if name not in made:
            ctx = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
            ctx.set_default_timeout(15_000)
            made[name] = ctx.new_page()
        return made[name]
    try:
        yield {"page": person}
    finally:
        for page in made.values():
            page.context.close()


@pytest.fixture(scope="module")
def certificate() -> dict[str, str]:
    """대한무역투자진흥공사's demo certificate files and their password (README.txt)."""
    summary = demo_summary(DEMO_PKI)
    assert summary is not None, f"no demo PKI in {DEMO_PKI}"
    [kotra] = [p for p in summary["people"] if p.get("business_number") == KOTRA]
    return {"cert": str(DEMO_PKI / kotra["files"]["signCert"]),
            "key": str(DEMO_PKI / kotra["files"]["signPri"]), "password": kotra["password"]}


# --- helpers --------------------------------------------------------------------------------

def shot(page: Any, name: str) -> None:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / f"story-{name}.png"), full_page=True)


def on(base: str, path: str = r"/.*") -> re.Pattern[str]:
    return re.compile("^" + re.escape(base) + path)


def use_certificate(page: Any, purpose: str, files: dict[str, str], axe: str | None = None,
                    state: str = "") -> None:
    """인증서찾기: pick signCert.der and signPri.key (axe-core on the page then, when given),
    type the password, 확인."""
    widget = page.locator(f"#npki-{purpose}")
    widget.locator(".npki-form").wait_for()
    page.locator(f"#npki-{purpose}-cert").set_input_files(files["cert"])
    page.locator(f"#npki-{purpose}-key").set_input_files(files["key"])
    widget.locator(".npki-subject").filter(has_text="대한무역투자진흥공사").wait_for()
    assert widget.locator(".npki-policy").inner_text() == "범용(법인)"
    if axe:
        assert_accessible(page, axe, state)
    page.locator(f"#npki-{purpose}-password").fill(files["password"])
    widget.locator(".npki-submit").click()


def sign_in_form(page: Any, login_id: str, password: str) -> None:
    page.locator("#login_id").fill(login_id)
    page.locator("#password").fill(password)
    page.locator("#tab-general button[type=submit]").click()


def open_my_company(page: Any, stack: Stack, login_id: str) -> None:
    page.goto(stack.issuer + "/my/company")
    page.wait_for_url(on(stack.issuer, r"/(interaction/.*|my/company)$"))
    if "/interaction/" in page.url:
        sign_in_form(page, login_id, stack.members[login_id])
        page.wait_for_url(on(stack.issuer, r"/my/company$"))


def search_company(page: Any, number: str) -> None:
    page.get_by_label("사업자등록번호").fill(number)
    page.get_by_role("button", name="검색").click()
    page.wait_for_url(re.compile(r"/my/company\?business_number="))
    page.locator("#company-record").wait_for()


def row(page: Any, header: str) -> str:
    return str(page.locator("tr", has=page.locator("th", has_text=header)).locator("td")
               .first.inner_text())


def site_sign_in(page: Any, stack: Stack, login_id: str) -> None:
    """Demo site 1's 로그인: the provider's login page (or single sign-on), back at the site."""
    page.goto(stack.site1 + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^(" + re.escape(stack.site1) + "|" + re.escape(stack.issuer)
                                 + r"/interaction/)"))
    if page.url.startswith(stack.issuer):
        sign_in_form(page, login_id, stack.members[login_id])
        page.wait_for_url(on(stack.site1))
    page.get_by_text("환영합니다").wait_for()


def company_login(page: Any, stack: Stack, number: str, password: str) -> None:
    """The login page's 기업정보 관리 tab: business number + company password."""
    page.goto(stack.issuer + "/company")
    page.wait_for_url(on(stack.issuer, r"/interaction/"))
    page.get_by_role("tab", name="기업정보 관리").click()
    page.locator("#business_number").fill(number)
    page.locator("#company_password").fill(password)
    page.locator("#company-login").click()
    page.wait_for_url(stack.issuer + "/company")


def site_client(stack: Stack) -> dict[str, str]:
    config = json.loads((stack.tmp / CLIENTS_FILE).read_text(encoding="utf-8"))
    client: dict[str, str] = config["site1"]
    return client


def earn(stack: Stack, number: str, amount: int) -> dict[str, Any]:
    """Credit the company through the provider's API as demo site 1 (docs/api.md)."""
    client = site_client(stack)
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
    token_req = urllib.request.Request(
        stack.issuer + "/token", data=b"grant_type=client_credentials&scope=kotra.mileage.write",
        headers={"Authorization": "Basic " + basic.decode(),
                 "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(token_req, timeout=10) as resp:
        token = json.loads(resp.read())["access_token"]
    req = urllib.request.Request(
        f"{stack.issuer}/api/v1/companies/{number}/mileage/earnings",
        data=json.dumps({"amount": amount, "reason": "수출상담회 참가 적립",
                         "service": "해외 수출상담회"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Idempotency-Key": f"story-{number}-{amount}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
    return result


def outbox(stack: Stack) -> list[dict[str, Any]]:
    with urllib.request.urlopen(stack.issuer + "/dev/outbox.json", timeout=10) as resp:
        messages: list[dict[str, Any]] = json.loads(resp.read())["messages"]
    return messages


# --- the story ------------------------------------------------------------------------------

def test_1_register_kotra_with_the_demo_certificate_files(
        story: Stack, people: Any, certificate: dict[str, str],
        axe_source: str) -> None:  # noqa: F811
    page = people["page"]("manager")
    page.goto(story.issuer + "/company/register")
    if page.locator("#agree_all").count():
        page.check("#agree_all")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/number$"))
    page.fill("#business_number", KOTRA_DASHED)
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/found$"))
    record = page.inner_text("#company-record")
    assert "대한무역투자진흥공사" in record and KOTRA_DASHED in record, record

    page.locator("#npki-register .npki-form").wait_for()
    page.locator("#npki-register-cert").set_input_files(certificate["cert"])
    page.locator("#npki-register-key").set_input_files(certificate["key"])
    page.locator("#npki-register .npki-subject").filter(has_text="대한무역투자진흥공사").wait_for()
    assert page.locator("#npki-register .npki-policy").inner_text() == "범용(법인)"
    assert_accessible(page, axe_source, "register: the demo certificate chosen")
    page.locator("#npki-register-password").fill(certificate["password"])
    shot(page, "1-register-certificate")
    page.locator("#npki-register .npki-submit").click()
    page.wait_for_url(re.compile(r"/form$"))
    assert page.input_value("#name_en") == "Korea Trade Investment Promotion Agency"
    shot(page, "2-register-form")

    page.fill("#password", COMPANY_PASSWORD)
    page.fill("#password_confirm", COMPANY_PASSWORD)
    page.fill("#approval_password", APPROVAL)
    page.fill("#approval_password_confirm", APPROVAL)
    page.select_option("#company_type", "public")
    page.select_option("#classification", "nonprofit")
    page.select_option("#trade_kind", "other")
    page.fill("#main_product", "무역진흥")
    page.check("#venture-no")
    if not page.input_value("#email"):  # (the demo directory has no email for KOTRA)
        page.fill("#email", "trade@kotra.example")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/done$"))
    assert "기업정보 등록이 완료되었습니다." in page.inner_text("#done-title")
    shot(page, "3-register-done")

    company_login(page, story, KOTRA_DASHED, COMPANY_PASSWORD)
    assert page.get_by_role("heading", name="MY KOTRA 홈").is_visible()
    assert "대한무역투자진흥공사" in page.content()
    shot(page, "4-console-home")


def test_2_a_member_joins_by_the_approval_password(story: Stack, people: Any) -> None:
    page = people["page"]("storyjoin1")
    open_my_company(page, story, "storyjoin1")
    search_company(page, KOTRA_DASHED)
    assert "대한무역투자진흥공사" in page.locator("#company-record").inner_text()
    page.get_by_label("승인비밀번호").fill(APPROVAL)
    page.get_by_role("button", name="비밀번호 확인").click()
    page.wait_for_url(re.compile(r"/my/company\?done=joined"))
    current = page.locator("#current-company").inner_text()
    assert "대한무역투자진흥공사" in current and "승인 비밀번호" in current, current


def test_3_the_relying_party_sees_the_company(story: Stack, people: Any) -> None:
    page = people["page"]("storyjoin1")
    site_sign_in(page, story, "storyjoin1")
    assert page.get_by_text("이승인님, 환영합니다.").is_visible()
    company = row(page, "소속 기업")
    assert "대한무역투자진흥공사" in company and KOTRA in company, company
    assert "승인 비밀번호로 소속" in company, company
    entitlements = row(page, "권한")
    assert "approve_employees" in entitlements, entitlements
    assert "service_mileage" not in entitlements, entitlements
    shot(page, "5-site-claims")

    # The company's manager at the same site, through the same authorization flow.
    manager = people["page"]("manager-at-site")
    manager.goto(story.site1 + "/")
    manager.get_by_role("link", name="로그인", exact=True).click()
    manager.wait_for_url(on(story.issuer, r"/interaction/"))
    manager.get_by_role("tab", name="기업정보 관리").click()
    manager.locator("#business_number").fill(KOTRA)
    manager.locator("#company_password").fill(COMPANY_PASSWORD)
    manager.locator("#company-login").click()
    manager.wait_for_url(on(story.site1))
    assert row(manager, "회원 유형") == "기업정보 관리자"
    assert "대한무역투자진흥공사" in row(manager, "소속 기업")


def test_4_certificate_member_steps_up_to_use_mileage(
        story: Stack, people: Any, certificate: dict[str, str],
        axe_source: str) -> None:  # noqa: F811
    page = people["page"]("storycert1")
    open_my_company(page, story, "storycert1")
    search_company(page, KOTRA)
    use_certificate(page, "affiliate", certificate, axe_source,
                    "소속기업 관리: the company's certificate chosen")
    page.wait_for_url(re.compile(r"/my/company\?done=joined"))
    current = page.locator("#current-company").inner_text()
    assert "대한무역투자진흥공사" in current and "인증서" in current, current
    assert_accessible(page, axe_source, "소속기업 관리: joined by the certificate")

    earned = earn(story, KOTRA, CREDIT)
    assert earned["balance_after"] == CREDIT, earned
    site_sign_in(page, story, "storycert1")
    assert "기업 범용인증서로 소속" in row(page, "소속 기업")
    assert "service_mileage" in row(page, "권한")
    page.goto(story.site1 + "/mileage")
    assert page.locator("#balance").inner_text() == f"{CREDIT:,}점"
    page.fill("#amount", "12000")
    page.fill("#reason", "해외시장조사 번역")
    shot(page, "6-site-mileage")
    page.get_by_role("button", name="신청하기").click()  # a participation, through the API
    page.wait_for_url(on(story.site1, r"/mileage$"))
    assert "접수되었습니다" in page.get_by_role("status").inner_text()
    page.fill("#amount", "12000")
    page.fill("#reason", "해외시장조사 번역")
    page.get_by_role("button", name="마일리지 사용").click()

    # prompt=login with acr_values=certificate: the password again, then 인증서 로그인.
    page.wait_for_url(on(story.issuer, r"/interaction/"))
    if page.locator("#login_id").count():
        sign_in_form(page, "storycert1", MEMBER_PASSWORD)
    page.locator("#member-certificate-login").wait_for()
    shot(page, "7-step-up")
    page.locator("#member-certificate-login").click()
    page.wait_for_url(re.compile(r"/interaction/[^/]+/certificate$"))
    use_certificate(page, "login", certificate, axe_source,
                    "인증서 로그인 (step-up): the certificate chosen")
    page.wait_for_url(on(story.site1, r"/mileage$"))
    status = page.get_by_role("status").inner_text()
    assert "마일리지 12,000점을 사용했습니다" in status, status
    assert page.locator("#balance").inner_text() == f"{CREDIT - 12000:,}점"
    shot(page, "8-site-mileage-used")


def test_5_revoke_signs_the_site_out_and_drops_the_claim(story: Stack, people: Any) -> None:
    office = people["page"]("manager")
    office.goto(story.issuer + "/company/mileage")  # the site's use, in the console
    assert office.locator("#mileage-balance").inner_text().endswith(f"{CREDIT - 12000:,}")
    assert office.get_by_text("해외시장조사 번역").is_visible()
    office.goto(story.issuer + "/company/services")  # the site's participation
    assert office.get_by_role("cell", name="박*증").is_visible()
    office.goto(story.issuer + "/company/employees")
    assert office.get_by_role("cell", name="storycert1").is_visible()
    assert office.get_by_role("cell", name="storyjoin1").is_visible()
    office.get_by_role("link", name="박인증 소속 해제").click()
    office.locator("#revoke-question").wait_for()
    office.locator("#revoke-confirm").click()
    office.wait_for_url(re.compile(r"/company/employees\?revoked=1"))
    assert office.get_by_role("cell", name="storycert1").count() == 0
    shot(office, "9-console-revoked")

    site = people["page"]("storycert1")
    deadline = time.monotonic() + 5.0
    site.goto(story.site1 + "/")
    while (not site.get_by_role("link", name="로그인", exact=True).is_visible()
           and time.monotonic() < deadline):
        site.wait_for_timeout(100)
        site.goto(story.site1 + "/")
    assert site.get_by_role("link", name="로그인", exact=True).is_visible(), story.logs()
    site_sign_in(site, story, "storycert1")
    assert row(site, "소속 기업") == "없음"
    assert "service_mileage" not in row(site, "권한")
    shot(site, "10-site-claim-gone")


def test_6_wrong_approval_passwords_lock_and_the_console_tells(
        story: Stack, people: Any) -> None:
    page = people["page"]("storylock1")
    open_my_company(page, story, "storylock1")
    search_company(page, KOTRA_DASHED)
    for i in range(10):
        if page.get_by_label("승인비밀번호").count() == 0:
            break
        page.get_by_label("승인비밀번호").fill(f"90817{i}")
        page.get_by_role("button", name="비밀번호 확인").click()
        page.get_by_role("alert").wait_for()
    alert = page.get_by_role("alert").inner_text()
    assert "승인 비밀번호를 여러 번 잘못 입력하셨습니다." in alert, alert
    shot(page, "11-approval-locked")

    office = people["page"]("manager")
    office.goto(story.issuer + "/company")
    assert office.get_by_text("승인 비밀번호가 여러 번 틀려").is_visible()
    shot(office, "12-console-notice")


def test_6b_manager_signs_in_with_the_certificate_and_edits_the_company(
        story: Stack, people: Any, certificate: dict[str, str],
        axe_source: str) -> None:  # noqa: F811
    """공동인증서 로그인 on the 기업정보 관리 tab (the business number typed, the widget), then
    기업정보 수정, which needs a certificate authentication of the last minutes."""
    page = people["page"]("manager-certificate")
    page.goto(story.issuer + "/company")
    page.wait_for_url(on(story.issuer, r"/interaction/"))
    page.get_by_role("tab", name="기업정보 관리").click()
    page.locator("#business_number").fill(KOTRA_DASHED)
    use_certificate(page, "login", certificate, axe_source,
                    "기업정보 관리 tab: the certificate chosen")
    page.wait_for_url(story.issuer + "/company")
    assert page.get_by_role("heading", name="MY KOTRA 홈").is_visible()

    page.get_by_role("link", name="기업정보 수정").click()
    page.wait_for_url(story.issuer + "/company/info")
    assert page.locator("#certified").is_visible()  # the sign-in by the certificate counts
    shot(page, "12b-console-info-certified")

    # The manager signed in by the password: 기업인증 first (the widget, purpose manage), then
    # the approval password changes.
    office = people["page"]("manager")
    office.goto(story.issuer + "/company/approval-password")
    assert office.locator("#approval-warning").is_visible()
    use_certificate(office, "manage", certificate)
    office.wait_for_url(re.compile(r"/company/approval-password(\?.*)?$"))
    office.locator("#certified").wait_for()
    office.locator("#approval_password").fill("604917")
    office.locator("#approval_password_confirm").fill("604917")
    office.get_by_role("button", name="변경하기").click()
    office.wait_for_url(re.compile(r"/company/approval-password\?done=1"))
    assert office.locator("#approval-done").is_visible()


def test_6c_the_registered_answers_show_in_the_console_and_save(
        story: Stack, people: Any) -> None:
    page = people["page"]("manager-certificate")  # certified in test 6b
    page.goto(story.issuer + "/company/info")
    assert page.locator("#certified").is_visible()
    for label in ("기업유형", "기업분류", "제조/무역구분", "대표품목", "대표이메일"):
        field = page.get_by_label(re.compile("^" + re.escape(label)))
        assert field.input_value() != "", f"{label}: the registration's answer is not shown"
    page.locator("#homepage").fill("www.kotra.or.kr")
    page.get_by_role("button", name="저장하기").click()
    page.wait_for_url(re.compile(r"/company/info\?saved=1"), timeout=5000)
    assert page.input_value("#homepage") == "www.kotra.or.kr"


def test_7_operator_reviews_a_new_company(story: Stack, people: Any, tmp_path: Path,
                                          axe_source: str) -> None:  # noqa: F811
    page = people["page"]("storyapply1")
    page.goto(story.issuer + "/my")
    page.wait_for_url(on(story.issuer, r"/interaction/"))
    sign_in_form(page, "storyapply1", MEMBER_PASSWORD)
    page.wait_for_url(on(story.issuer, r"/my$"))
    page.goto(story.issuer + "/company/register")
    if page.locator("#agree_all").count():
        page.check("#agree_all")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/number$"))
    page.fill("#business_number", NEW_BN)
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/new$"))
    assert page.input_value("#applicant_name") == "정신청"
    scan = tmp_path / "사업자등록증.pdf"
    scan.write_bytes(PDF)
    page.set_input_files("#document", str(scan))
    for key, value in (("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD),
                       ("approval_password", "730418"),
                       ("approval_password_confirm", "730418"), ("name", "(주)스토리무역"),
                       ("name_en", "Story Trading Co., Ltd."), ("ceo_name", "정대표"),
                       ("ceo_name_en", "Jung CEO"), ("main_product", "화장품"),
                       ("phone", "02-555-1234"), ("email", "ceo@story-trading.example")):
        page.fill(f"#{key}", value)
    page.select_option("#company_type", "small")
    page.select_option("#classification", "corporation")
    page.select_option("#trade_kind", "trading")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/done$"))
    assert "접수되었습니다" in page.inner_text("#done-title")
    shot(page, "13-new-company-pending")
    # A company waiting for review cannot be joined.
    page.goto(story.issuer + "/my/company")
    page.get_by_label("사업자등록번호").fill(NEW_BN)
    page.get_by_role("button", name="검색").click()
    page.wait_for_url(re.compile(r"/my/company\?business_number="))
    assert "승인을 기다리고 있는 기업입니다" in page.locator("main").inner_text()
    assert page.locator("#approval_password").count() == 0

    made = _run([IDP, "operators", "add", "--login-id", OPERATOR_ID, "--name", "김심사",
                 "--password-stdin", "--json"], story.env, OPERATOR_PASSWORD + "\n")
    secret = parse_qs(urlsplit(made["otpauth_uri"]).query)["secret"][0]
    ops = people["page"]("operator")
    ops.goto(story.issuer + "/operator/")
    ops.wait_for_url(re.compile(r"/operator/login"))
    ops.get_by_label("아이디").fill(OPERATOR_ID)
    ops.get_by_label("비밀번호").fill(OPERATOR_PASSWORD)
    ops.get_by_role("button", name="다음").click()
    ops.wait_for_url(re.compile(r"/operator/login/otp"))
    ops.get_by_label("인증 코드").fill(pyotp.TOTP(secret).now())
    ops.get_by_role("button", name="로그인").click()
    ops.wait_for_url(re.compile(r"/operator/$"))
    row_ = ops.get_by_role("row").filter(has_text="(주)스토리무역")
    assert NEW_BN_DASHED in row_.inner_text()
    row_.get_by_role("link", name="(주)스토리무역").click()
    ops.wait_for_url(re.compile(r"/operator/requests/\d+$"))
    link = ops.locator("#document-link")
    assert "사업자등록증.pdf" in link.inner_text()
    details = ops.locator("main").inner_text()
    assert "기업유형\t중소기업" in details or "기업유형\n중소기업" in details, details
    assert_accessible(ops, axe_source, "operator: a request with a PDF")
    shot(ops, "14-operator-request")
    document = ops.request.get(link.get_attribute("href") and
                               story.issuer + str(link.get_attribute("href")))
    assert document.status == 200 and document.body() == PDF
    assert document.headers["content-type"].startswith("application/pdf")
    ops.get_by_label("승인", exact=True).check()
    ops.get_by_role("button", name="처리").click()
    ops.get_by_role("status").wait_for()
    assert "승인하였습니다" in ops.get_by_role("status").inner_text()
    assert ops.locator("#company-status").inner_text() == "정상"

    # The decision's email is queued with it and sent by the worker thread the request woke.
    deadline, told = time.monotonic() + 15, []
    while not told and time.monotonic() < deadline:
        told = [m for m in outbox(story) if "storyapply1@example.com" in json.dumps(
            m, ensure_ascii=False)]
        time.sleep(0.1)
    assert told, outbox(story)
    assert "(주)스토리무역" in json.dumps(told[-1], ensure_ascii=False), told[-1]

    newco = people["page"]("newco")
    company_login(newco, story, NEW_BN_DASHED, NEW_PASSWORD)
    assert newco.get_by_role("heading", name="MY KOTRA 홈").is_visible()
    assert "(주)스토리무역" in newco.content()
    assert newco.get_by_text("기업정보 등록 신청이 승인되었습니다.").is_visible()
    shot(newco, "15-new-company-console")
