"""The development outbox pages (/dev/outbox, /dev/outbox.json): every message, newest first, in
development and testing; no such pages in production."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from idp import create_app
from idp.extensions import db


def _send(app: Any) -> None:
    with app.app_context():
        notify = app.extensions["idp"].notify
        notify.sms(to="01012345678", text="[KOTRA] 인증번호 [123456]")
        notify.email(to="hong@example.com", subject="[KOTRA] 안내 <b>", text="본문 <script>")
        db.session.commit()


def test_json_lists_every_message_newest_first(app, client):
    _send(app)
    resp = client.get("/dev/outbox.json")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    messages = resp.get_json()["messages"]
    assert [m["channel"] for m in messages] == ["email", "sms"]
    assert messages[0]["recipient"] == "hong@example.com"
    assert messages[0]["subject"] == "[KOTRA] 안내 <b>"
    assert messages[1]["body"] == "[KOTRA] 인증번호 [123456]" and messages[1]["subject"] is None
    assert messages[0]["created_at"].endswith("+00:00")
    only = client.get("/dev/outbox.json?to=01012345678").get_json()["messages"]
    assert [m["channel"] for m in only] == ["sms"]


def test_html_page_shows_channel_recipient_subject_body_and_time(app, client):
    _send(app)
    html = client.get("/dev/outbox").get_data(as_text=True)
    assert html.index("hong@example.com") < html.index("01012345678")  # newest first
    assert "[KOTRA] 안내 &lt;b&gt;" in html and "본문 &lt;script&gt;" in html  # escaped
    assert "문자(SMS)" in html and "이메일" in html and "KST" in html
    empty = client.get("/dev/outbox?to=nobody").get_data(as_text=True)
    assert "보낸 메시지가 없습니다" in empty


def test_no_outbox_pages_in_production(base_settings, monkeypatch):
    monkeypatch.setenv("IDP_ENV", "production")
    app = create_app({**base_settings, "secret_key": secrets.token_urlsafe(32),
                      "email": {"adapter": "smtp"}, "sms": {"adapter": "http"},
                      "nts": {"adapter": "api", "service_key": "test-key"}})  # issue 7
    try:
        client = app.test_client()
        assert client.get("/dev/outbox").status_code == 404
        assert client.get("/dev/outbox.json").status_code == 404
        assert client.get("/find-id").status_code == 200  # the rest of the site is there
    finally:
        with app.app_context():
            db.engine.dispose()
        app.extensions["idp"].store.close()


@pytest.mark.parametrize("adapter", ["email", "sms"])
def test_production_refuses_the_outbox_adapter(base_settings, monkeypatch, adapter):
    from idp.wiring import EmulatorInProduction

    monkeypatch.setenv("IDP_ENV", "production")
    settings = {**base_settings, "secret_key": secrets.token_urlsafe(32),
                "email": {"adapter": "smtp"}, "sms": {"adapter": "http"},
                "nts": {"adapter": "api", "service_key": "test-key"}}  # issue 7
    settings[adapter] = {"adapter": "outbox"}
    with pytest.raises(EmulatorInProduction, match=f"IDP_{adapter.upper()}_ADAPTER"):
        create_app(settings)


def test_an_unknown_adapter_name_refuses_the_start(base_settings):
    with pytest.raises(ValueError, match="IDP_SMS_ADAPTER"):
        create_app({**base_settings, "sms": {"adapter": "carrier-pigeon"}})
