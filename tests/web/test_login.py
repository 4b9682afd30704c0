"""The login page: generic errors, throttling and lockout, CSRF, cookies, headers, languages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from tests.helpers import PASSWORD, REDIRECT_URI, form_fields


def _login_page(client, rp):
    resp = rp.authorize(client)
    assert resp.status_code == 303
    return resp.headers["Location"]


def _post(client, location, login_id, password, **extra):
    page = client.get(location)
    action, hidden = form_fields(page.get_data(as_text=True))
    return client.post(action, data={**hidden, "login_id": login_id, "password": password,
                                     **extra})


def _events(app, name):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)).all()


def test_login_page_has_the_three_tabs_in_korean(client, rp):
    html = client.get(_login_page(client, rp)).get_data(as_text=True)
    for label in ("일반회원", "간편회원", "기업정보 관리", "아이디 저장", "로그인"):
        assert label in html


@pytest.mark.parametrize(("tab", "notice"), [
    # Issue 9: the 간편회원 tab's SNS buttons work (tests/web/test_sns.py).
    ("simple", "간편회원으로 가입 시 이용한 SNS를 선택해 주세요."),
    # Issue 7: the 기업정보 관리 tab signs company managers in (tests/web/test_company_login.py).
    ("company", "로그인 ID(사업자등록번호), 로그인 비밀번호"),
])
def test_other_tabs_render_without_breaking(client, rp, tab, notice):
    resp = client.get(_login_page(client, rp) + f"?tab={tab}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    # the tab's own content and "coming soon" notice, not the general tab's
    assert f'id="tab-{tab}"' in html and notice in html
    assert 'id="tab-general"' not in html and "간편인증 로그인은 준비 중입니다." not in html


def test_login_page_in_english_via_ui_locales(client, rp):
    resp = rp.authorize(client, ui_locales="en-US ko")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'lang="en"' in html and "General member" in html


def test_security_headers_on_login_page(client, rp):
    resp = client.get(_login_page(client, rp))
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "same-origin"  # our POSTs carry a Referer
    assert resp.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("login_id", ["member01", "nosuchuser1"])
def test_wrong_password_and_unknown_id_get_the_same_message(app, client, rp, login_id):
    resp = _post(client, _login_page(client, rp), login_id, "Wrong!pass123")
    assert resp.status_code == 401
    assert "아이디 또는 비밀번호가 일치하지 않습니다." in resp.get_data(as_text=True)
    assert _events(app, "login.failure")


def test_login_without_csrf_token_is_refused(client, rp):
    location = _login_page(client, rp)
    resp = client.post(location + "/login", data={"login_id": "member01", "password": PASSWORD})
    assert resp.status_code == 400
    assert not any(c.startswith("idp_sso=") for c in resp.headers.getlist("Set-Cookie"))
    assert client.get_cookie("idp_sso") is None
    assert rp.authorize(client).status_code == 303  # still signed out: the login page


def test_successful_login_is_303_and_sets_a_hardened_cookie(client, rp):
    resp = _post(client, _login_page(client, rp), "member01", PASSWORD, remember_id="y")
    # 303 straight to the client with the code: the browser never re-POSTs the credentials
    assert resp.status_code == 303 and resp.headers["Location"].startswith(REDIRECT_URI + "?")
    cookies = resp.headers.getlist("Set-Cookie")
    sso = next(c for c in cookies if c.startswith("idp_sso="))
    assert "HttpOnly" in sso and "SameSite=Lax" in sso
    assert any(c.startswith("idp_remember_id=member01") for c in cookies)
    again = rp.authorize(client, prompt="login").headers["Location"]
    assert 'value="member01"' in client.get(again).get_data(as_text=True)


def test_session_handle_rotates_at_each_login(client, rp):
    _post(client, _login_page(client, rp), "member01", PASSWORD)
    handle1 = client.get_cookie("idp_sso").value
    _post(client, rp.authorize(client, prompt="login").headers["Location"], "member01",
          PASSWORD)
    assert client.get_cookie("idp_sso").value != handle1


def test_growing_delay_then_lock_for_an_account(app, client, rp, clock):
    location = _login_page(client, rp)
    settings = app.config["IDP_SETTINGS"]["throttle"]
    for _ in range(settings["account_delay_after"]):
        assert _post(client, location, "member01", "Wrong!pass123").status_code == 401
    # the next attempt comes too early: refused before any password check, even a right one
    early = _post(client, location, "member01", PASSWORD)
    assert early.status_code == 429 and "Retry-After" in early.headers
    for _ in range(settings["account_lock_after"] - settings["account_delay_after"]):
        clock.advance(settings["account_delay_max"] + 1)
        assert _post(client, location, "member01", "Wrong!pass123").status_code == 401
    clock.advance(settings["account_delay_max"] + 1)
    locked = _post(client, location, "member01", PASSWORD)
    assert locked.status_code == 429
    assert "분 후 다시 시도해 주세요" in locked.get_data(as_text=True)
    assert _events(app, "login.locked")
    clock.advance(settings["lock_seconds"] + 1)
    assert _post(client, location, "member01", PASSWORD).status_code == 303


def test_unknown_ids_are_throttled_like_real_ones(app, client, rp, clock):
    location = _login_page(client, rp)
    settings = app.config["IDP_SETTINGS"]["throttle"]
    for _ in range(settings["account_delay_after"]):
        _post(client, location, "ghostuser1", "Wrong!pass123")
    assert _post(client, location, "ghostuser1", "Wrong!pass123").status_code == 429


def test_ip_lock_after_many_failures_across_accounts(app, client, rp):
    location = _login_page(client, rp)
    app.config["IDP_SETTINGS"]["throttle"]["ip_lock_after"] = 5
    p = app.extensions["idp"]
    from idp.wiring import build_throttle

    p.throttle = build_throttle(app.config["IDP_SETTINGS"], p.store, p.clock)
    for i in range(5):
        _post(client, location, f"spray{i:04d}x", "Wrong!pass123")
    assert _post(client, location, "member01", PASSWORD).status_code == 429


def test_password_hash_is_upgraded_when_parameters_change(app, client, rp):
    from idp.models import Member
    from idp.services.passwords import Passwords

    stronger = dict(app.config["IDP_SETTINGS"]["argon2"], time_cost=3)
    app.extensions["idp"].passwords = Passwords(stronger)
    _post(client, _login_page(client, rp), "member01", PASSWORD)
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.login_id == "member01"))
        assert "t=3" in member.password_hash


def test_expired_or_foreign_interaction_shows_korean_error(app, client, rp):
    location = _login_page(client, rp)
    stranger = app.test_client()  # another browser: no binding cookie
    resp = stranger.get(location)
    assert resp.status_code == 400
    assert "로그인 요청이 만료" in resp.get_data(as_text=True)


def test_health_and_readiness(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json() == {"database": "ok", "store": "ok"}


def test_a_multipart_body_is_refused_before_it_is_parsed(client, rp, monkeypatch):
    location = _login_page(client, rp)
    parsed = []
    monkeypatch.setattr("werkzeug.formparser.FormDataParser.parse",
                        lambda *a, **k: parsed.append(1))
    resp = client.post(location + "/login", data={"login_id": "member01", "password": "x"},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and parsed == []
