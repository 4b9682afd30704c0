"""SNS 찾기 (issue 9; idp/web/sns_find.py): by name + mobile with an SMS code, or by identity
verification → the SNS, its masked account and the join date (KST); the same pages whether or
not anything matched; limits per IP and per number; refusals."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Member, MemberIdentity, SnsLink
from idp.models.identity import DevMessage
from idp.services import sns as service
from tests.helpers import add_test_member, form_fields, give_verification, verified_identity

NAME = "김간편"
MOBILE = ("010", "2345", "6789")


@pytest.fixture()
def simple(app: Any) -> int:
    """A simple member who joined with Kakao on 2024-05-01 10:00:00 KST."""
    with app.app_context():
        profile = service.SnsProfile(provider="kakao", subject="3141592653", name=NAME,
                                     email="kimsimple@kakao.com", email_verified=True,
                                     mobile="+82 10-2345-6789")
        m = service.create_simple_member(db.session, profile, name=None, mobile=None,
                                         email=None, now=dt.datetime(2024, 5, 1, 1, 0, 0),
                                         ip=None)
        db.session.commit()
        return int(m.id)


def _last_code(app: Any, to: str = "01023456789") -> str:
    with app.app_context():
        sms = db.session.scalars(select(DevMessage).where(
            DevMessage.channel == "sms", DevMessage.recipient == to)
            .order_by(DevMessage.id.desc())).first()
        assert sms is not None
        assert "SNS 찾기" in sms.body
        match = re.search(r"\[(\d{6})\]", sms.body)
        assert match, sms.body
        return match.group(1)


def _events(app: Any) -> list[str]:
    with app.app_context():
        return [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if e.event.startswith("sns_find.")]


def _csrf(client: Any, path: str = "/find-sns") -> str:
    _action, hidden = form_fields(client.get(path).get_data(as_text=True))
    return hidden["csrf_token"]


def _ask(client: Any, name: str = NAME, phone: tuple[str, str, str] = MOBILE) -> Any:
    return client.post("/find-sns/mobile", data={
        "csrf_token": _csrf(client), "name": name, "phone1": phone[0], "phone2": phone[1],
        "phone3": phone[2]})


def _type(client: Any, location: str, code: str, action: str = "verify") -> Any:
    return client.post(location, data={"csrf_token": _csrf(client, location), "code": code,
                                       "action": action})


def test_the_login_page_links_to_sns_find(app, client, rp):
    resp = rp.authorize(client)
    html = client.get(resp.headers["Location"] + "?tab=simple").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)" id="sns-find">SNS 찾기</a>', html)
    assert link and link.group(1).startswith("/find-sns?ia=")
    page = client.get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200 and "휴대폰으로 찾기" in page.get_data(as_text=True)
    # 취소 goes back to the pending sign-in's 간편회원 tab.
    uid = link.group(1).split("ia=")[1]
    assert f'href="/interaction/{uid}?tab=simple"' in page.get_data(as_text=True)
    assert 'href="/"' in client.get("/find-sns").get_data(as_text=True)


def test_mobile_code_then_the_sns_masked_account_and_join_date(app, client, simple):
    resp = _ask(client)
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/find-sns/mobile/")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "인증번호를 발송했습니다" in page and "010-23**-6789" in page
    result = _type(client, resp.headers["Location"], _last_code(app))
    html = result.get_data(as_text=True)
    assert result.status_code == 200
    assert "카카오" in html and "k***@kakao.com" in html and "kimsimple" not in html
    assert "2024-05-01 10:00:00" in html  # KST
    assert _events(app) == ["sns_find.code_sent", "sns_find.found"]
    again = _type(client, resp.headers["Location"], _last_code(app))
    assert again.status_code == 400  # single use


def test_without_email_the_subject_is_masked(app, client, simple):
    with app.app_context():
        db.session.scalar(select(SnsLink).where(SnsLink.member_id == simple)).email = None
        db.session.commit()
    resp = _ask(client)
    html = _type(client, resp.headers["Location"], _last_code(app)).get_data(as_text=True)
    assert "31******53" in html and "3141592653" not in html


def _strip(html: str) -> str:
    html = re.sub(r'value="[^"]*"', "", html)
    return re.sub(r"/find-sns/mobile/[\w-]+|010-\d\d\*\*-\d{4}", "", html)


def test_no_member_gets_the_same_pages_until_the_code(app, client, simple):
    found = _ask(client)
    other = app.test_client()
    missing = _ask(other, name="없는사람", phone=("010", "9999", "8888"))
    assert (found.status_code, missing.status_code) == (303, 303)
    assert _strip(client.get(found.headers["Location"]).get_data(as_text=True)) == _strip(
        other.get(missing.headers["Location"]).get_data(as_text=True))
    result = _type(other, missing.headers["Location"], _last_code(app, "01099998888"))
    assert result.status_code == 200
    assert "일치하는 SNS 계정이 없습니다" in result.get_data(as_text=True)
    assert _events(app)[-1] == "sns_find.not_found"


def test_a_general_member_without_links_and_a_wrong_name_find_nothing(app, client, simple):
    add_test_member(app, "member01")  # 테스트, 010-0000-0000, no SNS
    resp = _ask(client, name="테스트", phone=("010", "0000", "0000"))
    html = _type(client, resp.headers["Location"], _last_code(app, "01000000000")).get_data(
        as_text=True)
    assert "일치하는 SNS 계정이 없습니다" in html
    c2 = app.test_client()
    resp = _ask(c2, name="홍길동")
    html = _type(c2, resp.headers["Location"], _last_code(app)).get_data(as_text=True)
    assert "일치하는 SNS 계정이 없습니다" in html


def test_wrong_code_and_another_browser(app, client, simple):
    resp = _ask(client)
    code = _last_code(app)
    bad = f"{(int(code) + 1) % 1_000_000:06d}"
    wrong = _type(client, resp.headers["Location"], bad)
    assert wrong.status_code == 400 and "일치하지 않습니다" in wrong.get_data(as_text=True)
    thief = app.test_client()
    assert thief.get(resp.headers["Location"]).status_code == 400
    assert "kakao.com" not in thief.post(resp.headers["Location"], data={
        "code": code}).get_data(as_text=True)


def test_lookups_are_limited_per_number_and_per_ip(app, client, simple, clock):
    clock.advance(3600 - clock.now() % 3600 + 1)  # hourly windows: not across a boundary
    for _ in range(5):
        assert _ask(app.test_client()).status_code in (303, 429)
        clock.advance(31)
    resp = _ask(app.test_client())
    assert resp.status_code == 429 and "조회 요청이 너무 많습니다" in resp.get_data(as_text=True)
    assert "sns_find.throttled" in _events(app)
    clock.advance(3600)
    statuses = [_ask(client, phone=("010", "5555", f"{i:04d}")).status_code for i in range(21)]
    assert statuses[:20] == [303] * 20 and statuses[20] == 429


@pytest.mark.parametrize(("name", "phone"), [("", MOBILE), (NAME, ("010", "12", "3")),
                                              (NAME, ("999", "1234", "5678"))])
def test_bad_input_is_refused_with_a_message(app, client, name, phone):
    resp = _ask(client, name=name, phone=phone)
    assert resp.status_code == 400 and 'role="alert"' in resp.get_data(as_text=True)


def test_no_csrf_no_code(app, client, simple):
    resp = client.post("/find-sns/mobile", data={"name": NAME, "phone1": "010",
                                                 "phone2": "2345", "phone3": "6789"})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(DevMessage.id)) is None


def test_verification_finds_the_simple_member_by_verified_name_and_mobile(app, client, simple):
    rid = give_verification(app, client, "sns_find",
                            verified_identity(name=NAME, mobile="01023456789"))
    html = client.get(f"/find-sns/verified?vr={rid}").get_data(as_text=True)
    assert "카카오" in html and "k***@kakao.com" in html
    assert "2024-05-01 10:00:00" in html
    assert _events(app) == ["sns_find.found"]


def test_verification_finds_a_converted_member_by_ci(app, client, simple):
    ci = "CI" + secrets.token_urlsafe(60)
    with app.app_context():
        p = app.extensions["idp"]
        m = db.session.get(Member, simple)
        m.phone = "010-7777-7777"  # changed since
        di = "DI" + secrets.token_urlsafe(40)
        db.session.add(MemberIdentity(
            member_id=m.id, ci_hash=p.personal_data.lookup_hash("ci", ci),
            di_hash=p.personal_data.lookup_hash("di", di),
            ci_sealed=p.personal_data.seal(ci, "ci"), di_sealed=p.personal_data.seal(di, "di"),
            name=m.name, birthdate=dt.date(1985, 3, 1), gender="M", nationality="domestic",
            carrier="SKT", method="simple", vendor="test"))
        db.session.commit()
    rid = give_verification(app, client, "sns_find", verified_identity(ci=ci, name=NAME))
    assert "k***@kakao.com" in client.get(f"/find-sns/verified?vr={rid}").get_data(
        as_text=True)


def test_verification_of_nobody_and_of_another_purpose(app, client, simple):
    rid = give_verification(app, client, "sns_find", verified_identity())
    html = client.get(f"/find-sns/verified?vr={rid}").get_data(as_text=True)
    assert "일치하는 SNS 계정이 없습니다" in html
    rid = give_verification(app, client, "find_id",
                            verified_identity(name=NAME, mobile="01023456789"))
    resp = client.get(f"/find-sns/verified?vr={rid}")
    assert resp.status_code == 400 and "kakao" not in resp.get_data(as_text=True)
    assert client.get("/find-sns/verified?vr=nope").status_code == 400


def test_withdrawn_members_are_not_found(app, client, simple):
    with app.app_context():
        from idp.services.my_account import anonymise

        m = db.session.get(Member, simple)
        anonymise(db.session, m, dt.datetime(2025, 1, 1))
        m.name, m.phone = NAME, "010-2345-6789"  # even if the data were still there
        db.session.commit()
    rid = give_verification(app, client, "sns_find",
                            verified_identity(name=NAME, mobile="01023456789"))
    assert "일치하는 SNS 계정이 없습니다" in client.get(
        f"/find-sns/verified?vr={rid}").get_data(as_text=True)


def test_the_pages_in_english(app, client):
    html = client.get("/find-sns?lang=en").get_data(as_text=True)
    assert "Find my social account" in html and "SNS 찾기" not in html
    html = client.get("/find-sns?way=verify&lang=en").get_data(as_text=True)
    assert "identity verification" in html.lower()
