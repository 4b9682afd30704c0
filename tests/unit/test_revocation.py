"""Member-wide revocation: every SSO session, token and unexchanged code of one member, and a
back-channel logout token for every relying party involved (idp/services/revocation.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.adapters.backchannel import RecordingBackchannelSender
from idp.extensions import db
from idp.models import AuditEvent, Member
from idp.oidc.logout import drain_backchannel
from idp.services.revocation import NotLocked, UnknownMember
from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, callback_params, form_fields

URI1, URI2 = "https://one.example/bcl", "https://two.example/bcl"


@pytest.fixture()
def sender(app: Any) -> RecordingBackchannelSender:
    fake = RecordingBackchannelSender()
    app.extensions["idp"].outbox.sender = fake
    return fake


def _member_id(app: Any, login_id: str) -> int:
    with app.app_context():
        return int(db.session.scalar(select(Member.id).where(Member.login_id == login_id)))


def _refresh(web: Any, rp: TestRP, tokens: dict[str, Any]) -> int:
    return int(web.post("/token", headers=rp.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).status_code)


def _userinfo(web: Any, tokens: dict[str, Any]) -> int:
    return int(web.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).status_code)


def _signed_in(web: Any, rp: TestRP) -> bool:
    resp = rp.authorize(web, prompt="none")
    return "code" in callback_params(resp.headers["Location"], REDIRECT_URI)


def test_member_wide_revocation_ends_everything_the_member_holds(app, sender):
    site1 = TestRP.create(app, backchannel_logout_uri=URI1)
    site2 = TestRP.create(app, backchannel_logout_uri=URI2, member=False)
    bystander = TestRP.create(app, login_id="member02")  # another member, untouched
    laptop, phone, theirs = app.test_client(), app.test_client(), app.test_client()
    on_laptop = site1.tokens(laptop)
    on_phone = site2.tokens(phone)  # a second SSO session (another browser)
    pending = site1.code_flow(laptop, prompt="none")["code"]  # issued, not yet exchanged
    their_tokens = bystander.tokens(theirs)

    with app.app_context():
        done = app.extensions["idp"].revocation.revoke_member(
            db.session, _member_id(app, "member01"), reason="password_reset")
    assert (done.sessions, done.tokens, done.codes) == (2, 2, 1)
    assert sorted(done.notified) == sorted([site1.client_id, site2.client_id])

    assert site1.exchange(laptop, pending).get_json()["error"] == "invalid_grant"
    assert not _signed_in(laptop, site1) and not _signed_in(phone, site2)
    assert (_refresh(laptop, site1, on_laptop), _refresh(phone, site2, on_phone)) == (400, 400)
    assert (_userinfo(laptop, on_laptop), _userinfo(phone, on_phone)) == (401, 401)
    assert _userinfo(theirs, their_tokens) == 200 and _signed_in(theirs, bystander)

    assert sender.sent == []  # queued in the revocation's transaction, sent by the worker
    assert drain_backchannel(app).delivered == 2
    jwks = KeySet.import_key_set(laptop.get("/jwks").get_json())
    by_aud = {}
    for sent in sender.sent:
        claims = jwt.decode(sent.logout_token, jwks).claims
        by_aud[claims["aud"]] = (sent.uri, claims)
    assert set(by_aud) == {site1.client_id, site2.client_id}
    assert by_aud[site1.client_id][0] == URI1 and by_aud[site2.client_id][0] == URI2
    for _uri, claims in by_aud.values():
        # No sid: "all sessions at the RP for the End-User" (Back-Channel Logout 1.0 §2.4).
        assert claims["sub"] == site1.subject and "sid" not in claims

    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "member.revoked")).one()
        detail = json.loads(event.detail) if isinstance(event.detail, str) else event.detail
        assert detail["reason"] == "password_reset" and detail["sessions_ended"] == 2


def test_member_wide_revocation_reaches_rps_whose_session_expired(app, sender):
    site = TestRP.create(app, backchannel_logout_uri=URI1)
    web = app.test_client()
    tokens = site.tokens(web)
    with app.app_context():  # the SSO session expired; the refresh token lives on
        p = app.extensions["idp"]
        p.sessions.end(p.sessions.get(web.get_cookie("idp_sso").value))
        db.session.commit()
        done = p.revocation.revoke_member(db.session, _member_id(app, "member01"),
                                          reason="withdrawal")
    assert (done.sessions, done.tokens, done.notified) == (0, 1, [site.client_id])
    assert _refresh(web, site, tokens) == 400


def test_lock_refuses_sign_in_and_tokens_until_unlock(app, sender):
    site = TestRP.create(app, backchannel_logout_uri=URI1)
    web = app.test_client()
    tokens = site.tokens(web)
    member_id = _member_id(app, "member01")
    with app.app_context():
        done = app.extensions["idp"].revocation.lock_member(db.session, member_id)
    assert done.sessions == 1 and done.notified == [site.client_id]
    assert _refresh(web, site, tokens) == 400 and _userinfo(web, tokens) == 401
    page = site.authorize(web)
    refused = site.login(web, page.headers["Location"], password=PASSWORD)
    assert refused.status_code == 401  # the same answer as a wrong password: no account leak
    assert "아이디 또는 비밀번호가 일치하지 않습니다." in refused.get_data(as_text=True)

    with app.app_context():
        app.extensions["idp"].revocation.unlock_member(db.session, member_id)
    page = site.authorize(web)
    html = web.get(page.headers["Location"]).get_data(as_text=True)
    action, hidden = form_fields(html)
    signed_in = web.post(action, data={**hidden, "login_id": "member01", "password": PASSWORD})
    assert signed_in.status_code == 303
    assert "code" in callback_params(signed_in.headers["Location"], REDIRECT_URI)
    with app.app_context():
        events = [e.event for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.event.in_(["member.locked", "member.unlocked"])).order_by(AuditEvent.id))]
    assert events == ["member.locked", "member.unlocked"]


def test_unknown_member_and_unlock_of_an_active_member_are_refused(app):
    p = app.extensions["idp"]
    TestRP.create(app)
    with app.app_context():
        with pytest.raises(UnknownMember):
            p.revocation.revoke_member(db.session, 999_999, reason="x")
        with pytest.raises(UnknownMember):
            p.revocation.lock_member(db.session, 999_999)
        with pytest.raises(NotLocked):
            p.revocation.unlock_member(db.session, _member_id(app, "member01"))


def test_lock_keeps_a_withdrawn_status_so_unlock_cannot_revive_it(app):
    TestRP.create(app)
    member_id = _member_id(app, "member01")
    p = app.extensions["idp"]
    with app.app_context():
        db.session.get(Member, member_id).status = "withdrawn"
        db.session.commit()
        p.revocation.lock_member(db.session, member_id)
        assert db.session.get(Member, member_id).status == "withdrawn"
        with pytest.raises(NotLocked):
            p.revocation.unlock_member(db.session, member_id)
