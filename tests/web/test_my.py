"""MY KOTRA (/my, issue 6): the sign-in through the console client, and each section's rules
and refusals (idp/web/my.py, idp/services/my_account.py)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from idp.adapters.backchannel import RecordingBackchannelSender
from idp.extensions import db
from idp.mail_worker import drain_mail
from idp.models import (
    AuditEvent,
    AuthorizationCode,
    BackchannelLogout,
    Consent,
    DevMessage,
    LegacyAccount,
    MarketingConsent,
    Member,
    MemberIdentity,
    TermsConsent,
    Token,
)
from idp.services.my_account import CONSOLE_CLIENT_ID, describe_device
from tests.helpers import (
    PASSWORD,
    REDIRECT_URI,
    TestRP,
    callback_params,
    give_verification,
    verified_identity,
)

NEW_PASSWORD = "Another!pass42"
BCL = "https://rp.example/bcl"


@pytest.fixture()
def sender(app: Any) -> RecordingBackchannelSender:
    fake = RecordingBackchannelSender()
    app.extensions["idp"].outbox.sender = fake
    return fake


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, html[:800]
    return found.group(1)


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def sign_in_my(web: Any, rp: TestRP, *, login_id: str | None = None,
               password: str = PASSWORD) -> Any:
    """/my -> the console's authorization request -> login page -> callback -> /my."""
    resp = web.get("/my")
    assert resp.status_code == 303 and "/my/login" in resp.headers["Location"]
    resp = web.get(resp.headers["Location"])  # -> /authorize
    resp = web.get(path_of(resp.headers["Location"]))  # -> the login page
    assert "/interaction/" in resp.headers["Location"]
    resp = rp.login(web, resp.headers["Location"], login_id=login_id, password=password)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:400]
    assert "/my/callback" in resp.headers["Location"]
    resp = web.get(path_of(resp.headers["Location"]))
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/my")
    return web.get("/my")


def post(web: Any, path: str, data: dict[str, str], page: str | None = None) -> Any:
    html = web.get(page or path).get_data(as_text=True)
    return web.post(path, data={"csrf_token": csrf(html), **data})


def member_id(app: Any, login_id: str = "member01") -> int:
    with app.app_context():
        return int(db.session.scalar(select(Member.id).where(Member.login_id == login_id)))


def events(app: Any, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


# -- sign-in ----------------------------------------------------------------------------------

def test_my_signs_in_through_the_console_client_and_discards_its_code(app, client, rp):
    page = sign_in_my(client, rp)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "MY KOTRA" in html and "member01" in html
    # The provider's header: myKOTRA and 로그아웃 (manual §6), the logout through /logout.
    assert 'href="/my">myKOTRA</a>' in html and 'href="/logout"' in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode).where(
            AuthorizationCode.client_id == CONSOLE_CLIENT_ID)) == 0


def test_my_sign_in_header_offers_login_when_signed_out(client, rp):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/my/login"' in html and "myKOTRA" not in html


def test_callback_refuses_another_browsers_state(app, client, rp):
    resp = client.get("/my/login")
    state = callback_params(path_of(resp.headers["Location"]).replace(
        "/authorize", REDIRECT_URI, 1), REDIRECT_URI)["state"]
    other = app.test_client()
    resp = other.get(f"/my/callback?state={state}&code=forged")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/")
    assert other.get("/my").status_code == 303  # still not signed in


def test_my_pages_redirect_to_sign_in_and_posts_need_csrf(client, rp):
    for path in ("/my", "/my/profile", "/my/password", "/my/sessions", "/my/withdraw"):
        resp = client.get(path)
        assert resp.status_code == 303 and "/my/login?next=" in resp.headers["Location"]
    sign_in_my(client, rp)
    resp = client.post("/my/password", data={"current": PASSWORD, "new_password": "x",
                                              "confirm": "x"})
    assert resp.status_code == 400 and "csrf" in resp.get_data(as_text=True)


def test_my_pages_in_english(client, rp):
    sign_in_my(client, rp)
    html = client.get("/my/profile?lang=en").get_data(as_text=True)
    assert "Edit member information" in html and "회원정보 수정" not in html


# -- password ---------------------------------------------------------------------------------

def test_password_change_signs_out_the_other_sessions_only(app, sender):
    site = TestRP.create(app, backchannel_logout_uri=BCL)
    laptop, phone = app.test_client(), app.test_client()
    on_laptop = site.tokens(laptop)
    sign_in_my(phone, site)
    resp = post(phone, "/my/password", {"current": PASSWORD, "new_password": NEW_PASSWORD,
                                        "confirm": NEW_PASSWORD})
    assert resp.status_code == 303 and "done=1" in resp.headers["Location"]
    # The laptop's session and tokens are gone; its relying party is told.
    refreshed = laptop.post("/token", headers=site.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": on_laptop["refresh_token"]})
    assert refreshed.status_code == 400
    again = site.authorize(laptop, prompt="none")
    assert callback_params(again.headers["Location"], REDIRECT_URI)["error"] == "login_required"
    with app.app_context():
        queued = list(db.session.scalars(select(BackchannelLogout)))
        assert [(q.client_id, q.sid is not None) for q in queued] == [(site.client_id, True)]
    # The phone stays signed in; the new password is the one that works.
    assert phone.get("/my").status_code == 200
    assert events(app, "member.sessions_ended")[0].detail["reason"] == "password_changed"
    fresh = app.test_client()
    resp = site.authorize(fresh)
    assert site.login(fresh, resp.headers["Location"]).status_code == 401
    resp = site.authorize(fresh)
    assert site.login(fresh, resp.headers["Location"], password=NEW_PASSWORD).status_code == 303


def test_wrong_current_password_is_refused_until_throttled(app, client, rp, clock):
    sign_in_my(client, rp)
    statuses = []
    for _ in range(5):
        resp = post(client, "/my/password", {"current": "Wrong!pass99",
                                             "new_password": NEW_PASSWORD,
                                             "confirm": NEW_PASSWORD})
        statuses.append(resp.status_code)
    assert statuses[:3] == [401, 401, 401] and 429 in statuses[3:]
    assert "시도가 너무 많습니다" in resp.get_data(as_text=True)
    # Even the right password waits while throttled: nothing changed.
    resp = post(client, "/my/password", {"current": PASSWORD, "new_password": NEW_PASSWORD,
                                         "confirm": NEW_PASSWORD})
    assert resp.status_code == 429
    assert len(events(app, "member.reauth_failed")) >= 4
    clock.advance(120)
    resp = post(client, "/my/password", {"current": PASSWORD, "new_password": NEW_PASSWORD,
                                         "confirm": NEW_PASSWORD})
    assert resp.status_code == 303


@pytest.mark.parametrize(("new", "confirm", "message"), [
    (NEW_PASSWORD, NEW_PASSWORD + "x", "두 번 똑같이"),
    ("short1!", "short1!", "영문, 숫자, 특수문자"),
    ("onlyletters", "onlyletters", "영문, 숫자, 특수문자"),
    ("xmember01!A", "xmember01!A", "아이디나 이름"),
    (PASSWORD, PASSWORD, "현재 비밀번호와 다른"),
])
def test_new_password_refusals(app, client, rp, new, confirm, message):
    sign_in_my(client, rp)
    resp = post(client, "/my/password", {"current": PASSWORD, "new_password": new,
                                         "confirm": confirm})
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)
    assert events(app, "member.password_changed") == []


# -- profile ----------------------------------------------------------------------------------

def profile_data(**changes: str) -> dict[str, str]:
    return {"email": "member01@example.com", "name_en": "", "fax": "", "department": "",
            "position": "", "address_en": "", **changes}


def test_email_change_needs_a_fresh_reauthentication(app, client, rp, clock):
    sign_in_my(client, rp)
    resp = post(client, "/my/profile", profile_data(email="new@example.com"))
    assert resp.status_code == 403 and "본인 확인" in resp.get_data(as_text=True)
    resp = post(client, "/my/reauth", {"password": "Wrong!pass99", "next": "/my/profile"})
    assert resp.status_code == 401
    resp = post(client, "/my/reauth", {"password": PASSWORD, "next": "/my/profile"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/my/profile")
    resp = post(client, "/my/profile", profile_data(email="new@example.com"))
    assert resp.status_code == 303 and "saved=1" in resp.headers["Location"]
    with app.app_context():
        member = db.session.get(Member, member_id(app))
        assert member.email == "new@example.com" and member.email_verified is False
    clock.advance(301)  # the re-authentication is no longer fresh
    resp = post(client, "/my/profile", profile_data(email="newer@example.com"))
    assert resp.status_code == 403
    assert events(app, "member.profile_updated")[0].detail == {"fields": ["email"]}


def _record_identity(app: Any, identity: Any) -> None:
    with app.app_context():
        pd = app.extensions["idp"].personal_data
        db.session.add(MemberIdentity(
            member_id=member_id(app), ci_hash=pd.lookup_hash("ci", identity.ci),
            di_hash=pd.lookup_hash("di", identity.di), ci_sealed=pd.seal(identity.ci, "ci"),
            di_sealed=pd.seal(identity.di, "di"), name=identity.name,
            birthdate=identity.birthdate, gender="M", nationality="domestic", method="mobile",
            vendor="test"))
        db.session.commit()


def test_without_a_ci_on_record_a_verification_alone_is_no_reauthentication(app, client, rp):
    """Anyone named 테스트 passes a name check: without a CI on record the verification is
    not the member's proof (the password is)."""
    sign_in_my(client, rp)
    rid = give_verification(app, client, "reauth", verified_identity(name="테스트"))
    assert client.get(f"/my/reauth/verified?vr={rid}&next=/my/profile").status_code == 403
    rid = give_verification(app, client, "reauth", verified_identity(name="테스트"))
    assert client.get(f"/my/phone?vr={rid}").status_code == 403
    assert post(client, "/my/profile", profile_data(email="x@example.com")).status_code == 403


def test_reauthentication_by_identity_verification_of_the_member_only(app, client, rp):
    mine = verified_identity(name="테스트")
    _record_identity(app, mine)
    sign_in_my(client, rp)
    rid = give_verification(app, client, "reauth", verified_identity(name="김철수"))
    assert client.get(f"/my/reauth/verified?vr={rid}&next=/my/profile").status_code == 403
    assert post(client, "/my/profile", profile_data(email="x@example.com")).status_code == 403
    rid = give_verification(app, client, "reauth", verified_identity(name="테스트"))
    assert client.get(f"/my/reauth/verified?vr={rid}&next=/my/profile").status_code == 403
    rid = give_verification(app, client, "reauth", verified_identity(
        name="테스트", ci=mine.ci, di=mine.di))
    resp = client.get(f"/my/reauth/verified?vr={rid}&next=/my/profile")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/my/profile")
    assert post(client, "/my/profile", profile_data(email="x@example.com")).status_code == 303
    assert client.get(f"/my/reauth/verified?vr={rid}").status_code == 400  # replayed


def test_changes_are_announced_to_the_address_on_record(app, client, rp):
    sign_in_my(client, rp)
    post(client, "/my/reauth", {"password": PASSWORD, "next": "/my/profile"})
    post(client, "/my/profile", profile_data(email="new@example.com"))
    post(client, "/my/password", {"current": PASSWORD, "new_password": NEW_PASSWORD,
                                  "confirm": NEW_PASSWORD})
    assert drain_mail(app).sent == 2  # queued with each change, sent by the mail worker
    with app.app_context():
        sent = [(m.recipient, m.subject) for m in db.session.scalars(
            select(DevMessage).order_by(DevMessage.id))]
    assert sent == [("member01@example.com", "[KOTRA] 이메일 주소가 변경되었습니다"),
                    ("new@example.com", "[KOTRA] 비밀번호가 변경되었습니다")]


def test_reauth_never_redirects_elsewhere(client, rp):
    sign_in_my(client, rp)
    resp = post(client, "/my/reauth", {"password": PASSWORD, "next": "https://evil.example/"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/my/profile")


@pytest.mark.parametrize(("field", "value"), [
    ("fax", "not a number"), ("name_en", "홍길동"), ("address_en", "서울"),
    ("email", "not-an-email"), ("department", "x" * 101),
])
def test_profile_refuses_bad_values(app, client, rp, field, value):
    sign_in_my(client, rp)
    resp = post(client, "/my/profile", profile_data(**{field: value}))
    assert resp.status_code in (400, 403)
    with app.app_context():
        member = db.session.get(Member, member_id(app))
        assert member.fax is None and member.name_en is None and member.address_en is None


def test_optional_fields_saved_without_reauthentication(app, client, rp):
    sign_in_my(client, rp)
    resp = post(client, "/my/profile", profile_data(
        name_en="Hong Gildong", fax="02-3460-7114", department="수출지원팀", position="과장",
        address_en="13 Heolleung-ro, Seoul"))
    assert resp.status_code == 303
    with app.app_context():
        member = db.session.get(Member, member_id(app))
        assert (member.name_en, member.fax, member.department) == (
            "Hong Gildong", "02-3460-7114", "수출지원팀")


def test_phone_comes_from_a_reauth_verification_of_the_member(app, client, rp):
    sign_in_my(client, rp)
    # No CI on record for this member: the password first, then the verification.
    post(client, "/my/reauth", {"password": PASSWORD, "next": "/my/profile"})
    rid = give_verification(app, client, "reauth", verified_identity(
        name="테스트", mobile="01098765432", carrier="KT"))
    resp = client.get(f"/my/phone?vr={rid}")
    assert resp.status_code == 303 and "phone=1" in resp.headers["Location"]
    with app.app_context():
        member = db.session.get(Member, member_id(app))
        assert (member.phone, member.phone_carrier, member.phone_verified) == (
            "010-9876-5432", "KT", True)
    assert client.get(f"/my/phone?vr={rid}").status_code == 400  # single use
    # Another person's verification (another name here; another CI below) is refused.
    rid = give_verification(app, client, "reauth", verified_identity(name="김철수"))
    assert client.get(f"/my/phone?vr={rid}").status_code == 403
    # A verification for another purpose is refused.
    rid = give_verification(app, client, "signup", verified_identity(name="테스트"))
    assert client.get(f"/my/phone?vr={rid}").status_code == 400


def test_phone_change_checks_the_ci_on_record(app, client, rp):
    mine = verified_identity(name="테스트")
    with app.app_context():
        pd = app.extensions["idp"].personal_data
        db.session.add(MemberIdentity(
            member_id=member_id(app), ci_hash=pd.lookup_hash("ci", mine.ci),
            di_hash=pd.lookup_hash("di", mine.di), ci_sealed=pd.seal(mine.ci, "ci"),
            di_sealed=pd.seal(mine.di, "di"), name="테스트", birthdate=mine.birthdate,
            gender="M", nationality="domestic", method="mobile", vendor="test"))
        db.session.commit()
    sign_in_my(client, rp)
    rid = give_verification(app, client, "reauth", verified_identity(name="테스트"))
    assert client.get(f"/my/phone?vr={rid}").status_code == 403  # same name, other CI
    rid = give_verification(app, client, "reauth", verified_identity(
        name="테스트", ci=mine.ci, di=mine.di, mobile="01011112222"))
    assert client.get(f"/my/phone?vr={rid}").status_code == 303


# -- consents ---------------------------------------------------------------------------------

def test_marketing_opt_in_and_out_keeps_the_history(app, client, rp):
    sign_in_my(client, rp)
    assert post(client, "/my/consents", {"channel": "sms", "decision": "in"}).status_code == 303
    assert post(client, "/my/consents", {"channel": "sms", "decision": "in"}).status_code == 303
    assert post(client, "/my/consents", {"channel": "sms", "decision": "out"}).status_code == 303
    assert post(client, "/my/consents", {"channel": "fax", "decision": "in"}).status_code == 400
    assert post(client, "/my/consents", {"channel": "email", "decision": "x"}).status_code == 400
    with app.app_context():
        rows = list(db.session.scalars(select(MarketingConsent).order_by(MarketingConsent.id)))
        assert [(r.channel, r.agreed, r.source) for r in rows] == [
            ("sms", True, "mykotra"), ("sms", False, "mykotra")]
    html = client.get("/my/consents").get_data(as_text=True)
    assert "마케팅 수신 동의 이력" in html and html.count("수신 거부") >= 2


# -- sessions ---------------------------------------------------------------------------------

def test_sessions_list_sign_out_one_and_refuse_a_foreign_one(app, sender):
    site = TestRP.create(app, backchannel_logout_uri=BCL)
    TestRP.create(app, login_id="member02", member=True)
    laptop, phone, theirs = app.test_client(), app.test_client(), app.test_client()
    site.tokens(laptop, )
    sign_in_my(phone, site)
    sign_in_my(theirs, site, login_id="member02")
    p = app.extensions["idp"]
    with app.app_context():
        mine = p.sessions.for_member(member_id(app))
        foreign = p.sessions.for_member(member_id(app, "member02"))[0]
    assert len(mine) == 2
    html = phone.get("/my/sessions").get_data(as_text=True)
    assert "현재 기기" in html and "127.0.0.1" in html
    # Somebody else's session id: refused, and their session lives on.
    resp = post(phone, "/my/sessions/end", {"sid": foreign.sid}, page="/my/sessions")
    assert resp.status_code == 404
    assert theirs.get("/my").status_code == 200
    assert post(phone, "/my/sessions/end", {"sid": "nope"}, "/my/sessions").status_code == 404
    current = next(s for s in mine if "my_login" not in s.sid and s.clients and
                   CONSOLE_CLIENT_ID in s.clients)
    assert post(phone, "/my/sessions/end", {"sid": current.sid},
                "/my/sessions").status_code == 400
    laptop_sess = next(s for s in mine if s.sid != current.sid)
    resp = post(phone, "/my/sessions/end", {"sid": laptop_sess.sid}, "/my/sessions")
    assert resp.status_code == 303
    again = site.authorize(laptop, prompt="none")
    assert callback_params(again.headers["Location"], REDIRECT_URI)["error"] == "login_required"
    with app.app_context():
        assert [q.sid for q in db.session.scalars(select(BackchannelLogout))] == [
            laptop_sess.sid]
    assert phone.get("/my").status_code == 200


def test_sign_out_other_sessions(app, sender):
    site = TestRP.create(app, backchannel_logout_uri=BCL)
    a, b, c = app.test_client(), app.test_client(), app.test_client()
    tokens_a = site.tokens(a)
    site.tokens(b)
    sign_in_my(c, site)
    resp = post(c, "/my/sessions/end-others", {}, "/my/sessions")
    assert resp.status_code == 303 and "ended=2" in resp.headers["Location"]
    assert a.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens_a['access_token']}"}).status_code == 401
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BackchannelLogout)) == 2
        assert len(app.extensions["idp"].sessions.for_member(member_id(app))) == 1
    assert c.get("/my").status_code == 200


def test_device_names():
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/120.0 Safari/537.36")
    assert describe_device(chrome) == "Chrome · Windows"
    assert describe_device(None) == "-"
    assert describe_device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Version/17.0 "
                           "Mobile/15E148 Safari/604.1") == "Safari · iOS"


# -- connected sites --------------------------------------------------------------------------

def test_connected_sites_revoke_one_and_refuse_another_members(app, sender):
    third = TestRP.create(app, first_party=False, backchannel_logout_uri=BCL, member=False,
                          name="외부 협력 사이트")
    own = TestRP.create(app, name="KOTRA 사이트")
    stranger_site = TestRP.create(app, login_id="member02", name="남의 사이트")
    web, theirs = app.test_client(), app.test_client()
    resp = third.authorize(web)
    resp = third.login(web, resp.headers["Location"])
    consent = web.get(resp.headers["Location"])
    web.post(resp.headers["Location"], data={"csrf_token": csrf(consent.get_data(
        as_text=True)), "decision": "allow"})
    own.tokens(web)
    stranger_site.tokens(theirs)
    html = web.get("/my/sites").get_data(as_text=True)
    assert "외부 협력 사이트" in html and "KOTRA 사이트" in html and "남의 사이트" not in html
    assert "MY KOTRA</td>" not in html
    # A client the member holds nothing for (another member's site): refused.
    resp = post(web, "/my/sites/revoke", {"client_id": stranger_site.client_id}, "/my/sites")
    assert resp.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Token).where(
            Token.client_id == stranger_site.client_id, Token.revoked_at.is_(None))) == 1
    resp = post(web, "/my/sites/revoke", {"client_id": third.client_id}, "/my/sites")
    assert resp.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Consent)) == 0
        assert db.session.scalar(select(func.count()).select_from(Token).where(
            Token.client_id == third.client_id, Token.revoked_at.is_(None))) == 0
        queued = list(db.session.scalars(select(BackchannelLogout)))
        assert [(q.client_id, q.sid) for q in queued] == [(third.client_id, None)]
    assert events(app, "consent.revoked")[0].client_id == third.client_id
    # The next sign-in at the third party asks for consent again.
    resp = third.authorize(web)
    assert "/consent" in resp.headers["Location"]


# -- withdrawal -------------------------------------------------------------------------------

def test_withdrawal_refuses_a_wrong_password_and_a_missing_confirmation(app, client, rp):
    sign_in_my(client, rp)
    resp = post(client, "/my/withdraw", {"password": "Wrong!pass99", "confirm": "y"})
    assert resp.status_code == 401
    resp = post(client, "/my/withdraw", {"password": PASSWORD})
    assert resp.status_code == 400 and "동의해 주세요" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Member, member_id(app)).status == "active"


def test_withdrawal_deletes_personal_data_and_ends_everything(app, sender):
    site = TestRP.create(app, backchannel_logout_uri=BCL)
    web, other = app.test_client(), app.test_client()
    tokens = site.tokens(other)
    sign_in_my(web, site)
    mid = member_id(app)
    ident = verified_identity(name="테스트")
    with app.app_context():
        pd = app.extensions["idp"].personal_data
        db.session.add(MemberIdentity(
            member_id=mid, ci_hash=pd.lookup_hash("ci", ident.ci),
            di_hash=pd.lookup_hash("di", ident.di), ci_sealed=pd.seal(ident.ci, "ci"),
            di_sealed=pd.seal(ident.di, "di"), name="테스트", birthdate=ident.birthdate,
            gender="M", nationality="domestic", method="mobile", vendor="test"))
        db.session.commit()
        db.session.add(LegacyAccount(
            site="무역투자24", legacy_id="oldid2021", legacy_id_key="oldid2021",
            member_type="personal", name="테스트", email="old@example.com",
            mobile="01012345678", status="converted", member_id=mid, password_scheme="sha256",
            password_hash="0" * 64, row_digest="x" * 64))
        db.session.commit()
    post(web, "/my/consents", {"channel": "email", "decision": "in"})
    resp = post(web, "/my/withdraw", {"password": PASSWORD, "confirm": "y"})
    assert resp.status_code == 200 and "회원탈퇴가 완료되었습니다" in resp.get_data(as_text=True)
    with app.app_context():
        member = db.session.get(Member, mid)
        assert member.status == "withdrawn" and member.withdrawn_at is not None
        assert (member.login_id, member.email, member.phone, member.password_hash) == (
            None, None, None, None)
        assert member.name == "탈퇴회원"
        for model in (MemberIdentity, MarketingConsent, TermsConsent, Consent):
            assert db.session.scalar(select(func.count()).select_from(model).where(
                model.member_id == mid)) == 0
        old = db.session.scalar(select(LegacyAccount))
        assert (old.name, old.email, old.mobile, old.password_hash, old.status) == (
            None, None, None, None, "converted")
        trail = list(db.session.scalars(select(AuditEvent).where(AuditEvent.member_id == mid)))
        assert trail and all(e.ip is None for e in trail)
        assert {e.event for e in trail} >= {"login.success", "member.withdrawn",
                                            "member.revoked"}
        assert db.session.scalar(select(func.count()).select_from(Token).where(
            Token.member_id == mid, Token.revoked_at.is_(None))) == 0
        assert db.session.scalar(select(func.count()).select_from(BackchannelLogout)) >= 1
    assert other.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    # Signed out here, and never again signed in with the old ID and password.
    assert web.get("/my").status_code == 303
    fresh = app.test_client()
    resp = site.authorize(fresh)
    assert site.login(fresh, resp.headers["Location"]).status_code == 401


# -- 관심정보 (the interests picker on the profile) ---------------------------------------------

@pytest.fixture()
def nomenclature(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from idp.services import hs

    monkeypatch.setattr(hs, "VERSION_CHECK_SECONDS", 0.0)
    with app.app_context():
        hs.load_builtin(db.session)
    return app


def chosen(app: Any) -> tuple[list[str], list[str]]:
    from idp.services.interests import load_interests

    with app.app_context():
        found = load_interests(db.session, member_id(app))
        return found.hs_codes, found.country_codes


def post_profile(web: Any, hs_codes: list[str], countries: list[str], **changes: Any) -> Any:
    html = web.get("/my/profile").get_data(as_text=True)
    data: dict[str, Any] = {"csrf_token": csrf(html), "interests_shown": "1",
                            "interest_hs": hs_codes, "interest_country": countries,
                            **profile_data(), **changes}
    return web.post("/my/profile", data=data)


def test_profile_shows_and_edits_the_interests(nomenclature, client, rp):
    app = nomenclature
    sign_in_my(client, rp)
    html = client.get("/my/profile").get_data(as_text=True)
    assert 'data-field="interest_hs"' in html and "선택한 항목이 없습니다" in html
    resp = post_profile(client, ["1806", "843820"], ["US"])
    assert resp.status_code == 303 and "saved=1" in resp.headers["Location"]
    assert chosen(app) == (["1806", "843820"], ["US"])
    html = client.get("/my/profile").get_data(as_text=True)
    assert 'name="interest_hs" value="843820"' in html and "미국(United States)" in html
    assert post_profile(client, ["1806", "843820"], ["US"]).headers["Location"].endswith(
        "saved=0")  # unchanged
    assert events(app, "member.profile_updated")[0].detail == {"fields": ["interests"]}
    # a form without the picker (an old page) leaves the interests alone
    resp = post(client, "/my/profile", profile_data(department="수출지원팀"))
    assert resp.status_code == 303 and chosen(app) == (["1806", "843820"], ["US"])
    assert post_profile(client, [], []).status_code == 303
    assert chosen(app) == ([], [])


@pytest.mark.parametrize(("hs_codes", "countries", "message"), [
    (["1806", "999999"], [], "없는 HS 코드입니다: 999999"),
    ([], ["ZZ"], "없는 국가 코드입니다: ZZ"),
    ([f"{c:02d}" for c in range(1, 23)], [], "관심품목은 20개까지"),
    (["1806"], ["x' OR 1=1"], "없는 국가 코드입니다"),
])
def test_profile_refuses_bad_interests_and_changes_nothing(nomenclature, client, rp, hs_codes,
                                                          countries, message):
    app = nomenclature
    sign_in_my(client, rp)
    assert post_profile(client, ["0901"], ["JP"]).status_code == 303
    resp = post_profile(client, hs_codes, countries, department="바뀌면 안 됨")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and message in html and 'aria-invalid="true"' in html
    assert chosen(app) == (["0901"], ["JP"])
    with app.app_context():
        assert db.session.get(Member, member_id(app)).department is None


def test_withdrawal_deletes_the_interests(nomenclature, client, rp):
    from idp.models.interests import MemberInterestCountry, MemberInterestItem

    app = nomenclature
    sign_in_my(client, rp)
    assert post_profile(client, ["1806"], ["US", "VN"]).status_code == 303
    resp = post(client, "/my/withdraw", {"password": PASSWORD, "confirm": "y"})
    assert resp.status_code == 200
    with app.app_context():
        for model in (MemberInterestItem, MemberInterestCountry):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0
