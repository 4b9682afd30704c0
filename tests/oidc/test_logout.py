"""RP-Initiated Logout 1.0 and Back-Channel Logout 1.0."""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from idp.adapters.backchannel import HttpBackchannelSender
from idp.extensions import db
from idp.models import AuditEvent, BackchannelLogout
from idp.oidc.logout import drain_backchannel, start_backchannel_worker
from tests.backchannel_receiver import backchannel_receiver
from tests.helpers import REDIRECT_URI, TestRP, callback_params, form_fields


@pytest.fixture()
def receiver():
    """A relying party's back-channel logout endpoint that records what it receives."""
    with backchannel_receiver() as rp_endpoint:
        yield rp_endpoint.uri, rp_endpoint.received


def _detail(event: AuditEvent) -> dict:
    # Tolerates the double-encoded `detail` of issue 11 finding 9 until that fix lands.
    return json.loads(event.detail) if isinstance(event.detail, str) else event.detail


def _logout(client, rp, tokens, **extra):
    params = {"id_token_hint": tokens["id_token"],
              "post_logout_redirect_uri": "https://rp.example/bye", "state": "s1"}
    params.update(extra)
    return client.get("/logout", query_string={k: v for k, v in params.items() if v})


def test_logout_with_hint_ends_session_and_redirects_with_state(app, client, rp):
    tokens = rp.tokens(client)
    resp = _logout(client, rp, tokens)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "https://rp.example/bye?state=s1"
    again = rp.authorize(client, prompt="none")
    assert callback_params(again.headers["Location"], REDIRECT_URI)["error"] == "login_required"
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401  # tokens of the session are revoked
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.event == "logout")).all()


def test_unregistered_post_logout_redirect_uri_is_never_followed(client, rp):
    tokens = rp.tokens(client)
    resp = _logout(client, rp, tokens, post_logout_redirect_uri="https://evil.example/")
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_post_logout_redirect_uri_without_client_is_refused(client, rp):
    resp = client.get("/logout", query_string={"post_logout_redirect_uri":
                                               "https://rp.example/bye"})
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_logout_without_hint_asks_for_confirmation(client, rp):
    rp.tokens(client)
    page = client.get("/logout", query_string={"client_id": rp.client_id})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "로그아웃하시겠습니까?" in html
    action, hidden = form_fields(html)
    done = client.post(action, data={**hidden, "decision": "logout"})
    assert "로그아웃되었습니다" in done.get_data(as_text=True)
    again = rp.authorize(client, prompt="none")
    assert callback_params(again.headers["Location"], REDIRECT_URI)["error"] == "login_required"


def test_forced_logout_without_csrf_token_is_refused(client, rp):
    rp.tokens(client)
    resp = client.post("/logout/confirm", data={"decision": "logout"})
    assert resp.status_code == 400
    again = rp.authorize(client, prompt="none")
    assert "code" in callback_params(again.headers["Location"], REDIRECT_URI)


def test_backchannel_logout_token_reaches_every_rp_of_the_session(app, client, receiver):
    uri, received = receiver
    site1 = TestRP.create(app, backchannel_logout_uri=uri)
    site2 = TestRP.create(app, backchannel_logout_uri=uri + "?site=2", member=False,
                          alg="ES256")
    tokens = site1.tokens(client)
    site2.tokens(client)  # SSO: no login, same session
    resp = _logout(client, site2, site2.tokens(client))
    assert resp.status_code == 303
    assert received == []  # queued: sent by the worker, not inside the user's request
    assert drain_backchannel(app).delivered == 2
    assert len(received) == 2
    jwks = KeySet.import_key_set(client.get("/jwks").get_json())
    auds = set()
    for item in received:
        assert item["ctype"] == "application/x-www-form-urlencoded"
        token = jwt.decode(item["token"], jwks, algorithms=["RS256", "ES256"])
        assert token.header["typ"] == "logout+jwt"
        claims = token.claims
        assert claims["iss"] == "http://127.0.0.1:5999"
        assert claims["sub"] == site1.subject
        assert "nonce" not in claims and claims["jti"] and claims["iat"] and claims["exp"]
        assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
        id_claims = jwt.decode(tokens["id_token"], jwks).claims
        assert claims["sid"] == id_claims["sid"]
        auds.add(claims["aud"])
    assert auds == {site1.client_id, site2.client_id}


def test_unreachable_backchannel_endpoint_does_not_block_logout(app, client):
    site = TestRP.create(app, backchannel_logout_uri="http://127.0.0.1:9/nothing-here")
    tokens = site.tokens(client)
    resp = _logout(client, site, tokens)
    assert resp.status_code == 303
    report = drain_backchannel(app)
    assert (report.delivered, report.retrying) == (0, 1)
    with app.app_context():
        failed = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "backchannel.failed")).one()
        assert failed.client_id == site.client_id and _detail(failed)["attempt"] == 1


def test_login_as_another_member_ends_the_previous_session(app, client, receiver):
    uri, received = receiver
    site = TestRP.create(app, backchannel_logout_uri=uri)
    TestRP.create(app, login_id="member02", member=True)
    site.tokens(client)
    resp = site.authorize(client, prompt="login")
    site.login(client, resp.headers["Location"], login_id="member02")
    drain_backchannel(app)
    assert len(received) == 1


def _queued(app) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(BackchannelLogout)))


def _bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _refresh(client, rp, tokens):
    return client.post("/token", headers=rp.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})


def _forget_session(app, client) -> None:
    """The store forgets this browser's SSO session, as when its time-to-live ran out."""
    with app.app_context():
        p = app.extensions["idp"]
        sess = p.sessions.get(client.get_cookie("idp_sso").value)
        p.sessions.end(sess)
        db.session.commit()


def test_logout_answers_at_once_while_a_relying_party_hangs(app, client):
    # A relying party that answers nothing for longer than any request here may take: had
    # the logout waited on it, each would last the whole timeout.
    timeout = 30
    app.extensions["idp"].settings["backchannel_logout"]["timeout"] = timeout
    app.extensions["idp"].outbox.sender = HttpBackchannelSender(timeout=timeout)
    with backchannel_receiver() as hanging:
        hanging.hang()
        site = TestRP.create(app, backchannel_logout_uri=hanging.uri)
        worker = start_backchannel_worker(app)
        assert worker is not None
        try:
            timings = []
            for _ in range(4):
                tokens = site.tokens(client)
                started = time.monotonic()
                assert _logout(client, site, tokens).status_code == 303
                timings.append(time.monotonic() - started)
            assert hanging.arrived.wait(10), "the worker never reached the relying party"
            fresh = site.tokens(client)
            started = time.monotonic()
            assert client.get("/userinfo", headers=_bearer(fresh)).status_code == 200
            timings.append(time.monotonic() - started)
            # Generous for a loaded machine, far below the timeout the RP would have cost.
            assert max(timings) < timeout / 3, timings
        finally:
            hanging.release()
            worker.stop(timeout=10)
        assert not worker.is_alive()
        deadline = time.monotonic() + 10
        while _queued(app) and time.monotonic() < deadline:  # the released RP is caught up
            drain_backchannel(app)
            time.sleep(0.05)
    assert _queued(app) == 0
    assert len(hanging.received) >= 4


def test_logout_after_the_session_expired_revokes_by_the_hints_sid(app, client, receiver):
    uri, received = receiver
    site = TestRP.create(app, backchannel_logout_uri=uri)
    other = TestRP.create(app, backchannel_logout_uri=uri + "?other", member=False)
    tokens = site.tokens(client)
    other_tokens = other.tokens(client)  # same SSO session, another RP
    _forget_session(app, client)
    resp = _logout(client, site, tokens)
    assert resp.status_code == 303
    for rp_, toks in ((site, tokens), (other, other_tokens)):
        assert _refresh(client, rp_, toks).status_code == 400  # ...until this logout
        assert client.get("/userinfo", headers=_bearer(toks)).status_code == 401
    assert drain_backchannel(app).delivered == 2  # both RPs of that sid are told
    jwks = KeySet.import_key_set(client.get("/jwks").get_json())
    sid = jwt.decode(tokens["id_token"], jwks).claims["sid"]
    for item in received:
        assert jwt.decode(item["token"], jwks).claims["sid"] == sid


def test_code_issued_before_logout_cannot_be_exchanged_after(app, client, rp):
    tokens = rp.tokens(client)
    pending = rp.code_flow(client, prompt="none")["code"]  # issued, not yet exchanged
    assert _logout(client, rp, tokens).status_code == 303
    resp = rp.exchange(client, pending)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_hint_naming_another_browsers_live_session_leaves_it_alone(app, rp):
    browser_a, browser_b = app.test_client(), app.test_client()
    tokens = rp.tokens(browser_a)
    resp = _logout(browser_b, rp, tokens)  # B has no session; the hint is A's (live) session
    assert resp.status_code == 303
    assert browser_a.get("/userinfo", headers=_bearer(tokens)).status_code == 200
    again = rp.authorize(browser_a, prompt="none")
    assert "code" in callback_params(again.headers["Location"], REDIRECT_URI)
