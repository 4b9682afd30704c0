"""비밀번호 재설정 (manual ch. 08, idp/web/password_reset.py): the ID, an identity
verification whose CI matches the account, then the new password; everything the member held
revoked with back-channel logout, the sign-in lock lifted, an audit event, a notice by email."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.adapters.backchannel import RecordingBackchannelSender
from idp.extensions import db
from idp.mail_worker import drain_mail
from idp.models import (
    AuditEvent,
    BackchannelLogout,
    DevMessage,
    LegacyAccount,
    Member,
    MemberIdentity,
)
from idp.oidc.logout import drain_backchannel
from idp.services.password_reset import ACCOUNT, IP
from idp.services.ports import MessageNotSent
from tests.helpers import (
    PASSWORD,
    REDIRECT_URI,
    TestRP,
    callback_params,
    form_fields,
    give_verification,
    verified_identity,
)

NEW_PASSWORD = "Brand!new2027"
NOT_MATCHED = "입력하신 아이디와 본인확인 정보가 일치하는 회원을 찾을 수 없습니다."
BCL = "https://rp.example/bcl"


@pytest.fixture()
def sender(app: Any) -> RecordingBackchannelSender:
    fake = RecordingBackchannelSender()
    app.extensions["idp"].outbox.sender = fake
    return fake


def give_identity(app: Any, login_id: str, ci: str) -> None:
    """The member's verified identity, as sign-up would have stored it."""
    with app.app_context():
        p = app.extensions["idp"]
        member = db.session.scalars(select(Member).where(Member.login_id == login_id)).one()
        db.session.add(MemberIdentity(
            member_id=member.id, ci_hash=p.personal_data.lookup_hash("ci", ci),
            di_hash=p.personal_data.lookup_hash("di", "DI-" + ci),
            ci_sealed=p.personal_data.seal(ci, "ci"),
            di_sealed=p.personal_data.seal("DI-" + ci, "di"), name=member.name,
            birthdate=dt.date(1985, 3, 1), gender="M", nationality="domestic",
            carrier="SKT", method="mobile", vendor="test"))
        db.session.commit()


@pytest.fixture()
def member(app: Any) -> TestRP:
    site = TestRP.create(app, backchannel_logout_uri=BCL)
    give_identity(app, "member01", "CI-member01")
    return site


def _events(app: Any, name: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)
                                  .order_by(AuditEvent.id)).all()
        return [json.loads(r.detail) if isinstance(r.detail, str) else (r.detail or {})
                | {"member_id": r.member_id} for r in rows]


def enter_id(web: Any, login_id: str, ia: str | None = None) -> str:
    """Step 1; returns the flow's verify page path."""
    page = web.get("/reset-password", query_string={"ia": ia} if ia else None)
    assert page.status_code == 200
    _action, hidden = form_fields(page.get_data(as_text=True))
    resp = web.post("/reset-password", data={**hidden, "login_id": login_id})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:400]
    return str(resp.headers["Location"])


def verify(app: Any, web: Any, verify_path: str, ci: str = "CI-member01") -> Any:
    """Step 2 with a completed verification for this browser; a refusal is followed to the
    page it leads to."""
    assert web.get(verify_path).status_code == 200
    vr = give_verification(app, web, "reset_password", verified_identity(ci=ci))
    resp = web.get(verify_path + "/verified", query_string={"vr": vr})
    if resp.status_code == 303 and not resp.headers["Location"].endswith("/password"):
        return web.get(resp.headers["Location"])
    return resp


def new_password(web: Any, password_path: str, password: str = NEW_PASSWORD,
                 confirm: str | None = None) -> Any:
    page = web.get(password_path)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    _action, hidden = form_fields(page.get_data(as_text=True))
    return web.post(password_path, data={**hidden, "password": password,
                                         "confirm": password if confirm is None else confirm})


def reset_to_password_page(app: Any, web: Any, login_id: str = "member01") -> str:
    path = enter_id(web, login_id)
    resp = verify(app, web, path)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:400]
    assert resp.headers["Location"].endswith("/password")
    return str(resp.headers["Location"])


def _signed_in(web: Any, rp: TestRP) -> bool:
    resp = rp.authorize(web, prompt="none")
    return "code" in callback_params(resp.headers["Location"], REDIRECT_URI)


def test_reset_revokes_everything_and_the_new_password_works(app, member, sender, clock):
    laptop, phone = app.test_client(), app.test_client()
    tokens = member.tokens(laptop)  # signed in elsewhere, with a refresh token
    assert _signed_in(laptop, member)
    # Locked out of sign-in by someone guessing: the reset lifts it.
    p = app.extensions["idp"]
    with app.app_context():
        for _ in range(p.settings["throttle"]["account_lock_after"]):
            p.throttle.failed(p.throttle.reserve(account="member01"))
            clock.advance(61)  # past each growing delay
        db.session.commit()
        assert p.throttle.locked_until("account", "member01")

    password_path = reset_to_password_page(app, phone)
    page = phone.get(password_path).get_data(as_text=True)
    assert 'data-strength="pw-strength"' in page and 'data-confirm="password"' in page
    assert "안전도" in page
    done = new_password(phone, password_path)
    assert done.status_code == 303 and done.headers["Location"].endswith("/done")
    shown = phone.get(done.headers["Location"]).get_data(as_text=True)
    assert "비밀번호가 재설정되었습니다" in shown

    # The old refresh token is dead, the SSO session gone, a logout token queued and sent.
    refreshed = laptop.post("/token", headers=member.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400
    assert not _signed_in(laptop, member)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BackchannelLogout)) == 1
    assert drain_backchannel(app).delivered == 1
    assert [s.uri for s in sender.sent] == [BCL]
    with app.app_context():
        assert p.throttle.locked_until("account", "member01") is None

    # The old password no longer signs in; the new one does.
    web = app.test_client()
    location = member.authorize(web).headers["Location"]
    assert member.login(web, location).status_code == 401
    assert member.login(web, location, password=NEW_PASSWORD).status_code == 303

    completed = _events(app, "password_reset.completed")
    assert len(completed) == 1 and completed[0]["sessions_ended"] == 1
    assert _events(app, "member.revoked")[0]["reason"] == "password_reset"
    # The notice is queued with the reset and sent by the mail worker, not by the request.
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DevMessage)) == 0
    assert drain_mail(app).sent == 1
    with app.app_context():
        mail = db.session.query(DevMessage).order_by(DevMessage.id.desc()).all()
        assert [m.recipient for m in mail] == ["member01@example.com"]
        assert "비밀번호가 재설정되었습니다" in (mail[0].subject or "")
        assert "member01" in mail[0].body and NEW_PASSWORD not in mail[0].body


def test_the_done_page_leads_back_to_the_pending_sign_in(app, member):
    web = app.test_client()
    location = member.authorize(web).headers["Location"]
    uid = location.rsplit("/", 1)[-1]
    login_page = web.get(location).get_data(as_text=True)
    assert f'href="/reset-password?ia={uid}"' in login_page
    path = enter_id(web, "member01", ia=uid)
    password_path = verify(app, web, path).headers["Location"]
    done = new_password(web, password_path)
    page = web.get(done.headers["Location"]).get_data(as_text=True)
    assert re.search(rf'href="/interaction/{uid}"[^>]*id="to-login"', page), page
    # ... and signing in there with the new password resumes the relying party's request.
    signed = member.login(web, location, password=NEW_PASSWORD)
    assert signed.status_code == 303
    assert "code" in callback_params(signed.headers["Location"], REDIRECT_URI)


def test_without_a_pending_sign_in_the_done_page_leads_home(app, member):
    web = app.test_client()
    path = enter_id(web, "member01", ia="gone-or-someone-elses")
    done = new_password(web, verify(app, web, path).headers["Location"])
    page = web.get(done.headers["Location"]).get_data(as_text=True)
    assert re.search(r'href="/"[^>]*id="to-login"', page), page


def _legacy(app: Any, login_id: str, ci: str) -> None:
    with app.app_context():
        p = app.extensions["idp"]
        db.session.add(LegacyAccount(
            site="무역투자24", legacy_id=login_id, legacy_id_key=login_id,
            member_type="personal", name="홍길동", ci_hash=p.personal_data.lookup_hash("ci", ci),
            row_digest="0" * 64))
        db.session.commit()


@pytest.mark.parametrize("case", ["unknown_id", "ci_mismatch", "no_identity", "legacy",
                                  "locked_member"])
def test_every_mismatch_gets_the_same_message(app, member, case):
    login_id, ci = "member01", "CI-member01"
    if case == "unknown_id":
        login_id = "nobody0101"
    elif case == "ci_mismatch":
        ci = "CI-someone-else"
    elif case == "no_identity":
        TestRP.create(app, login_id="member02", member=True)
        login_id, ci = "member02", "CI-member02"
    elif case == "legacy":
        _legacy(app, "oldsite77", "CI-old77")
        login_id, ci = "oldsite77", "CI-old77"
    else:
        with app.app_context():
            db.session.execute(Member.__table__.update().where(
                Member.login_id == "member01").values(status="locked"))
            db.session.commit()
    web = app.test_client()
    resp = verify(app, web, enter_id(web, login_id), ci=ci)
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert NOT_MATCHED in body
    assert 'id="reset-start"' in body  # back at the ID, to correct it
    refused = _events(app, "password_reset.refused")
    assert len(refused) == 1
    with app.app_context():
        assert app.extensions["idp"].throttle.failures(ACCOUNT, login_id) == 1


def test_the_same_bytes_for_an_unknown_id_and_another_persons_ci(app, member):
    pages = []
    for login_id, ci in (("nobody0101", "CI-member01"), ("member01", "CI-other")):
        web = app.test_client()
        resp = verify(app, web, enter_id(web, login_id), ci=ci)
        body = resp.get_data(as_text=True)
        body = re.sub(r'value="[^"]*"', 'value=""', body)
        pages.append((resp.status_code, body))
    assert pages[0] == pages[1]


def test_mismatches_are_throttled_per_id(app, member, clock):
    lock_after = app.config["IDP_SETTINGS"]["password_reset"]["account_lock_after"]
    for n in range(lock_after):
        web = app.test_client()
        resp = verify(app, web, enter_id(web, "member01"), ci=f"CI-guess-{n}")
        assert resp.status_code == 400
    # Now even the right person waits: the ID is locked (a lock, not an oracle).
    web = app.test_client()
    resp = verify(app, web, enter_id(web, "member01"))
    assert resp.status_code == 429 and "너무 많습니다" in resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) > 0
    assert _events(app, "password_reset.throttled")
    clock.advance(app.config["IDP_SETTINGS"]["password_reset"]["lock_seconds"] + 1)
    web = app.test_client()
    assert verify(app, web, enter_id(web, "member01")).status_code == 303


def test_mismatches_are_throttled_per_ip(app, member):
    with app.app_context():
        p = app.extensions["idp"]
        for _ in range(app.config["IDP_SETTINGS"]["password_reset"]["ip_lock_after"]):
            p.throttle.failed(p.throttle.reserve(**{IP: "127.0.0.1"}))
        db.session.commit()
    web = app.test_client()
    assert verify(app, web, enter_id(web, "member01")).status_code == 429


def test_a_verification_is_taken_once_and_only_by_its_browser(app, member):
    web, other = app.test_client(), app.test_client()
    path = enter_id(web, "member01")
    vr = give_verification(app, web, "reset_password", verified_identity(ci="CI-member01"))
    # Another browser with the same link gets nothing (flow and result are this browser's).
    foreign = other.get(path + "/verified", query_string={"vr": vr})
    assert foreign.status_code == 400
    assert web.get(path + "/verified", query_string={"vr": vr}).status_code == 303
    # Replayed: the result was used.
    path2 = enter_id(web, "member01")
    replay = web.get(path2 + "/verified", query_string={"vr": vr})
    assert replay.status_code == 303 and "refused=expired" in replay.headers["Location"]
    shown = web.get(replay.headers["Location"])
    assert shown.status_code == 400
    assert "다시 인증해 주세요" in shown.get_data(as_text=True)


def test_a_verification_for_another_purpose_is_refused(app, member):
    web = app.test_client()
    path = enter_id(web, "member01")
    vr = give_verification(app, web, "signup", verified_identity(ci="CI-member01"))
    resp = web.get(web.get(path + "/verified", query_string={"vr": vr}).headers["Location"])
    assert resp.status_code == 400 and "다른 용도로 받은" in resp.get_data(as_text=True)


def test_the_password_page_needs_the_verification(app, member):
    web = app.test_client()
    path = enter_id(web, "member01")
    resp = web.get(path + "/password")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(path)


@pytest.mark.parametrize(("password", "confirm", "expected"), [
    ("short1!", None, "영문, 숫자, 특수문자를 모두 포함해"),
    ("nodigits!!abc", None, "영문, 숫자, 특수문자를 모두 포함해"),
    ("Member01!abc", None, "아이디나 이름이 들어간"),       # contains the ID
    (NEW_PASSWORD, "Other!pass2027", "비밀번호가 일치하지 않습니다"),
    (PASSWORD, None, "현재 비밀번호와 다른 비밀번호"),       # the old one
])
def test_weak_mismatched_or_unchanged_passwords_are_refused(app, member, password, confirm,
                                                           expected):
    web = app.test_client()
    password_path = reset_to_password_page(app, web)
    resp = new_password(web, password_path, password, confirm)
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert expected in body and 'aria-invalid="true"' in body
    # Nothing changed, and the flow still works.
    assert _events(app, "password_reset.completed") == []
    assert new_password(web, password_path).status_code == 303


def test_a_double_submit_changes_the_password_once(app, member):
    web = app.test_client()
    password_path = reset_to_password_page(app, web)
    page = web.get(password_path)
    _action, hidden = form_fields(page.get_data(as_text=True))
    data = {**hidden, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    first = web.post(password_path, data=data)
    second = web.post(password_path, data={**data, "password": "Second!pass2027",
                                           "confirm": "Second!pass2027"})
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert len(_events(app, "password_reset.completed")) == 1
    drain_mail(app)  # one notice queued, however many submits
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DevMessage)) == 1
    web2 = app.test_client()
    location = member.authorize(web2).headers["Location"]
    assert member.login(web2, location, password=NEW_PASSWORD).status_code == 303


def test_a_used_flow_cannot_be_used_in_another_browser(app, member):
    web, other = app.test_client(), app.test_client()
    password_path = reset_to_password_page(app, web)
    assert other.get(password_path).status_code == 400
    assert other.get(password_path.replace("/password", "/done")).status_code == 400


def test_a_mail_failure_is_audited_and_the_reset_stands(app, member, monkeypatch):
    def refuse(**_: Any) -> None:
        raise MessageNotSent("smtp down")

    monkeypatch.setattr(app.extensions["idp"].notify, "email", refuse)
    web = app.test_client()
    resp = new_password(web, reset_to_password_page(app, web))
    assert resp.status_code == 303
    assert drain_mail(app).retrying == 1  # and again later, until the server takes it
    [failed] = _events(app, "password_reset.notice_failed")
    assert failed["error"] == "MessageNotSent: smtp down" and failed["attempt"] == 1
    assert failed["member_id"] is not None
    assert len(_events(app, "password_reset.completed")) == 1


def test_expired_flow_starts_again(app, member, clock):
    web = app.test_client()
    path = enter_id(web, "member01")
    clock.advance(3600)
    resp = web.get(path)
    assert resp.status_code == 400 and "처음부터 다시" in resp.get_data(as_text=True)


def test_bad_input_never_fails(app, member):
    web = app.test_client()
    page = web.get("/reset-password")
    _action, hidden = form_fields(page.get_data(as_text=True))
    for login_id in ("", "   ", "a\x00b", "x" * 5000):
        resp = web.post("/reset-password", data={**hidden, "login_id": login_id})
        assert resp.status_code in (303, 400), login_id
    assert web.post("/reset-password", data={"login_id": "member01"}).status_code == 400  # CSRF
    assert web.get("/reset-password/nope/verified?vr=x").status_code == 400
    assert web.get("/reset-password", query_string={"ia": "<script>"}).status_code == 200


def test_the_pages_in_english(app, member):
    web = app.test_client()
    page = web.get("/reset-password?lang=en").get_data(as_text=True)
    assert 'lang="en"' in page and "Reset password" in page and "Enter ID" in page
    web.set_cookie("idp_lang", "en")
    verify_path = enter_id(web, "member01")
    assert "Only the person registered" in web.get(verify_path).get_data(as_text=True)
    password_path = verify(app, web, verify_path).headers["Location"]
    page = web.get(password_path).get_data(as_text=True)
    assert "New password" in page and "Re-enter the new password" in page and "Save" in page
    refused = new_password(web, password_path, "short1!").get_data(as_text=True)
    assert "may not contain your ID or name" in refused
    done = new_password(web, password_path)
    assert "has been reset" in web.get(done.headers["Location"]).get_data(as_text=True)


def test_a_sign_in_in_english_keeps_english_on_the_reset_pages(app, member):
    web = app.test_client()
    location = member.authorize(web, ui_locales="en").headers["Location"]
    uid = location.rsplit("/", 1)[-1]
    page = web.get("/reset-password", query_string={"ia": uid}).get_data(as_text=True)
    assert 'lang="en"' in page


def test_two_racing_submits_change_the_password_once(app, member):
    """Two requests of one browser with the same flow at the same moment: one consume wins."""
    import threading

    from idp.cookies import build_cookies
    from idp.services import password_reset as reset

    web = app.test_client()
    password_path = reset_to_password_page(app, web)
    fid = password_path.split("/")[-2]
    p = app.extensions["idp"]
    browser = web.get_cookie(build_cookies(p.settings, secure=False).browser.name).value
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(password: str) -> None:
        with app.app_context():
            barrier.wait()
            try:
                reset.change_password(db.session, p, fid, browser=browser, password=password,
                                      confirm=password, ip="127.0.0.1")
                outcomes.append("changed")
            except reset.ResetGone:
                db.session.rollback()
                outcomes.append("gone")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(pw,))
               for pw in (NEW_PASSWORD, "Second!pass2027")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["changed", "gone"]
    assert len(_events(app, "password_reset.completed")) == 1
    drain_mail(app)  # one notice queued, however many submits
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DevMessage)) == 1


def test_the_verification_round_trip_through_the_verify_pages(app, member):
    """The verify page's buttons go through /verify/start and the vendor callback back to
    /reset-password/<fid>/verified (a scripted vendor stands in for the adapters)."""
    from urllib.parse import parse_qs, urlsplit

    from tests.web.test_verification_web import ScriptedVerifier

    vendor = ScriptedVerifier()
    vendor.answer = verified_identity(ci="CI-member01")
    app.extensions["idp"].identity_verifiers = {"mobile": vendor}
    web = app.test_client()
    verify_path = enter_id(web, "member01")
    page = web.get(verify_path).get_data(as_text=True)
    link = re.search(r'href="(/verify/start\?[^"]+)"', page)
    assert link is not None, page
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["purpose"] == ["reset_password"]
    assert query["next"] == [verify_path + "/verified"]
    to_vendor = web.get(link.group(1).replace("&amp;", "&"))
    callback = urlsplit(parse_qs(urlsplit(to_vendor.headers["Location"]).query)["cb"][0]).path
    back = web.get(callback, query_string={"ok": "1"})
    assert back.status_code == 303 and back.headers["Location"].startswith(
        verify_path + "/verified?vr=")
    matched = web.get(back.headers["Location"])
    assert matched.status_code == 303 and matched.headers["Location"].endswith("/password")
