"""비밀번호 재설정 in real Chromium (manual ch. 08, issue 6): from demo site 1's sign-in, the
login page's "비밀번호 재설정" link, the ID, the identity verification, the new password with
안전도, the done page's 로그인 back to the same sign-in with the new password — and the
session the member had at the demo site in another browser is gone (back-channel logout).

The identity verification's vendor round trip belongs to the verification adapters; here the
result is left for this browser on the stack's database exactly as the vendor callback leaves
it (idp.services.identity.Verifications.complete), like tests.helpers.give_verification.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import IDP, _run
from tests.helpers import verified_identity

Stack = Any
RESET_LOGIN_ID = "resetuser1"
OLD_PASSWORD = "Reset!old2026"
NEW_PASSWORD = "Reset!new2027"
CI = "CI-browser-reset-user-0001"


def _on(base: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(base) + r"/(\?.*)?$")


@pytest.fixture(scope="module")
def stack_app(stack: Stack) -> Iterator[Any]:
    """The provider's app in this process, on the stack's database (same testing secret:
    the same CI look-up hashes)."""
    app = open_stack_app(stack)
    yield app
    close_stack_app(app)


def open_stack_app(stack: Stack) -> Any:
    from idp import create_app

    return create_app({"database_url": stack.env["IDP_DATABASE_URL"],
                       "issuer": stack.issuer, "redis_url": ""})


def close_stack_app(app: Any) -> None:
    from idp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


def add_member_with_identity(stack: Stack, stack_app: Any, login_id: str, password: str,
                             ci: str) -> None:
    """A member made by the CLI, with the verified identity sign-up would have stored."""
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models import Member, MemberIdentity

    _run([IDP, "members", "add", "--login-id", login_id, "--name", "재설정",
          "--email", f"{login_id}@example.com", "--password-stdin", "--json"], stack.env,
         password)
    with stack_app.app_context():
        pd = stack_app.extensions["idp"].personal_data
        member = db.session.scalars(select(Member).where(Member.login_id == login_id)).one()
        db.session.add(MemberIdentity(
            member_id=member.id, ci_hash=pd.lookup_hash("ci", ci),
            di_hash=pd.lookup_hash("di", "DI" + ci), ci_sealed=pd.seal(ci, "ci"),
            di_sealed=pd.seal("DI" + ci, "di"), name="재설정", birthdate=dt.date(1980, 5, 5),
            gender="F", nationality="domestic", carrier="KT", method="mobile",
            vendor="test"))
        db.session.commit()


def give_browser_verification(stack_app: Any, context: Any, ci: str) -> str:
    """A completed 'reset_password' verification bound to this browser; its request id."""
    from idp.cookies import build_cookies
    from idp.extensions import db

    p = stack_app.extensions["idp"]
    name = build_cookies(p.settings, secure=False).browser.name
    browser = next(c["value"] for c in context.cookies() if c["name"] == name)
    identity = verified_identity(ci=ci, name="재설정")
    with stack_app.app_context():
        req = p.verifications.start(purpose="reset_password", method="mobile",
                                    browser=browser, return_to="/")
        p.verifications.complete(req, identity, browser=browser)
        db.session.commit()
    return str(req.id)


def walk_to_password_page(page: Any, context: Any, stack: Stack, stack_app: Any,
                          login_id: str, ci: str, shots: Path | None = None) -> None:
    """Site 1 → 로그인 → 비밀번호 재설정 → ID → 본인인증 → the new-password page."""
    page.goto(stack.site1 + "/")
    page.get_by_role("link", name="로그인", exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
    page.get_by_role("link", name="비밀번호 재설정").click()
    page.wait_for_url(re.compile(r"/reset-password\?ia="))
    if shots:
        page.screenshot(path=str(shots / "reset-1-id.png"), full_page=True)
    page.get_by_label("아이디").fill(login_id)
    page.get_by_role("button", name="다음").click()
    page.wait_for_url(re.compile(r"/reset-password/[^/?]+$"))
    if shots:
        page.screenshot(path=str(shots / "reset-2-verify.png"), full_page=True)
    vr = give_browser_verification(stack_app, context, ci)
    page.goto(page.url + f"/verified?vr={vr}")
    page.wait_for_url(re.compile(r"/password$"))


def test_reset_the_password_then_sign_in_and_the_old_session_is_gone(
        browser: Any, stack: Stack, stack_app: Any, artifacts_dir: Path) -> None:
    add_member_with_identity(stack, stack_app, RESET_LOGIN_ID, OLD_PASSWORD, CI)
    # Browser 1: signed in at demo site 1 with the old password.
    laptop = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    phone = browser.new_context(locale="ko-KR", viewport={"width": 1100, "height": 900})
    try:
        old = laptop.new_page()
        old.goto(stack.site1 + "/")
        old.get_by_role("link", name="로그인", exact=True).click()
        old.locator("#login_id").fill(RESET_LOGIN_ID)
        old.locator("#password").fill(OLD_PASSWORD)
        old.locator("form button[type=submit]").click()
        old.wait_for_url(_on(stack.site1))
        assert old.get_by_text("환영합니다").count() == 1, stack.logs()

        # Browser 2: forgot the password.
        page = phone.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        walk_to_password_page(page, phone, stack, stack_app, RESET_LOGIN_ID, CI,
                              artifacts_dir)
        page.locator("#password").fill(NEW_PASSWORD)
        assert page.locator("#pw-strength").inner_text().startswith("안전도")
        page.locator("#confirm").fill(NEW_PASSWORD)
        assert page.locator("#pw-match").inner_text() == "비밀번호가 일치합니다."
        page.screenshot(path=str(artifacts_dir / "reset-3-password.png"), full_page=True)
        page.get_by_role("button", name="저장하기").click()
        page.wait_for_url(re.compile(r"/done$"))
        assert page.get_by_text("비밀번호가 재설정되었습니다").is_visible()
        page.screenshot(path=str(artifacts_dir / "reset-4-done.png"), full_page=True)

        # 로그인 → the same sign-in of site 1, now with the new password.
        page.get_by_role("main").get_by_role("link", name="로그인", exact=True).click()
        page.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        page.locator("#login_id").fill(RESET_LOGIN_ID)
        page.locator("#password").fill(NEW_PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(_on(stack.site1))
        assert page.get_by_text("재설정님, 환영합니다.").is_visible(), stack.logs()
        page.screenshot(path=str(artifacts_dir / "reset-5-signed-in.png"), full_page=True)
        assert problems == []

        # Browser 1's session at site 1 was ended over the back channel.
        deadline = time.monotonic() + 3.0
        old.goto(stack.site1 + "/")
        while old.get_by_text("환영합니다").count() and time.monotonic() < deadline:
            old.wait_for_timeout(100)
            old.goto(stack.site1 + "/")
        assert old.get_by_text("환영합니다").count() == 0, stack.logs()
        assert old.get_by_role("link", name="로그인", exact=True).is_visible()
        old.screenshot(path=str(artifacts_dir / "reset-6-old-session-gone.png"),
                       full_page=True)
        # ... and at the provider: signing in again asks for the password, the old one fails.
        old.get_by_role("link", name="로그인", exact=True).click()
        old.wait_for_url(re.compile("^" + re.escape(stack.issuer) + r"/interaction/"))
        old.locator("#login_id").fill(RESET_LOGIN_ID)
        old.locator("#password").fill(OLD_PASSWORD)
        old.locator("form button[type=submit]").click()
        old.get_by_role("alert").wait_for()
        assert "일치하지 않습니다" in old.get_by_role("alert").inner_text()
    finally:
        laptop.close()
        phone.close()
