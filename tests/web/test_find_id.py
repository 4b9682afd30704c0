"""아이디 찾기 (/find-id, idp/web/find_id.py): by mobile with an SMS code, by 간편인증, by email;
the masked ID and the join date in Korean time; nothing tells a visitor whether an account
exists; rate limits per IP and per target; the way back to the pending sign-in."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
from sqlalchemy import select, update

from idp.extensions import db
from idp.mail_worker import drain_mail
from idp.models import AuditEvent, Member, QueuedEmail
from idp.models.identity import DevMessage, MemberIdentity
from idp.services.find_id import mask_login_id, normalize_mobile
from tests.helpers import add_test_member, form_fields, give_verification, verified_identity

NAME = "테스트"  # add_test_member's name, phone 010-0000-0000


@pytest.fixture()
def member(app: Any) -> str:
    add_test_member(app, "member01")
    with app.app_context():
        m = db.session.scalar(select(Member).where(Member.login_id == "member01"))
        m.created_at = dt.datetime(2022, 12, 12, 4, 29, 28)  # 13:29:28 KST (the manual's)
        db.session.commit()
    return "member01"


def messages(app: Any, channel: str | None = None) -> list[DevMessage]:
    with app.app_context():
        query = select(DevMessage).order_by(DevMessage.id.desc())
        if channel:
            query = query.where(DevMessage.channel == channel)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def last_code(app: Any, to: str = "01000000000") -> str:
    sms = [m for m in messages(app, "sms") if m.recipient == to]
    match = re.search(r"\[(\d{6})\]", sms[0].body)
    assert match, sms[0].body
    return match.group(1)


def events(app: Any, prefix: str = "find_id.") -> list[str]:
    with app.app_context():
        return [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if e.event.startswith(prefix)]


def csrf(client: Any, path: str = "/find-id") -> str:
    _action, hidden = form_fields(client.get(path).get_data(as_text=True))
    return hidden["csrf_token"]


def ask_code(client: Any, name: str = NAME, phone: tuple[str, str, str] = ("010", "0000", "0000"),
             ia: str | None = None) -> Any:
    data = {"csrf_token": csrf(client), "name": name, "phone1": phone[0], "phone2": phone[1],
            "phone3": phone[2]}
    if ia:
        data["ia"] = ia
    return client.post("/find-id/mobile", data=data)


def type_code(client: Any, location: str, code: str, action: str = "verify") -> Any:
    return client.post(location, data={"csrf_token": csrf(client, location), "code": code,
                                       "action": action})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- by mobile ---------------------------------------------------------------------------

def test_mobile_code_then_the_masked_id_and_join_time(app, client, member):
    resp = ask_code(client)
    assert resp.status_code == 303
    location = resp.headers["Location"]
    assert location.startswith("/find-id/mobile/")
    page = client.get(location).get_data(as_text=True)
    assert "인증번호를 발송했습니다" in page and "010-00**-0000" in page
    sms = messages(app, "sms")[0]
    assert sms.recipient == "01000000000" and "아이디 찾기" in sms.body
    result = type_code(client, location, last_code(app))
    html = result.get_data(as_text=True)
    assert result.status_code == 200
    assert "mem*****" in html and "member01" not in html
    assert "2022-12-12 13:29:28" in html
    assert 'href="/reset-password"' in html
    assert events(app) == ["find_id.code_sent", "find_id.found"]
    # single use: the flow is gone
    again = type_code(client, location, last_code(app))
    assert again.status_code == 400 and "처음부터 다시" in again.get_data(as_text=True)


def _normalised(html: str) -> str:
    return re.sub(r'value="[^"]*"', "", html)


def test_no_member_gets_the_same_pages_until_the_code(app, client, member):
    found = ask_code(client)
    other = app.test_client()
    missing = ask_code(other, name="없는사람", phone=("010", "9999", "8888"))
    assert (found.status_code, missing.status_code) == (303, 303)
    page_found = client.get(found.headers["Location"]).get_data(as_text=True)
    page_missing = other.get(missing.headers["Location"]).get_data(as_text=True)
    strip = lambda h: re.sub(r"/find-id/mobile/[\w-]+|010-\d\d\*\*-\d{4}", "", _normalised(h))  # noqa: E731
    assert strip(page_found) == strip(page_missing)
    # the code went to the typed number anyway; only its holder learns there is no ID
    result = type_code(other, missing.headers["Location"], last_code(app, "01099998888"))
    assert result.status_code == 200
    assert "일치하는 아이디가 없습니다" in result.get_data(as_text=True)
    assert events(app)[-1] == "find_id.not_found"


def test_a_name_that_does_not_match_the_number_finds_nothing(app, client, member):
    resp = ask_code(client, name="홍길동")
    result = type_code(client, resp.headers["Location"], last_code(app))
    assert "일치하는 아이디가 없습니다" in result.get_data(as_text=True)


def test_withdrawn_members_are_not_found(app, client, member):
    with app.app_context():
        m = db.session.scalar(select(Member).where(Member.login_id == member))
        m.withdrawn_at = dt.datetime(2025, 1, 1)
        db.session.commit()
    resp = ask_code(client)
    result = type_code(client, resp.headers["Location"], last_code(app))
    assert "일치하는 아이디가 없습니다" in result.get_data(as_text=True)


def test_wrong_codes_until_the_lock(app, client, member):
    location = ask_code(client).headers["Location"]
    code = last_code(app)
    for remaining in (4, 3, 2, 1):
        resp = type_code(client, location, wrong(code))
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400
        assert f"남은 입력 횟수: {remaining}회" in html and 'aria-invalid="true"' in html
    fifth = type_code(client, location, wrong(code))
    assert fifth.status_code == 429
    assert "5회 잘못 입력" in fifth.get_data(as_text=True)
    # the flow and the code are dead; the number is locked, even from another browser
    assert type_code(client, location, code).status_code == 400
    again = ask_code(app.test_client())
    assert again.status_code == 429 and "잠시 이용할 수 없습니다" in again.get_data(as_text=True)
    assert "find_id.code_locked" in events(app)


def test_the_code_expires_after_three_minutes(app, client, member, clock):
    location = ask_code(client).headers["Location"]
    code = last_code(app)
    clock.advance(181)
    resp = type_code(client, location, code)
    assert resp.status_code == 400
    assert "인증번호 입력 시간이 지났습니다" in resp.get_data(as_text=True)


def test_resend_after_the_cooldown_with_a_new_code(app, client, member, clock):
    location = ask_code(client).headers["Location"]
    first = last_code(app)
    soon = type_code(client, location, "", action="resend")
    assert soon.status_code == 429 and "초 후에 다시" in soon.get_data(as_text=True)
    clock.advance(31)
    resent = type_code(client, location, "", action="resend")
    assert resent.status_code == 200
    assert "인증번호를 다시 발송했습니다" in resent.get_data(as_text=True)
    assert len(messages(app, "sms")) == 2
    second = last_code(app)
    if second != first:
        assert type_code(client, location, first).status_code == 400
    assert "mem*****" in type_code(client, location, second).get_data(as_text=True)


def test_another_browser_cannot_use_the_flow_or_the_code(app, client, member):
    location = ask_code(client).headers["Location"]
    code = last_code(app)
    thief = app.test_client()
    resp = type_code(thief, location, code)
    assert resp.status_code == 400 and "mem*****" not in resp.get_data(as_text=True)
    assert "mem*****" in type_code(client, location, code).get_data(as_text=True)


@pytest.mark.parametrize(("name", "phone", "message"), [
    ("", ("010", "0000", "0000"), "이름을 입력해 주세요"),
    (NAME, ("010", "12", "3456"), "휴대폰 번호를 정확히"),
    (NAME, ("010", "abcd", "efgh"), "휴대폰 번호를 정확히"),
    (NAME, ("999", "1234", "5678"), "휴대폰 번호를 정확히"),
    ("a\x00b", ("010", "0000", "0000"), ""),
    ("가" * 51, ("010", "0000", "0000"), ""),
])
def test_bad_input_is_refused_with_a_message(app, client, name, phone, message):
    resp = ask_code(client, name=name, phone=phone)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'role="alert"' in html and message in html
    assert messages(app) == []


def test_no_csrf_token_no_code(app, client, member):
    resp = client.post("/find-id/mobile", data={"name": NAME, "phone1": "010",
                                                "phone2": "0000", "phone3": "0000"})
    assert resp.status_code == 400
    assert messages(app) == []


def test_unknown_flow_and_garbage_paths(client):
    assert client.get("/find-id/mobile/nope").status_code == 400
    assert client.get("/find-id?way=<script>").status_code == 200
    assert client.get("/find-id?ia=../../x").status_code == 200


def test_lookups_are_limited_per_number(app, client, member, clock):
    clock.advance(3600 - clock.now() % 3600 + 1)  # hourly windows: not across a boundary
    for _ in range(5):
        assert ask_code(app.test_client()).status_code in (303, 429)
        clock.advance(31)
    resp = ask_code(app.test_client())
    assert resp.status_code == 429
    assert "조회 요청이 너무 많습니다" in resp.get_data(as_text=True)
    assert "find_id.throttled" in events(app)
    clock.advance(3600)
    assert ask_code(app.test_client()).status_code == 303


def test_lookups_are_limited_per_ip(app, client, clock):
    clock.advance(3600 - clock.now() % 3600 + 1)  # hourly windows: not across a boundary
    statuses = [ask_code(client, phone=("010", "5555", f"{i:04d}")).status_code
                for i in range(21)]
    assert statuses[:20] == [303] * 20
    assert statuses[20] == 429


# --- by 간편인증 --------------------------------------------------------------------------

def _give_identity(app: Any, login_id: str, ci: str) -> None:
    with app.app_context():
        p = app.extensions["idp"]
        m = db.session.scalar(select(Member).where(Member.login_id == login_id))
        di = "DI" + secrets.token_urlsafe(40)
        db.session.add(MemberIdentity(
            member_id=m.id, ci_hash=p.personal_data.lookup_hash("ci", ci),
            di_hash=p.personal_data.lookup_hash("di", di),
            ci_sealed=p.personal_data.seal(ci, "ci"), di_sealed=p.personal_data.seal(di, "di"),
            name=m.name, birthdate=dt.date(1985, 3, 1), gender="M", nationality="domestic",
            carrier="SKT", method="simple", vendor="test"))
        db.session.commit()


def test_simple_verification_finds_the_member_by_ci(app, client, member):
    ci = "CI" + secrets.token_urlsafe(60)
    _give_identity(app, member, ci)
    rid = give_verification(app, client, "find_id", verified_identity(ci=ci, method="simple"))
    resp = client.get(f"/find-id/verified?vr={rid}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "mem*****" in html and "2022-12-12 13:29:28" in html
    # the result is taken once
    replay = client.get(f"/find-id/verified?vr={rid}")
    assert replay.status_code == 400 and "mem*****" not in replay.get_data(as_text=True)


def test_simple_verification_of_a_non_member_shows_none(app, client, member):
    rid = give_verification(app, client, "find_id", verified_identity(method="simple"))
    html = client.get(f"/find-id/verified?vr={rid}").get_data(as_text=True)
    assert "일치하는 아이디가 없습니다" in html


def test_a_verification_for_another_purpose_or_browser_is_refused(app, client, member):
    ci = "CI" + secrets.token_urlsafe(60)
    _give_identity(app, member, ci)
    rid = give_verification(app, client, "signup", verified_identity(ci=ci))
    resp = client.get(f"/find-id/verified?vr={rid}")
    assert resp.status_code == 400 and "mem*****" not in resp.get_data(as_text=True)
    rid = give_verification(app, client, "find_id", verified_identity(ci=ci))
    other = app.test_client()
    resp = other.get(f"/find-id/verified?vr={rid}")
    assert resp.status_code == 400 and "mem*****" not in resp.get_data(as_text=True)
    assert client.get("/find-id/verified").status_code == 400


# --- by email -----------------------------------------------------------------------------

def ask_email(client: Any, name: str, email: str) -> Any:
    return client.post("/find-id/email", data={"csrf_token": csrf(client, "/find-id?way=email"),
                                               "name": name, "email": email})


def queued(app: Any) -> int:
    with app.app_context():
        return len(db.session.scalars(select(QueuedEmail.id)).all())


def test_email_sends_the_result_and_says_the_same_either_way(app, client, member):
    sent = []

    class Watching:  # the mail server: nothing reaches it while the request runs
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def send(self, message: Any) -> None:
            sent.append(message.to)
            self.inner.send(message)

    notify = app.extensions["idp"].notify
    notify.mailer = Watching(notify.mailer)
    found = ask_email(client, NAME, "Member01@Example.com")
    missing = ask_email(app.test_client(), NAME, "nobody@example.com")
    assert (found.status_code, missing.status_code) == (200, 200)
    page = lambda r, a: _normalised(r.get_data(as_text=True)).replace(a, "ADDRESS")  # noqa: E731
    assert page(found, "Member01@Example.com") == page(missing, "nobody@example.com")
    assert sent == [] and messages(app, "email") == [] and queued(app) == 1
    report = drain_mail(app)  # the worker's round (a thread of every server process)
    assert (report.sent, sent, queued(app)) == (1, ["Member01@Example.com"], 0)
    mails = messages(app, "email")
    assert len(mails) == 1  # none to an address that is no member's
    assert mails[0].recipient == "Member01@Example.com"
    assert mails[0].subject == "[KOTRA] 아이디 찾기 결과 안내"
    assert "mem*****" in mails[0].body and "2022-12-12 13:29:28" in mails[0].body
    assert "member01" not in mails[0].body
    assert events(app) == ["find_id.found", "find_id.not_found"]


@pytest.mark.parametrize(("name", "email"), [
    (NAME, "not-an-address"), ("", "member01@example.com"), (NAME, ""),
    (NAME, "a@" + "b" * 260 + ".com"),
])
def test_email_bad_input(app, client, name, email):
    resp = ask_email(client, name, email)
    assert resp.status_code == 400 and 'role="alert"' in resp.get_data(as_text=True)
    assert messages(app) == []


def test_email_lookups_are_limited_per_address(app, client, member):
    statuses = [ask_email(app.test_client(), NAME, "member01@example.com").status_code
                for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    drain_mail(app)
    assert len(messages(app, "email")) == 5


def test_a_broken_mail_server_changes_nothing_on_the_page(app, client, member):
    from idp.services.ports import MessageNotSent

    class Broken:
        def send(self, message: Any) -> None:
            raise MessageNotSent("down")

    p = app.extensions["idp"]
    mailer, p.notify.mailer = p.notify.mailer, Broken()
    resp = ask_email(client, NAME, "member01@example.com")
    assert resp.status_code == 200 and 'id="email-sent"' in resp.get_data(as_text=True)
    assert events(app) == ["find_id.found"]
    report = drain_mail(app)
    assert (report.sent, report.retrying) == (0, 1) and queued(app) == 1  # kept for a retry
    assert events(app) == ["find_id.found", "find_id.email_failed"]
    p.notify.mailer = mailer  # the server is back; the retry is due after its backoff
    assert drain_mail(app).handled == 0
    with app.app_context():
        db.session.execute(update(QueuedEmail).values(next_attempt_at=0))
        db.session.commit()
    assert drain_mail(app).sent == 1 and queued(app) == 0
    assert [m.recipient for m in messages(app, "email")] == ["member01@example.com"]


# --- the way back, the login page's link, English -----------------------------------------

def test_login_button_returns_to_the_pending_sign_in(app, client, rp):
    resp = rp.authorize(client)
    login_path = resp.headers["Location"]
    uid = login_path.rsplit("/", 1)[-1].split("?")[0]
    login = client.get(login_path).get_data(as_text=True)
    assert f'href="/find-id?ia={uid}"' in login
    page = client.get(f"/find-id?ia={uid}").get_data(as_text=True)
    assert f'name="ia" value="{uid}"' in page
    location = ask_code(client, ia=uid).headers["Location"]
    assert f"ia={uid}" in location
    result = type_code(client, location, last_code(app)).get_data(as_text=True)
    assert f'href="/interaction/{uid}"' in result
    assert f'href="/reset-password?ia={uid}"' in result
    # another browser (or a finished sign-in) goes home instead
    other = app.test_client()
    assert 'href="/interaction/' not in other.get(f"/find-id?ia={uid}").get_data(as_text=True)


def test_english(client):
    html = client.get("/find-id?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "Find ID" in html and "아이디 찾기" not in html


def test_masking_and_numbers():
    assert mask_login_id("kotra123") == "kot*****"
    assert mask_login_id("abcdef") == "ab****"
    assert mask_login_id("member01") == "mem*****"
    assert normalize_mobile("010-1234-5678") == "01012345678"
    assert normalize_mobile("011 123 4567") == "0111234567"
    for bad in ("02-123-4567", "0101234", "010123456789", ""):
        assert normalize_mobile(bad) is None
