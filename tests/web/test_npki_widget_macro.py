"""The 인증서찾기 macro (templates/certificate/_widget.html) as other pages call it: its data for
static/npki/widget.js, escaping, no inline script (the page CSP), both languages."""

from __future__ import annotations

import re
from typing import Any

from flask import render_template_string

CALL = ('{% from "certificate/_widget.html" import certificate_widget %}'
        "{{ certificate_widget(purpose, next, business_number=bn, business_number_field=field) }}")


def render(app: Any, lang: str = "ko", **kwargs: Any) -> str:
    args = {"purpose": "register", "next": "/company/form", "bn": None, "field": None, **kwargs}
    with app.test_request_context(f"/?lang={lang}"):
        return render_template_string(CALL, **args)


def test_fixed_business_number_and_challenge_url(app: Any) -> None:
    html = render(app, purpose="login", next="/company/login?x=1&y=2", bn="1248100998")
    assert 'id="npki-login"' in html and 'data-purpose="login"' in html
    assert 'data-next="/company/login?x=1&amp;y=2"' in html  # escaped
    assert 'data-business-number="1248100998"' in html
    assert "data-business-number-field" not in html
    assert 'data-challenge-url="/certificate/challenge"' in html
    assert re.search(r'data-csrf="[^"]{20,}"', html)
    for part in ("cert", "key", "pfx", "password", "status"):
        assert f'id="npki-login-{part}"' in html
        if part not in ("status",):
            assert f'for="npki-login-{part}"' in html  # every input labelled
    assert '<form' not in html  # it sits inside other pages' forms


def test_field_and_no_inline_script(app: Any) -> None:
    html = render(app, field='bn"><script>')
    assert 'data-business-number-field="bn&#34;&gt;&lt;script&gt;"' in html
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]  # one external module, no inline code (script-src 'self')
    assert 'type="module" src="/static/npki/widget.js"' in html
    assert " style=" not in html and "onclick" not in html


def test_korean_and_english(app: Any) -> None:
    ko = render(app)
    assert "인증서찾기" in ko and "인증서 암호가 올바르지 않습니다. 다시 입력해 주세요." in ko
    en = render(app, lang="en")
    assert "Find certificate" in en and "The certificate password is not correct." in en
    assert "인증서" not in re.sub(r"\(signCert\.der\)|signPri", "", en)


def test_guard_flag_for_pages_written_before_the_widget(app: Any) -> None:
    with app.test_request_context("/"):
        assert render_template_string("{{ npki_widget_available }}") == "True"
