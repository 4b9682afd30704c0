"""The app factory (clients/demo_site/app.py)."""

from __future__ import annotations

import socket

from clients.demo_site import create_app
from tests.clients.demo_site.support import CLIENT


def test_cookie_names_differ_per_site(issuer):
    one = create_app(1, issuer.url, dict(CLIENT))
    two = create_app(2, issuer.url, dict(CLIENT))
    try:
        assert one.extensions["demo_site"].cookie_name == "demo_site1_session"
        assert two.extensions["demo_site"].cookie_name == "demo_site2_session"
        assert "사업 신청" in two.test_client().get("/").get_data(as_text=True)
    finally:
        one.extensions["demo_site"].close()
        two.extensions["demo_site"].close()


def test_unreachable_provider_shows_a_korean_error_page(monkeypatch):
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        issuer = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = create_app(1, issuer, dict(CLIENT))
    try:
        resp = app.test_client().get("/login")
        assert resp.status_code == 502
        assert "통합회원 서비스(인증 서버)에 연결할 수 없습니다" in resp.get_data(as_text=True)
        assert resp.headers["Cache-Control"] == "no-store"
    finally:
        app.extensions["demo_site"].close()
