"""MY KOTRA > SNS 계정 연결 (issue 9; idp/web/sns_link.py): a general member links an SNS account
through a fresh round trip and unlinks it; each refusal in its own test: an account linked to
another member (never merged), a second account of the same SNS, the last way to sign in, a
link of someone else, a cancelled round trip, another member signed in meanwhile, a simple
member, no CSRF."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Member, MemberType, SnsLink
from idp.services import sns as service
from tests.helpers import PASSWORD, TestRP
from tests.sns_support import consent_at_vendor, path_of, use_emulators
from tests.web.test_my import csrf, sign_in_my


@pytest.fixture()
def rp(app: Any) -> TestRP:
    use_emulators(app)

    return TestRP.create(app)


def _member_id(app: Any, login_id: str = "member01") -> int:
    with app.app_context():
        return int(db.session.scalar(select(Member.id).where(Member.login_id == login_id)))


def _links(app: Any, member_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        return [(k.provider, k.subject) for k in service.links_of(db.session, member_id)]


def _events(app: Any, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def _start(web: Any, name: str, *, reauth: bool = True) -> Any:
    if reauth:
        page = web.get("/my/reauth?next=/my/sns").get_data(as_text=True)
        web.post("/my/reauth", data={"csrf_token": csrf(page), "password": PASSWORD,
                                     "next": "/my/sns"})
    page = web.get("/my/sns")
    assert page.status_code == 200
    return web.post("/my/sns/link", data={"csrf_token": csrf(page.get_data(as_text=True)),
                                          "provider": name})


def _link(web: Any, name: str, subject: str, *, decision: str = "login",
          email: str = "") -> Any:
    started = _start(web, name)
    assert started.status_code == 303, started.get_data(as_text=True)[:300]
    callback = consent_at_vendor(web, started.headers["Location"], user="custom",
                                 decision=decision, custom_id=subject,
                                 custom_name="연결시험", custom_email=email)
    resp = web.get(path_of(callback))
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    return resp


def _result(resp: Any) -> str:
    found = re.search(r"result=(\w+)", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return found.group(1)


def _unlink(web: Any, link_id: int | str) -> Any:
    page = web.get("/my/sns")
    return web.post("/my/sns/unlink", data={"csrf_token": csrf(page.get_data(as_text=True)),
                                            "link": str(link_id)})


def test_linking_needs_a_fresh_reauthentication(app, client, rp):
    sign_in_my(client, rp)
    resp = _start(client, "kakao", reauth=False)
    assert resp.status_code == 303 and "/my/reauth" in resp.headers["Location"]
    assert _links(app, _member_id(app)) == []


def test_link_then_sign_in_with_it_then_unlink(app, client, rp):
    sign_in_my(client, rp)
    page = client.get("/my/sns").get_data(as_text=True)
    assert "연결된 SNS 계정이 없습니다." in page and 'id="link-kakao"' in page
    resp = _link(client, "kakao", "k-link-1", email="kim.link@kakao.com")
    assert _result(resp) == "linked"
    mid = _member_id(app)
    assert _links(app, mid) == [("kakao", "k-link-1")]
    page = client.get(path_of(resp.headers["Location"])).get_data(as_text=True)
    assert "SNS 계정을 연결했습니다." in page and "k***@kakao.com" in page
    assert 'id="link-kakao"' not in page  # one account per SNS
    assert _events(app, "sns.linked")[0].member_id == mid
    with app.app_context():
        link_id = db.session.scalar(select(SnsLink.id).where(SnsLink.member_id == mid))
    resp = _unlink(client, link_id)
    assert _result(resp) == "unlinked"
    assert _links(app, mid) == []
    assert _events(app, "sns.unlinked")[0].member_id == mid


def test_an_account_linked_to_another_member_is_refused_never_merged(app, client, rp):
    other = TestRP.create(app, login_id="other01")
    other_id = _member_id(app, "other01")
    with app.app_context():
        db.session.add(SnsLink(member_id=other_id, provider="naver", subject="n-taken"))
        db.session.commit()
    sign_in_my(client, rp)
    resp = _link(client, "naver", "n-taken")
    assert _result(resp) == "other_member"
    page = client.get(path_of(resp.headers["Location"])).get_data(as_text=True)
    assert "이미 다른 회원에 연결되어 있어" in page
    assert _links(app, _member_id(app)) == []
    assert _links(app, other_id) == [("naver", "n-taken")]
    assert [e.detail["reason"] for e in _events(app, "sns.link_refused")] == ["other_member"]
    assert other.login_id == "other01"


def test_the_same_account_twice_and_a_second_account_of_one_sns(app, client, rp):
    sign_in_my(client, rp)
    assert _result(_link(client, "google", "g-1")) == "linked"
    # The page hides the button; a forged POST is still refused at the callback.
    assert _result(_link(client, "google", "g-1")) == "already"
    assert _result(_link(client, "google", "g-2")) == "provider_taken"
    assert _links(app, _member_id(app)) == [("google", "g-1")]


def test_the_last_way_to_sign_in_cannot_be_removed(app, client, rp):
    sign_in_my(client, rp)
    assert _result(_link(client, "kakao", "k-last")) == "linked"
    mid = _member_id(app)
    with app.app_context():  # a member without a password (e.g. set up by SNS only)
        db.session.get(Member, mid).password_hash = None
        db.session.commit()
        link_id = db.session.scalar(select(SnsLink.id).where(SnsLink.member_id == mid))
    page = client.get("/my/sns").get_data(as_text=True)
    assert "해제 불가(마지막 로그인 수단)" in page
    resp = _unlink(client, link_id)  # a forged POST
    assert _result(resp) == "last"
    assert _links(app, mid) == [("kakao", "k-last")]
    assert "마지막 수단이므로" in client.get(path_of(resp.headers["Location"])).get_data(
        as_text=True)
    # With a second link, either one can go.
    assert _result(_link(client, "naver", "n-second")) == "linked"
    assert _result(_unlink(client, link_id)) == "unlinked"
    assert _links(app, mid) == [("naver", "n-second")]


def test_someone_elses_link_or_garbage_is_not_found(app, client, rp):
    TestRP.create(app, login_id="other02")
    other_id = _member_id(app, "other02")
    with app.app_context():
        link = SnsLink(member_id=other_id, provider="facebook", subject="f-other")
        db.session.add(link)
        db.session.commit()
        link_id = link.id
    sign_in_my(client, rp)
    assert _result(_unlink(client, link_id)) == "not_found"
    assert _result(_unlink(client, "x' or 1=1")) == "not_found"
    assert _links(app, other_id) == [("facebook", "f-other")]


def test_cancel_at_the_vendor_and_a_replayed_callback(app, client, rp):
    sign_in_my(client, rp)
    assert _result(_link(client, "kakao", "k-c", decision="cancel")) == "cancelled"
    started = _start(client, "kakao")
    callback = consent_at_vendor(client, started.headers["Location"], user="custom",
                                 custom_id="k-r")
    assert _result(client.get(path_of(callback))) == "linked"
    replay = client.get(path_of(callback))
    assert replay.status_code in (400, 303)
    assert _links(app, _member_id(app)) == [("kakao", "k-r")]


def test_another_member_signed_in_meanwhile_gets_nothing(app, client, rp):
    sign_in_my(client, rp)
    started = _start(client, "naver")
    callback = consent_at_vendor(client, started.headers["Location"], user="custom",
                                 custom_id="n-switch")
    mid = _member_id(app)
    with app.app_context():
        # Signed out everywhere meanwhile (e.g. a password change in another browser).
        app.extensions["idp"].revocation.revoke_member(db.session, mid, reason="test")
    resp = client.get(path_of(callback))
    assert resp.status_code == 303 and "/my" in resp.headers["Location"]
    assert "result=expired" in resp.headers["Location"]
    assert _links(app, mid) == []


def test_a_simple_member_cannot_link(app, client, rp):
    sign_in_my(client, rp)
    mid = _member_id(app)
    with app.app_context():
        db.session.get(Member, mid).member_type = MemberType.SIMPLE
        db.session.commit()
    page = client.get("/my/sns").get_data(as_text=True)
    assert 'id="link-kakao"' not in page and "일반회원으로 전환한 뒤" in page
    token = csrf(client.get("/my/withdraw").get_data(as_text=True))  # a forged POST
    resp = client.post("/my/sns/link", data={"csrf_token": token, "provider": "kakao"})
    assert _result(resp) == "simple"


def test_link_needs_csrf_and_a_known_provider(app, client, rp):
    sign_in_my(client, rp)
    assert client.post("/my/sns/link", data={"provider": "kakao"}).status_code == 400
    page = client.get("/my/reauth?next=/my/sns").get_data(as_text=True)
    client.post("/my/reauth", data={"csrf_token": csrf(page), "password": PASSWORD,
                                    "next": "/my/sns"})
    page = client.get("/my/sns").get_data(as_text=True)
    assert client.post("/my/sns/link", data={"csrf_token": csrf(page),
                                             "provider": "myspace"}).status_code == 404
    assert client.post("/my/sns/unlink", data={"link": "1"}).status_code == 400


def test_the_page_in_english(app, client, rp):
    sign_in_my(client, rp)
    html = client.get("/my/sns?lang=en").get_data(as_text=True)
    assert "Link a Kakao account" in html and "연결" not in html


def test_withdrawal_removes_the_links_so_the_sns_account_can_join_again(app, client, rp):
    sign_in_my(client, rp)
    assert _result(_link(client, "kakao", "k-gone")) == "linked"
    mid = _member_id(app)
    with app.app_context():
        from idp.services.my_account import anonymise

        anonymise(db.session, db.session.get(Member, mid), dt.datetime(2026, 1, 1))
        db.session.commit()
        assert service.find_link(db.session, "kakao", "k-gone") is None


@pytest.mark.scaleout
def test_two_unlinks_at_once_keep_one_way_to_sign_in(app, rp):
    """A member without a password and two links unlinks both at the same moment (two
    devices): the member row's lock lets one through, the other is refused (PostgreSQL)."""
    import threading

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks: PostgreSQL")  # scaleout: deselected in the SQLite pass
    mid = _member_id(app)
    with app.app_context():
        db.session.get(Member, mid).password_hash = None
        ids = []
        for provider, subject in (("naver", "n-race"), ("kakao", "k-race")):
            link = SnsLink(member_id=mid, provider=provider, subject=subject)
            db.session.add(link)
            db.session.flush()
            ids.append(link.id)
        db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def unlink(link_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                service.remove_link(db.session, mid, link_id, ip=None)
                db.session.commit()
                outcomes.append("unlinked")
            except service.LinkRefused as exc:
                db.session.rollback()
                outcomes.append(exc.reason)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=unlink, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["last", "unlinked"]
    assert len(_links(app, mid)) == 1
