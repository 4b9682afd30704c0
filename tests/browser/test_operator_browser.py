"""The operator console in real Chromium (issue 7): an operator made with `idp operators add`
signs in with the password and the TOTP code its otpauth:// URI gives, opens a pending
registration, sees the uploaded 사업자등록증, approves it; the audit trail shows the decision.
Every page passes axe-core (WCAG 2.1 A/AA), in Korean and in English."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from tests.browser.conftest import IDP, Stack, _run
from tests.browser.test_accessibility import assert_accessible, axe_source  # noqa: F401

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
OPERATOR_ID = "kotraops1"
OPERATOR_PASSWORD = "Kotra!ops2026"
BUSINESS_NUMBER = "2208162517"


def _png(width: int = 640, height: int = 400) -> bytes:
    """A plain picture of a certificate (border, title bar, lines of 'text'): no imaging
    library needed, RGB, zlib-compressed rows (PNG, RFC 2083)."""
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            border = x < 8 or x >= width - 8 or y < 8 or y >= height - 8
            title = 40 <= y < 70 and 180 <= x < width - 180
            line = (y - 110) % 36 < 10 and 110 <= y < 350 and 60 <= x < width - 60 - (
                (y // 36) % 3) * 70
            seal = (x - 520) ** 2 + (y - 320) ** 2 < 40 ** 2
            if border:
                row += b"\x1f\x3a\x6b"
            elif seal:
                row += b"\xc8\x32\x32"
            elif title:
                row += b"\x33\x33\x33"
            elif line:
                row += b"\x9a\x9a\x9a"
            else:
                row += b"\xfb\xf8\xef"
        rows.append(b"\x00" + bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def review_data(stack: Stack) -> dict[str, Any]:
    """An operator (through the CLI, as staff make one) and a pending registration with its
    sealed document, written into the running provider's database."""
    made = _run([IDP, "operators", "add", "--login-id", OPERATOR_ID, "--name", "김심사",
                 "--password-stdin", "--json"], stack.env, OPERATOR_PASSWORD + "\n")
    from idp import create_app
    from tests.operator_support import pending_registration

    app = create_app({"database_url": stack.env["IDP_DATABASE_URL"], "issuer": stack.issuer,
                      "redis_url": ""})
    request_id = pending_registration(app, business_number=BUSINESS_NUMBER,
                                      name="(주)케이무역상사", applicant="demouser1",
                                      document=_png(), filename="사업자등록증.png")
    from idp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()
    return {"uri": made["otpauth_uri"], "request_id": request_id}


def _code(uri: str) -> str:
    return pyotp.TOTP(parse_qs(urlsplit(uri).query)["secret"][0]).now()


def test_operator_reviews_a_registration(context: Any, stack: Stack, review_data: Any,
                                         axe_source: str) -> None:  # noqa: F811
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    page.goto(stack.issuer + "/operator/")
    page.wait_for_url(re.compile(r"/operator/login"))
    assert_accessible(page, axe_source, "operator sign-in")
    page.get_by_label("아이디").fill(OPERATOR_ID)
    page.get_by_label("비밀번호").fill("Wrong!pass2026")
    page.get_by_role("button", name="다음").click()
    assert "아이디 또는 비밀번호가 일치하지 않습니다." in page.get_by_role("alert").inner_text()
    assert_accessible(page, axe_source, "operator sign-in with the error")
    page.screenshot(path=str(DOCS_IMG / "operator-login.png"), full_page=True)

    page.get_by_label("아이디").fill(OPERATOR_ID)
    page.get_by_label("비밀번호").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="다음").click()
    page.wait_for_url(re.compile(r"/operator/login/otp"))
    assert_accessible(page, axe_source, "operator TOTP step")
    page.get_by_label("인증 코드").fill("000000" if _code(review_data["uri"]) != "000000"
                                      else "111111")
    page.get_by_role("button", name="로그인").click()
    assert "인증 코드가 올바르지 않습니다." in page.get_by_role("alert").inner_text()
    assert_accessible(page, axe_source, "operator TOTP step with the error")
    page.screenshot(path=str(DOCS_IMG / "operator-otp.png"), full_page=True)
    page.get_by_label("인증 코드").fill(_code(review_data["uri"]))
    page.get_by_role("button", name="로그인").click()
    page.wait_for_url(re.compile(r"/operator/$"))

    assert_accessible(page, axe_source, "pending requests")
    row = page.get_by_role("row").filter(has_text="(주)케이무역상사")
    assert "220-81-62517" in row.inner_text() and "기업정보 등록" in row.inner_text()
    page.screenshot(path=str(DOCS_IMG / "operator-requests.png"), full_page=True)
    row.get_by_role("link", name="(주)케이무역상사").click()
    page.wait_for_url(re.compile(r"/operator/requests/\d+$"))
    preview = page.get_by_role("img", name=re.compile("첨부된 사업자등록증"))
    preview.wait_for()
    assert page.evaluate("(img) => img.naturalWidth", preview.element_handle()) == 640
    assert_accessible(page, axe_source, "request detail")
    page.screenshot(path=str(DOCS_IMG / "operator-request.png"), full_page=True)

    # The document itself, in a tab of its own (inline: PNG).
    with context.expect_page() as opened:
        page.locator("#document-link").click()
    document = opened.value
    document.wait_for_load_state()
    assert document.url.endswith(f"/operator/requests/{review_data['request_id']}/document")
    document.close()

    page.get_by_label("승인", exact=True).check()
    page.get_by_role("button", name="처리").click()
    page.get_by_role("status").wait_for()
    assert "승인하였습니다" in page.get_by_role("status").inner_text()
    assert page.locator("#request-status").inner_text() == "승인"
    assert page.locator("#company-status").inner_text() == "정상"
    assert_accessible(page, axe_source, "request decided")

    page.goto(stack.issuer + "/operator/audit?event=company.")
    assert "company.registration_approved" in page.locator("table").inner_text()
    assert_accessible(page, axe_source, "audit trail")
    page.goto(stack.issuer + "/operator/audit")
    page.screenshot(path=str(DOCS_IMG / "operator-audit.png"), full_page=False)
    page.goto(stack.issuer + "/operator/?status=approved&lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page, axe_source, "requests in English")
    page.goto(stack.issuer + f"/operator/requests/{review_data['request_id']}?lang=en")
    assert_accessible(page, axe_source, "request detail in English")
    page.goto(stack.issuer + "/operator/audit?lang=en")
    assert_accessible(page, axe_source, "audit trail in English")
    page.goto(stack.issuer + "/operator/?lang=ko")

    # Sign out: the console's pages send the browser back to the sign-in.
    page.get_by_role("button", name="로그아웃").click()
    page.wait_for_url(re.compile(r"/operator/login\?out=1"))
    assert "로그아웃되었습니다." in page.get_by_role("status").inner_text()
    page.goto(stack.issuer + "/operator/")
    page.wait_for_url(re.compile(r"/operator/login"))
