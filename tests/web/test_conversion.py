"""일반회원 전환 (issue 9): a simple (SNS) member becomes a general member through the general
sign-up's verification and ID/password steps (idp/web/conversion.py,
idp/services/conversion.py) — from the SNS done page and from MY KOTRA; the same member row,
its SNS link, consents and history stay; every refusal."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import (
    AuditEvent,
    Member,
    MemberIdentity,
    MemberType,
    SnsLink,
    TermsConsent,
)
from idp.services import conversion
from idp.services.terms import publish, utcnow
from tests.helpers import (
    TestRP,
    add_test_member,
    callback_params,
    form_fields,
    give_verification,
    verified_identity,
)
from tests.sns_support import (
    agree_to_terms,
    path_of,
    publish_terms,
    round_trip,
    use_emulators,
)

NEW_ID = "convert01"
NEW_PASSWORD = "Blue!ocean2026x"


@pytest.fixture()
def transport(app: Any) -> Any:
    return use_emulators(app)


@pytest.fixture()
def rp(app: Any, transport: Any) -> TestRP:
    publish_terms(app)
    return TestRP.create(app, member=False)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _sns_done(web: Any, rp: TestRP, name: str = "kakao") -> str:
    """A new SNS user up to the done page: its URL."""
    _, cb = round_trip(web, rp, name)
    assert cb.status_code == 303, cb.get_data(as_text=True)[:400]
    resp = agree_to_terms(web, cb.headers["Location"])
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/done")
    return path_of(resp.headers["Location"])


def _convert_from_done(web: Any, done: str) -> Any:
    page = web.get(done)
    html = page.get_data(as_text=True)
    assert 'value="convert"' in html and "disabled" not in html
    action, hidden = form_fields(html)
    return web.post(action, data={**hidden, "decision": "convert"})


def _fid(location: str) -> str:
    return urlsplit(location).path.split("/")[3]


def _verify(app: Any, web: Any, fid: str, **identity: Any) -> Any:
    page = web.get(f"/my/convert/{fid}/verify")
    assert page.status_code == 200
    assert "purpose=conversion" in page.get_data(as_text=True)
    vr = give_verification(app, web, "conversion", verified_identity(**identity))
    return web.get(f"/my/convert/{fid}/verified?vr={vr}")


def _info(web: Any, fid: str, **fields: str) -> Any:
    page = web.get(f"/my/convert/{fid}/info")
    html = page.get_data(as_text=True)
    data = {"csrf_token": _csrf(html), "login_id": NEW_ID, "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "email": re.search(r'id="email" name="email" value="([^"]*)"', html).group(1)}  # type: ignore[union-attr]
    data.update(fields)
    return web.post(f"/my/convert/{fid}/info", data=data)


def _claims(web: Any, rp: TestRP, location: str) -> dict[str, Any]:
    params = callback_params(location, rp.redirect_uri)
    resp = rp.exchange(web, params["code"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    keys = KeySet.import_key_set(web.get("/jwks").get_json())
    token = dict(jwt.decode(body["id_token"], keys, algorithms=["RS256", "ES256"]).claims)
    info = web.get("/userinfo", headers={
        "Authorization": f"Bearer {body['access_token']}"}).get_json()
    return {"id_token": token, "userinfo": info, "tokens": body}


def _only_member(app: Any) -> Member:
    with app.app_context():
        (member,) = db.session.scalars(select(Member)).all()
        db.session.expunge(member)
        return member


def _events(app: Any, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def _signed_in_simple(app: Any, web: Any, rp: TestRP) -> dict[str, Any]:
    """SNS sign-up → 로그인 at the RP: an SSO session of a simple member; its tokens."""
    done = _sns_done(web, rp)
    action, hidden = form_fields(web.get(done).get_data(as_text=True))
    resp = web.post(action, data=hidden)
    assert resp.status_code == 303 and resp.headers["Location"].startswith(rp.redirect_uri)
    return _claims(web, rp, resp.headers["Location"])


def _start_from_my(web: Any) -> Any:
    page = web.get("/my/convert")
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return web.post("/my/convert", data={"csrf_token": _csrf(page.get_data(as_text=True))})


# ---------------------------------------------------------------------------------------------
# The whole way, from the SNS done page

def test_convert_from_the_sns_done_page_then_both_ways_sign_in(app, client, rp):
    done = _sns_done(client, rp)
    before = _only_member(app)
    resp = _convert_from_done(client, done)
    # Terms were agreed at the SNS sign-up: straight to 실명인증.
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/verify")
    fid = _fid(resp.headers["Location"])
    resp = _verify(app, client, fid, name="김전환")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/info")
    info = client.get(f"/my/convert/{fid}/info").get_data(as_text=True)
    assert "김전환" in info and 'value="' + (before.email or "") + '"' in info  # prefilled
    assert 'data-strength="pw-strength"' in info
    resp = _info(client, fid)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/{fid}/done")
    page = client.get(f"/my/convert/{fid}/done").get_data(as_text=True)
    assert "전환이 완료되었습니다" in page and NEW_ID in page

    after = _only_member(app)  # the SAME row
    assert after.id == before.id and after.subject == before.subject
    assert after.member_type == MemberType.GENERAL and after.login_id == NEW_ID
    assert after.password_hash and after.name == "김전환"
    assert after.created_at == before.created_at
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SnsLink).where(
            SnsLink.member_id == after.id)) == 1
        assert db.session.scalar(select(MemberIdentity.member_id)) == after.id
        consents = db.session.scalars(select(TermsConsent)).all()
        assert consents and {c.source for c in consents} == {"sns_signup"}  # kept, no new
    (event,) = _events(app, "member.converted")
    assert event.member_id == after.id and event.detail["sns"] == ["kakao"]
    assert event.detail["via"] == "sns_signup"

    # 로그인 resumes the pending sign-in: tokens say general, password-level.
    action, hidden = form_fields(page)
    resp = client.post(action, data=hidden)
    assert resp.status_code == 303 and resp.headers["Location"].startswith(rp.redirect_uri)
    got = _claims(client, rp, resp.headers["Location"])
    assert got["userinfo"]["kotra_member_type"] == "general"
    assert got["id_token"]["sub"] == before.subject

    # SNS sign-in still works, in another browser: the same member, amr fed.
    other = app.test_client()
    _, cb = round_trip(other, rp, "kakao")
    assert cb.status_code == 303 and cb.headers["Location"].startswith(rp.redirect_uri)
    got = _claims(other, rp, cb.headers["Location"])
    assert got["id_token"]["sub"] == before.subject and got["id_token"]["amr"] == ["fed"]
    assert got["userinfo"]["kotra_member_type"] == "general"

    # And the new ID and password, in a third browser.
    third = app.test_client()
    resp = rp.authorize(third)
    resp = rp.login(third, resp.headers["Location"], login_id=NEW_ID, password=NEW_PASSWORD)
    assert resp.status_code == 303 and resp.headers["Location"].startswith(rp.redirect_uri)
    got = _claims(third, rp, resp.headers["Location"])
    assert got["id_token"]["sub"] == before.subject and "pwd" in got["id_token"]["amr"]


# ---------------------------------------------------------------------------------------------
# From MY KOTRA (an SSO session); a refresh after conversion says general

def test_convert_from_my_kotra_and_refresh_reflects_it(app, client, rp):
    first = _signed_in_simple(app, client, rp)
    assert first["userinfo"]["kotra_member_type"] == "simple"
    home = client.get("/my")
    if home.status_code == 303:  # MY KOTRA's own sign-in (the SSO session answers at once)
        loc = home.headers["Location"]
        while home.status_code in (302, 303) and not loc.endswith("/my"):
            home = client.get(path_of(loc))
            loc = home.headers.get("Location", "")
        home = client.get("/my")
    assert 'href="/my/convert"' in home.get_data(as_text=True)
    resp = _start_from_my(client)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/verify")
    fid = _fid(resp.headers["Location"])
    assert _verify(app, client, fid).status_code == 303
    assert _info(client, fid).status_code == 303
    page = client.get(f"/my/convert/{fid}/done")
    action, hidden = form_fields(page.get_data(as_text=True))
    resp = client.post(action, data=hidden)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/my")
    (event,) = _events(app, "member.converted")
    assert event.detail["via"] == "sso"

    refreshed = client.post("/token", data={
        "grant_type": "refresh_token", "refresh_token": first["tokens"]["refresh_token"]},
        headers=rp.auth_header())
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    info = client.get("/userinfo", headers={
        "Authorization": f"Bearer {refreshed.get_json()['access_token']}"}).get_json()
    assert info["kotra_member_type"] == "general" and info["sub"] == first["id_token"]["sub"]
    # Now general: the start page refuses.
    again = client.get("/my/convert")
    assert again.status_code == 409 and "간편회원만" in again.get_data(as_text=True)


# ---------------------------------------------------------------------------------------------
# Refusals

def test_not_signed_in_goes_to_my_kotra_sign_in(client, rp):
    resp = client.get("/my/convert")
    assert resp.status_code == 303 and "/my/login" in resp.headers["Location"]


def test_a_general_member_is_refused(app, client, rp):
    add_test_member(app, "general01")
    resp = rp.authorize(client)
    assert rp.login(client, resp.headers["Location"], login_id="general01").status_code == 303
    page = client.get("/my/convert")
    assert page.status_code == 409
    assert client.post("/my/convert", data={"csrf_token": "x"}).status_code in (400, 409)
    with app.app_context():
        assert not db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "member.converted")).all()


def test_start_needs_csrf(app, client, rp):
    _signed_in_simple(app, client, rp)
    assert client.post("/my/convert", data={}).status_code == 400


def test_di_of_another_account_is_already_a_member(app, client, rp):
    identity = verified_identity()
    # A general member with this DI already exists.
    with app.app_context():
        p = app.extensions["idp"]
        other = Member(subject="other-sub", member_type=MemberType.GENERAL, login_id="other01",
                       name="홍길동")
        db.session.add(other)
        db.session.flush()
        db.session.add(MemberIdentity(
            member_id=other.id, ci_hash=p.personal_data.lookup_hash("ci", identity.ci),
            di_hash=p.personal_data.lookup_hash("di", identity.di),
            ci_sealed=p.personal_data.seal(identity.ci, "ci"),
            di_sealed=p.personal_data.seal(identity.di, "di"), name="홍길동",
            birthdate=identity.birthdate, gender="M", nationality="domestic", carrier="SKT",
            method="mobile", vendor="test", verified_at=utcnow()))
        db.session.commit()
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    vr = give_verification(app, client, "conversion", identity)
    resp = client.get(f"/my/convert/{fid}/verified?vr={vr}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "이미 가입된 회원입니다." in html
    assert 'href="/find-id?ia=' in html
    with app.app_context():
        simple = db.session.scalar(select(Member).where(Member.login_id.is_(None)))
        assert simple is not None and simple.member_type == MemberType.SIMPLE


def test_a_verification_for_another_purpose_is_refused(app, client, rp):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    vr = give_verification(app, client, "signup")
    resp = client.get(f"/my/convert/{fid}/verified?vr={vr}")
    assert resp.status_code == 400 and 'id="verify-error"' in resp.get_data(as_text=True)
    assert client.get(f"/my/convert/{fid}/info").status_code == 303  # back to 실명인증


def test_expired_flow(app, client, rp, clock):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    assert _verify(app, client, fid).status_code == 303
    clock.advance(conversion.CONVERSION.ttl + 1)
    resp = client.get(f"/my/convert/{fid}/info")
    assert resp.status_code == 400 and "전환 시간이 지났습니다" in resp.get_data(as_text=True)
    assert _only_member(app).member_type == MemberType.SIMPLE


def test_another_browser_cannot_use_the_flow(app, client, rp):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    other = app.test_client()
    assert other.get(f"/my/convert/{fid}/verify").status_code == 400


def test_a_flow_from_my_kotra_needs_the_same_member_signed_in(app, client, rp):
    _signed_in_simple(app, client, rp)
    fid = _fid(_start_from_my(client).headers["Location"])
    client.delete_cookie(_sso_cookie(app))  # signed out (or another member now)
    assert client.get(f"/my/convert/{fid}/verify").status_code == 400


def _sso_cookie(app: Any) -> str:
    from idp.cookies import build_cookies

    return build_cookies(app.extensions["idp"].settings, secure=False).sso.name


def test_double_submit_converts_once(app, client, rp):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    _verify(app, client, fid)
    page = client.get(f"/my/convert/{fid}/info").get_data(as_text=True)
    data = {"csrf_token": _csrf(page), "login_id": NEW_ID, "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD, "email": "kakao@example.com"}
    first = client.post(f"/my/convert/{fid}/info", data=data)
    second = client.post(f"/my/convert/{fid}/info", data=data)
    assert first.status_code == 303 and first.headers["Location"].endswith("/done")
    assert second.status_code == 303 and second.headers["Location"].endswith("/done")
    assert len(_events(app, "member.converted")) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MemberIdentity)) == 1


def test_racing_conversions_of_one_member(app, client, rp):
    """Two tabs convert the same member: the second finds it general already."""
    _signed_in_simple(app, client, rp)
    one = _fid(_start_from_my(client).headers["Location"])
    two = _fid(_start_from_my(client).headers["Location"])
    for fid in (one, two):
        assert _verify(app, client, fid).status_code == 303
    assert _info(client, one).status_code == 303
    resp = _info(client, two, login_id="convert02")
    assert resp.status_code == 409 and "간편회원만" in resp.get_data(as_text=True)
    member = _only_member(app)
    assert member.login_id == NEW_ID
    assert len(_events(app, "member.converted")) == 1


def test_the_conditional_update_stops_a_racing_conversion(app, client, rp, monkeypatch):
    """The check passed for both; the database's conditional UPDATE lets one through."""
    _signed_in_simple(app, client, rp)
    one = _fid(_start_from_my(client).headers["Location"])
    two = _fid(_start_from_my(client).headers["Location"])
    for fid in (one, two):
        _verify(app, client, fid)
    real = conversion.check_ready
    stale: dict[str, Any] = {}

    def check_before_the_other_commits(session: Any, pd: Any, flow: Any, *, now: Any) -> Any:
        if "one" not in stale:
            member, identity = real(session, pd, flow, now=now)
            stale["one"] = member.id
            return member, identity
        # As the check saw it, before the other one committed.
        return session.get(Member, stale["one"]), conversion.general.identity_of(pd, flow)

    monkeypatch.setattr(conversion, "check_ready", check_before_the_other_commits)
    assert _info(client, one).status_code == 303
    resp = _info(client, two, login_id="convert02")
    assert resp.status_code == 409
    assert _only_member(app).login_id == NEW_ID
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MemberIdentity)) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"login_id": "ab"}, "아이디는 영문과 숫자를 섞어"),
    ({"confirm": "Other!pass2026"}, "비밀번호가 일치하지 않습니다."),
    ({"password": "short", "confirm": "short"}, "비밀번호는 영문, 숫자, 특수문자"),
    ({"password": "convert01!Aa", "confirm": "convert01!Aa"}, "아이디나 이름을"),
    ({"email": "not-an-email"}, "이메일 주소를 올바르게"),
    ({"email": ""}, "이메일을 입력해 주세요."),
])
def test_bad_member_information(app, client, rp, fields, message):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    _verify(app, client, fid)
    resp = _info(client, fid, **fields)
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)
    assert _only_member(app).member_type == MemberType.SIMPLE


def test_an_id_already_taken(app, client, rp):
    add_test_member(app, NEW_ID)
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    _verify(app, client, fid)
    resp = _info(client, fid)
    assert resp.status_code == 400 and "이미 사용 중인 아이디" in resp.get_data(as_text=True)
    check = client.get(f"/my/convert/{fid}/check-id?login_id={NEW_ID}").get_json()
    assert check["status"] == "taken"
    assert client.get(f"/my/convert/{fid}/check-id?login_id=free2026").get_json()[
        "status"] == "available"


def test_only_the_missing_terms_are_asked(app, client, rp):
    """A new version of the 이용약관 since the SNS sign-up: only it (and the optional items)."""
    done = _sns_done(client, rp)
    with app.app_context():
        publish(db.session, kind="service", version=2, title_ko="이용약관 v2",
                title_en="Terms v2", body="본문 2", required=True, now=utcnow())
        db.session.commit()
    resp = _convert_from_done(client, done)
    assert resp.headers["Location"].endswith("/terms")
    fid = _fid(resp.headers["Location"])
    page = client.get(f"/my/convert/{fid}/terms").get_data(as_text=True)
    assert "이용약관 v2" in page and "개인정보 수집·이용 동의</" not in page
    declined = client.post(f"/my/convert/{fid}/terms", data={"csrf_token": _csrf(page)})
    assert declined.status_code == 400 and "필수 약관에 모두 동의해 주세요." in \
        declined.get_data(as_text=True)
    assert client.get(f"/my/convert/{fid}/verify").status_code == 303  # not yet
    resp = agree_to_terms(client, f"/my/convert/{fid}/terms")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/verify")
    _verify(app, client, fid)
    assert _info(client, fid).status_code == 303
    with app.app_context():
        rows = db.session.scalars(select(TermsConsent).where(
            TermsConsent.source == "conversion")).all()
        assert {(r.kind, r.version) for r in rows if r.agreed} >= {("service", 2)}
        assert "privacy" not in {r.kind for r in rows}  # agreed at the SNS sign-up


def test_terms_revised_during_the_conversion_are_asked_again(app, client, rp):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    _verify(app, client, fid)
    with app.app_context():
        publish(db.session, kind="privacy", version=2, title_ko="개인정보 v2",
                title_en="Privacy v2", body="본문", required=True, now=utcnow())
        db.session.commit()
    resp = _info(client, fid)
    assert resp.status_code == 303 and "/terms?changed=1" in resp.headers["Location"]
    assert _only_member(app).member_type == MemberType.SIMPLE
    assert agree_to_terms(client, f"/my/convert/{fid}/terms").status_code == 303
    assert _info(client, fid, password="", confirm="").status_code == 303
    assert _only_member(app).member_type == MemberType.GENERAL


def test_pages_in_english(app, client, rp):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    client.get(f"/my/convert/{fid}/verify?lang=en")
    page = client.get(f"/my/convert/{fid}/verify")
    html = page.get_data(as_text=True)
    assert "Convert to general member" in html and "Conversion steps" in html


def test_the_done_page_signs_in_once(app, client, rp):
    resp = _convert_from_done(client, _sns_done(client, rp))
    fid = _fid(resp.headers["Location"])
    _verify(app, client, fid)
    assert _info(client, fid).status_code == 303
    action, hidden = form_fields(client.get(f"/my/convert/{fid}/done").get_data(as_text=True))
    first = client.post(action, data=hidden)
    second = client.post(action, data=hidden)  # a double click: no second login
    assert first.status_code == 303 and first.headers["Location"].startswith(rp.redirect_uri)
    assert second.status_code == 303 and second.headers["Location"].endswith("/my")
    assert client.get(f"/my/convert/{fid}/done").status_code == 400  # used up
    assert other_browser_sees_nothing(app, fid)


def other_browser_sees_nothing(app: Any, fid: str) -> bool:
    return app.test_client().get(f"/my/convert/{fid}/done").status_code == 400


def test_the_sns_done_page_convert_twice_starts_one_conversion(app, client, rp):
    done = _sns_done(client, rp)
    page = client.get(done).get_data(as_text=True)
    action, hidden = form_fields(page)
    first = client.post(action, data={**hidden, "decision": "convert"})
    second = client.post(action, data={**hidden, "decision": "convert"})
    assert first.status_code == 303 and "/my/convert/" in first.headers["Location"]
    assert "/my/convert/" not in second.headers.get("Location", "")
