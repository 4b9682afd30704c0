"""SNS federation through the 간편회원 tab, against each vendor's emulator (issue 9): sign-up,
sign-in, the tokens a relying party gets, and every refusal in its own test."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import AuditEvent, Member, MemberType, SnsLink, TermsConsent
from tests.helpers import TestRP, callback_params, form_fields
from tests.sns_support import (
    agree_to_terms,
    consent_at_vendor,
    login_page,
    mode,
    path_of,
    publish_terms,
    query_of,
    round_trip,
    start,
    use_emulators,
)

PROVIDERS = ("naver", "kakao", "google", "facebook")


@pytest.fixture()
def transport(app: Any) -> Any:
    return use_emulators(app)


@pytest.fixture()
def rp(app: Any, transport: Any) -> TestRP:
    publish_terms(app)
    return TestRP.create(app, member=False)


def _claims_of(app: Any, web: Any, rp: TestRP, location: str) -> dict[str, Any]:
    params = callback_params(location, rp.redirect_uri)
    resp = rp.exchange(web, params["code"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    from joserfc import jwt

    id_token = resp.get_json()["id_token"]
    claims = dict(jwt.decode(id_token, _jwks(web), algorithms=["RS256", "ES256"]).claims)
    userinfo = web.get("/userinfo", headers={
        "Authorization": f"Bearer {resp.get_json()['access_token']}"}).get_json()
    return {"id_token": claims, "userinfo": userinfo}


def _jwks(web: Any) -> Any:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(web.get("/jwks").get_json())


def _sign_up(web: Any, rp: TestRP, name: str, **vendor: str) -> Any:
    """A new SNS user: round trip → terms (→ info) → done → 로그인; the RP's callback."""
    _, cb = round_trip(web, rp, name, **vendor)
    assert cb.status_code == 303, cb.get_data(as_text=True)[:500]
    assert "/sns/" in cb.headers["Location"] and cb.headers["Location"].endswith("/terms")
    resp = agree_to_terms(web, cb.headers["Location"])
    assert resp.status_code == 303, resp.get_data(as_text=True)[:800]
    return resp


def _finish_signup(web: Any, done_url: str) -> Any:
    page = web.get(path_of(done_url))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "간편 회원가입이 완료되었습니다." in html and "일반회원 전환" in html
    action, hidden = form_fields(html)
    return web.post(action, data=hidden)


def _members(app: Any) -> list[Member]:
    with app.app_context():
        return list(db.session.scalars(select(Member)))


def _events(app: Any, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


# ---------------------------------------------------------------------------------------------
# The tab

def test_the_tab_shows_the_four_buttons_in_the_manuals_order(client, rp):
    html = client.get(login_page(client, rp) + "?tab=simple").get_data(as_text=True)
    labels = ["네이버 로그인", "카카오톡 로그인", "구글 로그인", "페이스북 로그인"]
    positions = [html.index(label) for label in labels]
    assert positions == sorted(positions)
    assert "준비 중입니다." not in html.split('id="tab-simple"')[1].split("SNS 찾기")[0]


def test_a_provider_without_a_client_id_is_hidden(base_settings):
    from tests.conftest import make_app

    app = make_app(base_settings, facebook={"client_id": ""})
    with app.app_context():
        assert app.extensions["idp"].sns.names() == ["naver", "kakao", "google"]
    web = app.test_client()
    assert web.get("/sns/facebook/start?interaction=x").status_code == 404
    assert web.get("/sns/facebook/callback?state=x&code=y").status_code == 404
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


# ---------------------------------------------------------------------------------------------
# Full flows, per provider

@pytest.mark.parametrize("name", ["naver", "kakao"])
def test_sign_up_with_everything_given_then_sign_in(app, client, rp, name):
    """Naver and Kakao give name, email and mobile: terms → done → the relying party."""
    resp = _sign_up(client, rp, name)
    assert resp.headers["Location"].endswith("/done")
    resp = _finish_signup(client, resp.headers["Location"])
    assert resp.status_code == 303
    got = _claims_of(app, client, rp, resp.headers["Location"])
    token, info = got["id_token"], got["userinfo"]
    assert token["amr"] == ["fed"] and token["acr"] == "urn:kotra:acr:federated"
    assert info["kotra_member_type"] == "simple" and info["kotra_sns_provider"] == name
    assert set(info["kotra_entitlements"]) == {"online_consultation", "seminar_application"}
    (member,) = _members(app)
    assert member.member_type == MemberType.SIMPLE and member.login_id is None
    assert member.phone and member.phone.startswith("010-")
    with app.app_context():
        consents = db.session.scalars(select(TermsConsent)).all()
        assert {c.kind for c in consents if c.agreed} >= {"service", "privacy"}
        assert {c.source for c in consents} == {"sns_signup"}

    # Signing in again: no sign-up, the same member, straight to the relying party.
    web = app.test_client()  # another browser, no SSO session
    _, cb = round_trip(web, rp, name)
    assert cb.status_code == 303 and cb.headers["Location"].startswith(rp.redirect_uri)
    again = _claims_of(app, web, rp, cb.headers["Location"])
    assert again["id_token"]["sub"] == token["sub"]
    assert len(_members(app)) == 1


def test_kakao_user_who_declined_everything_is_asked_for_the_items(app, client, rp):
    resp = _sign_up(client, rp, "kakao", user="3000000002")
    assert resp.headers["Location"].endswith("/info")
    page = client.get(path_of(resp.headers["Location"]))
    html = page.get_data(as_text=True)
    for field in ('id="name"', 'id="mobile"', 'id="email"'):
        assert field in html
    action, hidden = form_fields(html)
    bad = client.post(action, data={**hidden, "name": "", "mobile": "12345",
                                    "email": "not-an-email"})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "이름을 입력해 주세요." in text and 'aria-invalid="true"' in text
    ok = client.post(action, data={**hidden, "name": "김동의", "mobile": "010 9999 8888",
                                   "email": "kim@example.com"})
    assert ok.status_code == 303 and ok.headers["Location"].endswith("/done")
    (member,) = _members(app)
    assert (member.name, member.phone, member.email) == ("김동의", "010-9999-8888",
                                                         "kim@example.com")
    assert member.email_verified is False  # typed here, not vouched for by Kakao


def test_kakao_phone_in_international_form_is_kept_as_a_korean_mobile(app, client, rp):
    _finish_signup(client, _sign_up(client, rp, "kakao").headers["Location"])
    (member,) = _members(app)
    assert member.phone == "010-3333-4444" and member.email_verified is True


def test_google_sign_up_asks_only_for_the_mobile(app, client, rp):
    resp = _sign_up(client, rp, "google")
    assert resp.headers["Location"].endswith("/info")
    html = client.get(path_of(resp.headers["Location"])).get_data(as_text=True)
    assert 'id="mobile"' in html and 'id="email"' not in html and 'id="name"' not in html
    action, hidden = form_fields(html)
    resp = client.post(action, data={**hidden, "mobile": "010-1234-5678"})
    resp = _finish_signup(client, resp.headers["Location"])
    got = _claims_of(app, client, rp, resp.headers["Location"])
    assert got["userinfo"]["kotra_sns_provider"] == "google"
    assert got["userinfo"]["email"] == "park.google@gmail.com"
    assert got["userinfo"]["email_verified"] is True


def test_google_second_issuer_spelling_is_accepted(app, client, rp):
    mode(app, "google", "iss_noscheme")
    _, cb = round_trip(client, rp, "google")
    assert cb.status_code == 303 and cb.headers["Location"].endswith("/terms")


@pytest.mark.parametrize(("user", "asked"), [("1000000000000001", ["mobile"]),
                                             ("1000000000000002", ["mobile", "email"])])
def test_facebook_sign_up_with_and_without_email(app, client, rp, transport, user, asked):
    resp = _sign_up(client, rp, "facebook", user=user)
    html = client.get(path_of(resp.headers["Location"])).get_data(as_text=True)
    for item in ("name", "mobile", "email"):
        assert (f'id="{item}"' in html) == (item in asked)
    # Every Graph call carried appsecret_proof, and every call a timeout.
    graph = [url for method, url, _ in transport.calls if "/me?" in url]
    assert graph and all("appsecret_proof=" in url for url in graph)
    assert all(timeout for _, _, timeout in transport.calls)


def test_identity_is_provider_and_subject_never_the_email(app, client, rp):
    """Two SNS accounts with the same email are two members; no auto-linking."""
    same = {"custom_id": "x-1", "custom_name": "홍길동", "custom_email": "same@example.com",
            "custom_mobile": "010-1000-2000"}
    _finish_signup(client, _sign_up(client, rp, "naver", user="custom", **same)
                   .headers["Location"])
    web = app.test_client()
    resp = _sign_up(web, rp, "kakao", user="custom", **{**same, "custom_id": "777"})
    _finish_signup(web, resp.headers["Location"])
    assert len(_members(app)) == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SnsLink)) == 2


def test_terms_must_be_agreed_and_cancel_returns_to_the_tab(app, client, rp):
    _, cb = round_trip(client, rp, "naver")
    page = client.get(path_of(cb.headers["Location"]))
    html = page.get_data(as_text=True)
    assert "재동의 기간(3년)동안 미접속시 계정이 삭제됩니다." in html
    for item in ("이용약관", "개인정보 수집·이용 동의", "개인정보 마케팅 활용 동의 확인"):
        assert item in html
    action, hidden = form_fields(html)
    refused = client.post(action, data={**hidden, "decision": "agree",
                                        "agree_marketing": "yes"})
    assert refused.status_code == 400 and "필수 약관" in refused.get_data(as_text=True)
    assert _members(app) == []
    cancelled = client.post(action, data={**hidden, "decision": "cancel"})
    assert cancelled.status_code == 303 and "tab=simple" in cancelled.headers["Location"]
    assert _members(app) == []


def test_the_done_page_signs_in_once(app, client, rp):
    done = _sign_up(client, rp, "naver").headers["Location"]
    page = client.get(path_of(done))
    action, hidden = form_fields(page.get_data(as_text=True))
    first = client.post(action, data=hidden)
    assert first.status_code == 303 and first.headers["Location"].startswith(rp.redirect_uri)
    second = client.post(action, data=hidden)  # a double submit: no second login
    assert second.status_code in (303, 400)
    assert len(_events(app, "login.success")) == 0  # sign-up logins are member.sns_signup
    assert len(_events(app, "member.sns_signup")) == 1


# ---------------------------------------------------------------------------------------------
# Refusals: each back to the login page (or the expired page), never a 500, nobody signed in

def _refused(app: Any, cb: Any, reason: str = "refused") -> None:
    assert cb.status_code == 303, cb.get_data(as_text=True)[:500]
    location = cb.headers["Location"]
    assert "/interaction/" in location and query_of(location)["sns"] == reason
    assert _members(app) == []


def test_user_cancels_at_the_vendor(app, client, rp):
    for name in PROVIDERS:
        login, cb = round_trip(client, rp, name, decision="cancel")
        _refused(app, cb, "cancelled")
        page = client.get(path_of(cb.headers["Location"]))
        assert "SNS 로그인이 취소되었습니다." in page.get_data(as_text=True)


def test_wrong_state_is_refused(app, client, rp):
    login = login_page(client, rp)
    started = start(client, "naver", login)
    callback = consent_at_vendor(client, started.headers["Location"])
    params = query_of(callback)
    resp = client.get("/sns/naver/callback", query_string={**params, "state": "forged"})
    assert resp.status_code == 400 and "만료" in resp.get_data(as_text=True)
    assert _members(app) == []


def test_replayed_state_is_refused(app, client, rp):
    login = login_page(client, rp)
    started = start(client, "kakao", login)
    callback = consent_at_vendor(client, started.headers["Location"])
    first = client.get(path_of(callback))
    assert first.status_code == 303 and first.headers["Location"].endswith("/terms")
    again = client.get(path_of(callback))  # the same state (and code) once more
    assert again.status_code == 400 and "만료" in again.get_data(as_text=True)


def test_callback_in_another_browser_is_refused(app, client, rp):
    login = login_page(client, rp)
    started = start(client, "google", login)
    callback = consent_at_vendor(client, started.headers["Location"])
    other = app.test_client()  # the attacker's browser, or a link sent to someone else
    resp = other.get(path_of(callback))
    assert resp.status_code == 400
    assert _members(app) == []
    # The other browser could not use up the transaction: its own browser still can.
    assert client.get(path_of(callback)).status_code == 303


def test_mix_up_a_transaction_of_one_provider_at_another_callback(app, client, rp):
    login = login_page(client, rp)
    started = start(client, "kakao", login)
    callback = consent_at_vendor(client, started.headers["Location"])
    resp = client.get("/sns/google/callback", query_string=query_of(callback))
    _refused(app, resp)


def test_expired_transaction_is_refused(app, client, rp, clock):
    login = login_page(client, rp)
    started = start(client, "naver", login)
    callback = consent_at_vendor(client, started.headers["Location"])
    clock.advance(app.config["IDP_SETTINGS"]["sns"]["transaction_ttl"] + 1)
    resp = client.get(path_of(callback))
    assert resp.status_code == 400


@pytest.mark.parametrize(("name", "fault"), [
    ("kakao", "wrong_nonce"), ("google", "wrong_nonce"),
    ("kakao", "wrong_iss"), ("google", "wrong_iss"),
    ("kakao", "wrong_aud"), ("google", "wrong_aud"),
    ("kakao", "expired"), ("google", "expired"),
    ("kakao", "unknown_kid"), ("google", "unknown_kid"),
    ("kakao", "alg_none"), ("google", "alg_none"),
])
def test_id_token_faults_are_refused(app, client, rp, name, fault):
    mode(app, name, fault)
    _, cb = round_trip(client, rp, name)
    _refused(app, cb)
    (event,) = _events(app, "sns.failed")
    assert event.detail["reason"] == "refused"


def test_unknown_signing_key_refetches_the_jwks_once(app, client, rp, transport):
    mode(app, "kakao", "unknown_kid")
    round_trip(client, rp, "kakao")
    jwks_calls = [url for _, url, _ in transport.calls if url.endswith("jwks.json")]
    assert len(jwks_calls) == 2


def test_jwks_is_cached_between_logins(app, client, rp, transport):
    for _ in range(2):
        _, cb = round_trip(app.test_client(), rp, "kakao")
        assert cb.headers["Location"].endswith("/terms")
    assert len([u for _, u, _ in transport.calls if u.endswith("jwks.json")]) == 1


@pytest.mark.parametrize("fault", ["token_error200", "profile_error200"])
def test_naver_errors_with_http_200_are_refused(app, client, rp, fault):
    mode(app, "naver", fault)
    _, cb = round_trip(client, rp, "naver")
    _refused(app, cb)


@pytest.mark.parametrize("name", PROVIDERS)
def test_vendor_down_says_try_again_later(app, client, rp, name):
    login = login_page(client, rp)
    started = start(client, name, login)
    callback = consent_at_vendor(client, started.headers["Location"])
    mode(app, name, "down")
    resp = client.get(path_of(callback))
    _refused(app, resp, "unavailable")
    page = client.get(path_of(resp.headers["Location"]))
    assert "잠시 후 다시 시도해 주세요." in page.get_data(as_text=True)


def test_vendor_unreachable_says_try_again_later(app, client, rp):
    app.extensions["idp"].settings["naver"]["token_url"] = "https://10.255.255.1/token"
    _, cb = round_trip(client, rp, "naver")
    _refused(app, cb, "unavailable")


def test_google_discovery_down_at_the_start(app, client, rp):
    mode(app, "google", "down")
    login = login_page(client, rp)
    resp = start(client, "google", login)
    assert resp.status_code == 303 and query_of(resp.headers["Location"])["sns"] == "unavailable"


def test_callback_without_code_or_with_a_vendor_error(app, client, rp):
    login = login_page(client, rp)
    started = start(client, "naver", login)
    state = query_of(started.headers["Location"])["state"]
    resp = client.get("/sns/naver/callback", query_string={"state": state})
    _refused(app, resp)
    started = start(client, "naver", login)
    state = query_of(started.headers["Location"])["state"]
    resp = client.get("/sns/naver/callback",
                      query_string={"state": state, "error": "server_error"})
    _refused(app, resp)


def test_a_locked_member_cannot_sign_in_by_sns(app, client, rp):
    _finish_signup(client, _sign_up(client, rp, "naver").headers["Location"])
    with app.app_context():
        member = db.session.scalars(select(Member)).one()
        member.status = "locked"
        db.session.commit()
    web = app.test_client()
    _, cb = round_trip(web, rp, "naver")
    assert cb.status_code == 303 and query_of(cb.headers["Location"])["sns"] == "refused"


def test_the_authorization_request_sent_to_each_vendor(app, client, rp):
    """state everywhere; nonce for the OpenID Connect vendors; PKCE S256 where supported."""
    login = login_page(client, rp)
    expected = {"naver": (False, False), "kakao": (True, True), "google": (True, True),
                "facebook": (False, True)}
    for name, (nonce, pkce) in expected.items():
        params = query_of(start(client, name, login).headers["Location"])
        assert params["state"] and params["response_type"] == "code"
        assert params["redirect_uri"] == f"http://127.0.0.1:5999/sns/{name}/callback"
        assert ("nonce" in params) == nonce
        assert (params.get("code_challenge_method") == "S256") == pkce


@pytest.mark.parametrize(("sns_settings", "delay", "limit"), [
    ({"timeout": 0.5}, 2.0, 1.9),  # one call longer than the timeout
    # each call within the timeout, but token + profile longer than the callback's budget
    ({"timeout": 1.0, "callback_seconds": 1.2}, 0.7, 1.6),
])
def test_vendor_slow_says_try_again_later_within_the_timeout(base_settings, sns_settings,
                                                               delay, limit):
    """A real socket and a real timeout: the emulator waits longer than sns.timeout."""
    import threading
    import time

    import requests
    from werkzeug.serving import make_server

    from tests.conftest import _clean, free_port, make_app

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = make_app(base_settings, issuer=issuer)
    app.extensions["idp"].settings["sns"].update(sns_settings)
    from idp.adapters.sns import SnsDirectory
    p = app.extensions["idp"]
    p.sns = SnsDirectory(p.settings, p.clock)
    _clean(app)
    publish_terms(app)
    rp = TestRP.create(app, member=False)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        web = app.test_client()
        login = login_page(web, rp)
        started = start(web, "naver", login)
        callback = consent_at_vendor(web, started.headers["Location"])
        mode(app, "naver", "slow", delay=delay)
        began = time.monotonic()
        resp = web.get(path_of(callback))
        elapsed = time.monotonic() - began
        assert resp.status_code == 303 and query_of(resp.headers["Location"])["sns"] == \
            "unavailable"
        assert elapsed < limit, elapsed
        mode(app, "naver", None)
        assert requests.get(f"{issuer}/dev/sns/google/.well-known/openid-configuration",
                            timeout=5).status_code == 200
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["idp"].store.close()


def test_terms_published_during_the_sign_up_are_asked_again(app, client, rp):
    """A new required document between the terms page and the last step: no 500, the terms
    page again, and no member until it is agreed to."""
    import datetime as dt

    from idp.services.terms import publish

    resp = _sign_up(client, rp, "kakao", user="3000000002")  # → the items page
    info_url = resp.headers["Location"]
    with app.app_context():
        publish(db.session, kind="service", version=2, title_ko="이용약관 v2",
                title_en="Terms v2", body="v2", required=True, now=dt.datetime(2026, 6, 1))
        db.session.commit()
    page = client.get(path_of(info_url))
    action, hidden = form_fields(page.get_data(as_text=True))
    resp = client.post(action, data={**hidden, "name": "김동의", "mobile": "010-9999-8888",
                                     "email": "kim@example.com"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/terms")
    assert _members(app) == []
    resp = agree_to_terms(client, resp.headers["Location"])
    assert resp.headers["Location"].endswith("/info")


def test_kakao_emulator_takes_client_secret_post_only(client, rp):
    import base64

    basic = base64.b64encode(b"kotra-emulator-kakao:emulator-secret-kakao").decode()
    resp = client.post("/dev/sns/kakao/oauth/token", headers={"Authorization": f"Basic {basic}"},
                       data={"grant_type": "authorization_code", "code": "x"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_facebook_emulator_refuses_graph_calls_without_appsecret_proof(app, client, rp):
    from idp.web.sns_emulators import _access_token

    with app.test_request_context():
        token = _access_token("facebook", {"id": "1", "name": "x"})
        db.session.commit()
    me = "/dev/sns/facebook/v21.0/me"
    resp = client.get(me, query_string={"fields": "id,name"},
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 400 and "appsecret_proof" in resp.get_json()["error"]["message"]
    from idp.adapters.sns_facebook import appsecret_proof

    proof = appsecret_proof(token, "emulator-secret-facebook")
    resp = client.get(me, query_string={"fields": "id,name", "appsecret_proof": proof},
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.get_json() == {"id": "1", "name": "x"}


def test_emulator_never_redirects_to_an_unregistered_callback(client, rp):
    resp = client.get("/dev/sns/naver/oauth2.0/authorize", query_string={
        "response_type": "code", "client_id": "kotra-emulator-naver",
        "redirect_uri": "https://evil.example/cb", "state": "s"})
    assert resp.status_code == 400
