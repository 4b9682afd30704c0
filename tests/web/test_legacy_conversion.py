"""The conversion of an old site's account on the 일반회원 tab (issue 8; manual ch. 03)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.adapters.clock import FakeClock
from idp.extensions import db
from idp.models import AuditEvent, LegacyAccount, Member, TermsConsent
from idp.services.legacy_import import CiHasher
from idp.services.terms import publish
from idp.wiring import use_clock
from tests.helpers import (
    PASSWORD,
    REDIRECT_URI,
    TestRP,
    add_test_member,
    callback_params,
    form_fields,
)

OLD_PASSWORD = "old-site-pw1"
NEW_PASSWORD = "Unified!pass26"
GENERIC = "아이디 또는 비밀번호가 일치하지 않습니다."
KST = dt.timezone(dt.timedelta(hours=9))


def legacy(app: Any, legacy_id: str, *, site: str = "무역투자24", member_type: str = "personal",
           name: str = "윤하림", email: str | None = "harim@example.com",
           mobile: str | None = "01012345678", ci: str | None = None,
           password: str = OLD_PASSWORD, company: str | None = None,
           joined: dt.date = dt.date(2021, 4, 26)) -> int:
    """An imported old account (sha256 scheme: the hex of SHA-256 of the password)."""
    with app.app_context():
        hasher = CiHasher(app.config["IDP_SETTINGS"]["secret_key"])
        row = LegacyAccount(
            site=site, legacy_id=legacy_id, legacy_id_key=legacy_id.strip().lower(),
            member_type=member_type, name=name, email=email, mobile=mobile,
            company_name=company, business_number=None,
            joined_at=dt.datetime(joined.year, joined.month, joined.day, tzinfo=KST),
            password_hash=hashlib.sha256(password.encode()).hexdigest(),
            password_scheme="sha256", password_salt=None,
            ci_hash=hasher(ci) if ci else None, row_digest="x" * 64)
        db.session.add(row)
        db.session.commit()
        return row.id


@pytest.fixture()
def terms(app: Any) -> None:
    with app.app_context():
        now = dt.datetime(2026, 1, 1)
        for kind, title, required in (("service", "이용약관", True),
                                      ("privacy", "개인정보 수집·이용 동의", True),
                                      ("marketing", "개인정보 마케팅 활용 동의", False)):
            publish(db.session, kind=kind, version=1, title_ko=title, title_en=title,
                    body=f"{title} 본문", required=required, now=now)
        db.session.commit()


@pytest.fixture()
def rp(app: Any, terms: None) -> TestRP:
    return TestRP.create(app, member=False)


def _post_form(client: Any, url: str, **data: str) -> Any:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code, page.get_data(as_text=True)[:300])
    action, hidden = form_fields(page.get_data(as_text=True))
    return client.post(action or url, data={**hidden, **data})


def _sign_in(client: Any, rp: TestRP, login_id: str, password: str = OLD_PASSWORD) -> Any:
    return rp.login(client, rp.authorize(client).headers["Location"], login_id=login_id,
                    password=password)


def _choose_page(client: Any, rp: TestRP, login_id: str) -> str:
    resp = _sign_in(client, rp, login_id)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    assert re.search(r"/interaction/[^/]+/legacy/[^/]+$", resp.headers["Location"])
    return str(resp.headers["Location"])


def _choose(client: Any, url: str, account_id: int) -> Any:
    return _post_form(client, url, account=str(account_id), decision="choose")


def _password(client: Any, url: str, password: str = NEW_PASSWORD,
              confirm: str | None = None, **extra: str) -> Any:
    return _post_form(client, url, password=password,
                      confirm=password if confirm is None else confirm, **extra)


def _agree(client: Any, url: str, **answers: str) -> Any:
    data = answers or {"agree_service": "yes", "agree_privacy": "yes"}
    return _post_form(client, url, decision="agree", **data)


def _convert(client: Any, rp: TestRP, login_id: str, account_id: int,
             **password_extra: str) -> Any:
    """Choose `account_id`, set the new password, agree: the done page's URL."""
    chose = _choose(client, _choose_page(client, rp, login_id), account_id)
    assert chose.status_code == 303 and chose.headers["Location"].endswith("/password")
    pw = _password(client, chose.headers["Location"], **password_extra)
    assert pw.status_code == 303 and pw.headers["Location"].endswith("/terms"), \
        pw.get_data(as_text=True)[:800]
    done = _agree(client, pw.headers["Location"])
    assert done.status_code == 303 and done.headers["Location"].endswith("/done"), \
        done.get_data(as_text=True)[:800]
    return done.headers["Location"]


def _finish(client: Any, rp: TestRP, done_url: str) -> dict[str, str]:
    resp = _post_form(client, done_url)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    return callback_params(resp.headers["Location"], REDIRECT_URI)


def _rows(app: Any) -> dict[str, tuple[str, int | None]]:
    with app.app_context():
        return {f"{r.site}/{r.legacy_id}": (r.status, r.member_id)
                for r in db.session.scalars(select(LegacyAccount))}


def _member(app: Any, login_id: str) -> Member | None:
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.login_id == login_id))
        if member is not None:
            db.session.expunge(member)
        return member


def test_one_old_account_becomes_a_general_member_and_the_request_gets_a_code(app, client, rp):
    account = legacy(app, "Harim2021", company="대한무역투자진흥공사", member_type="regular")
    url = _choose_page(client, rp, "harim2021")
    html = client.get(url).get_data(as_text=True)
    for text in ("회원님은 아래 홈페이지에 가입이 되어있습니다.", "윤하림(일반회원) 님",
                 "Harim2021", "정회원", "무역투자24", "대한무역투자진흥공사", "2021-04-26",
                 "<fieldset", "<legend>", 'type="radio"'):
        assert text in html, text
    done_url = _convert(client, rp, "harim2021", account)
    done = client.get(done_url).get_data(as_text=True)
    assert "KOTRA 통합 일반회원(기업미소속)으로 가입이 완료되었습니다." in done
    assert "기존 기업회원들은 모두 소속기업을 재등록해주셔야 합니다." in done
    # Issue 7: the button leads to MY KOTRA 소속기업 관리 (approval password or certificate).
    assert 'href="/my/company"' in done and "준비 중" not in done
    params = _finish(client, rp, done_url)
    assert "code" in params and params["state"] == rp.last["state"]
    tokens = rp.exchange(client, params["code"]).get_json()
    assert tokens["access_token"]
    member = _member(app, "harim2021")
    assert member is not None and member.member_type == "general"
    assert member.name == "윤하림" and member.email == "harim@example.com"
    assert member.affiliation is None  # not affiliated: the company is registered again
    assert _rows(app)["무역투자24/Harim2021"] == ("converted", member.id)
    with app.app_context():
        assert app.extensions["idp"].passwords.verify(member.password_hash, NEW_PASSWORD)
        agreed = {c.kind for c in db.session.scalars(select(TermsConsent).where(
            TermsConsent.member_id == member.id, TermsConsent.agreed.is_(True)))}
        assert agreed == {"service", "privacy"}
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "legacy.converted")).member_id == member.id
    # The new password signs in like any member's (a new browser, the same site).
    fresh = app.test_client()
    signed_in = _sign_in(fresh, rp, "harim2021", NEW_PASSWORD)
    assert "code" in callback_params(signed_in.headers["Location"], REDIRECT_URI)


def test_the_converted_account_old_password_is_refused_with_the_generic_message(app, client,
                                                                               rp):
    account = legacy(app, "harim2021")
    _finish(client, rp, _convert(client, rp, "harim2021", account))
    again = _sign_in(app.test_client(), rp, "harim2021", OLD_PASSWORD)
    assert again.status_code == 401 and GENERIC in again.get_data(as_text=True)


@pytest.mark.parametrize("how", ["ci", "email", "mobile"])
def test_every_old_account_of_the_person_is_listed_and_the_others_are_merged(app, client, rp,
                                                                            how):
    ci = "CI-of-harim" if how == "ci" else None
    entered = legacy(app, "harim2021", ci=ci, email="harim@example.com", mobile="01011112222")
    # The same person elsewhere: by CI (other name spelling and contacts), or by the same name
    # with the same email, or with the same mobile.
    other = {
        "ci": dict(name="윤 하림", email="other@example.com", mobile="01099998888",
                   ci="CI-of-harim"),
        "email": dict(email="harim@example.com", mobile="01099998888"),
        "mobile": dict(email="other@example.com", mobile="01011112222"),
    }[how]
    master = legacy(app, "harimcorp1", site="KOTRA 기업회원", member_type="master",
                    company="하림무역(주)", password="other-old-pw", **other)  # type: ignore[arg-type]
    # Not the same person: same name, different contacts; and someone else's CI.
    stranger = legacy(app, "harim77", email="x@example.com", mobile="01000000000",
                      ci="CI-of-someone-else" if how == "ci" else None)
    url = _choose_page(client, rp, "harim2021")
    html = client.get(url).get_data(as_text=True)
    assert "harim2021" in html and "harimcorp1" in html and "MASTER" in html
    assert "하림무역(주)" in html and "harim77" not in html
    chose = _choose(client, url, master)
    pw = _password(client, chose.headers["Location"])
    done_url = _agree(client, pw.headers["Location"]).headers["Location"]
    assert "기존 MASTER 회원의 기업정보는 자동으로 이전되지 않습니다." in client.get(
        done_url).get_data(as_text=True)
    _finish(client, rp, done_url)
    member = _member(app, "harimcorp1")
    assert member is not None
    rows = _rows(app)
    assert rows["KOTRA 기업회원/harimcorp1"] == ("converted", member.id)
    assert rows["무역투자24/harim2021"] == ("merged", member.id)
    assert rows["무역투자24/harim77"] == ("pending", None)
    assert entered != stranger
    # The merged account's old password no longer starts anything.
    refused = _sign_in(app.test_client(), rp, "harim2021", OLD_PASSWORD)
    assert refused.status_code == 401


def test_an_id_taken_by_a_unified_member_must_be_replaced(app, client, rp):
    first = legacy(app, "harim2021", email="harim@example.com")
    taken = legacy(app, "member01", site="구 사이트", email="harim@example.com",
                   password="other-old-pw")
    add_test_member(app, "member01")  # someone else's unified account has that ID
    url = _choose_page(client, rp, "harim2021")
    chose = _choose(client, url, taken)
    page = client.get(chose.headers["Location"]).get_data(as_text=True)
    assert "통합회원 아이디로 사용할 수 없습니다" in page and 'id="new_login_id"' in page
    # Taken again, and against the policy: Korean messages, nothing converted.
    resp = _password(client, chose.headers["Location"], new_login_id="member01")
    assert resp.status_code == 400
    assert "이미 사용 중인 아이디입니다" in resp.get_data(as_text=True)
    resp = _password(client, chose.headers["Location"], new_login_id="ab")
    assert resp.status_code == 400 and "영문과 숫자를 섞어" in resp.get_data(as_text=True)
    pw = _password(client, chose.headers["Location"], new_login_id="Harim2026")
    assert pw.status_code == 303
    _finish(client, rp, _agree(client, pw.headers["Location"]).headers["Location"])
    member = _member(app, "harim2026")
    assert member is not None
    assert _rows(app)["구 사이트/member01"] == ("converted", member.id)
    assert _rows(app)["무역투자24/harim2021"] == ("merged", member.id)
    assert first


def test_an_old_id_a_unified_member_took_still_converts_under_a_new_id(app, client, rp):
    """The old owner of `member01` signs in with it and the old password: the member's own
    password still signs the member in; the old one starts the conversion under a new ID."""
    account = legacy(app, "member01", password="old-pw-of-x1")
    add_test_member(app, "member01")
    own = _sign_in(app.test_client(), rp, "member01", PASSWORD)
    # signed in as the member (next: the terms step, as the test member agreed to none)
    assert own.status_code == 303 and own.headers["Location"].endswith("/terms")
    chose = _choose(client, _old_owner_page(client, rp), account)
    page = client.get(chose.headers["Location"]).get_data(as_text=True)
    assert 'id="new_login_id"' in page
    pw = _password(client, chose.headers["Location"], new_login_id="oldowner01")
    _finish(client, rp, _agree(client, pw.headers["Location"]).headers["Location"])
    assert _member(app, "oldowner01") is not None
    assert _member(app, "member01").name == "테스트"  # the member's account is untouched


def _old_owner_page(client: Any, rp: TestRP) -> str:
    resp = _sign_in(client, rp, "member01", "old-pw-of-x1")
    assert resp.status_code == 303 and "/legacy/" in resp.headers["Location"]
    return str(resp.headers["Location"])


def test_an_id_taken_while_the_member_agrees_sends_them_back_for_a_new_id(app, client, rp):
    account = legacy(app, "harim2021")
    chose = _choose(client, _choose_page(client, rp, "harim2021"), account)
    pw = _password(client, chose.headers["Location"])
    add_test_member(app, "harim2021")  # taken meanwhile (e.g. a sign-up elsewhere)
    resp = _agree(client, pw.headers["Location"])
    assert resp.status_code == 303 and "/password" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "이미 사용 중인 아이디입니다" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 1
        assert db.session.scalar(select(func.count()).select_from(TermsConsent)) == 0
    assert _rows(app)["무역투자24/harim2021"] == ("pending", None)


def test_bad_password_input_gets_korean_messages(app, client, rp):
    account = legacy(app, "harim2021")
    chose = _choose(client, _choose_page(client, rp, "harim2021"), account)
    url = chose.headers["Location"]
    weak = _password(client, url, password="short")
    assert weak.status_code == 400
    assert "영문, 숫자, 특수문자를 모두 포함해" in weak.get_data(as_text=True)
    control = _password(client, url, password="Unified!pass\x0026")
    assert control.status_code == 400
    mismatch = _password(client, url, confirm="Unified!pass27")
    assert mismatch.status_code == 400
    assert "비밀번호가 일치하지 않습니다." in mismatch.get_data(as_text=True)
    no_choice = _post_form(client, url.rsplit("/", 1)[0], decision="choose")
    assert no_choice.status_code == 400
    assert "사용하실 아이디를 선택해 주세요." in no_choice.get_data(as_text=True)


def test_the_terms_are_required(app, client, rp):
    account = legacy(app, "harim2021")
    chose = _choose(client, _choose_page(client, rp, "harim2021"), account)
    pw = _password(client, chose.headers["Location"])
    refused = _agree(client, pw.headers["Location"], agree_service="yes")
    assert refused.status_code == 400
    assert "필수 약관에 모두 동의하셔야" in refused.get_data(as_text=True)
    assert _member(app, "harim2021") is None
    assert _rows(app)["무역투자24/harim2021"] == ("pending", None)


def test_an_abandoned_conversion_resumes_where_it_stopped(app, client, rp):
    account = legacy(app, "harim2021")
    chose = _choose(client, _choose_page(client, rp, "harim2021"), account)
    pw = _password(client, chose.headers["Location"])
    assert pw.headers["Location"].endswith("/terms")
    # The browser is closed; later the member comes back from the site and signs in again
    # with the old ID and password: the same conversion, at the terms page.
    again = _sign_in(client, rp, "harim2021")
    assert again.status_code == 303 and again.headers["Location"].endswith("/terms")
    fid = pw.headers["Location"].split("/")[-2]
    assert again.headers["Location"].split("/")[-2] == fid
    _finish(client, rp, _agree(client, again.headers["Location"]).headers["Location"])
    assert _member(app, "harim2021") is not None


def test_the_flow_belongs_to_the_browser_that_started_it(app, client, rp):
    account = legacy(app, "harim2021")
    url = _choose_page(client, rp, "harim2021")
    other = app.test_client()
    stolen = other.get(url)
    assert stolen.status_code in (303, 400)
    assert "harim2021" not in stolen.get_data(as_text=True)
    assert account


def test_a_double_submit_creates_one_member(app, client, rp):
    account = legacy(app, "harim2021")
    chose = _choose(client, _choose_page(client, rp, "harim2021"), account)
    pw = _password(client, chose.headers["Location"])
    terms_url = pw.headers["Location"]
    page = client.get(terms_url)
    action, hidden = form_fields(page.get_data(as_text=True))
    data = {**hidden, "decision": "agree", "agree_service": "yes", "agree_privacy": "yes"}
    first = client.post(action, data=data)
    second = client.post(action, data=data)
    assert first.headers["Location"] == second.headers["Location"]
    assert first.headers["Location"].endswith("/done")
    done_page = client.get(first.headers["Location"])
    _, done_hidden = form_fields(done_page.get_data(as_text=True))
    one = client.post(first.headers["Location"], data=done_hidden)
    two = client.post(first.headers["Location"], data=done_hidden)
    assert "code" in callback_params(one.headers["Location"], REDIRECT_URI)
    # The second finds the request already answered: no second code, no second session.
    assert two.status_code == 400 and "code=" not in two.headers.get("Location", "")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == 1
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "legacy.converted")) == 1


def test_cancel_goes_back_to_the_login_page_and_starts_over(app, client, rp):
    account = legacy(app, "harim2021")
    url = _choose_page(client, rp, "harim2021")
    resp = _post_form(client, url, decision="cancel")
    assert resp.status_code == 303 and "/legacy/" not in resp.headers["Location"]
    assert client.get(url).status_code == 303  # the flow is gone
    assert _choose_page(client, rp, "harim2021") != url
    assert account


def test_forms_without_csrf_token_are_refused(app, client, rp):
    account = legacy(app, "harim2021")
    url = _choose_page(client, rp, "harim2021")
    resp = client.post(url, data={"account": str(account), "decision": "choose"})
    assert resp.status_code == 400
    assert client.get(url).status_code == 200  # still at the choice


@pytest.mark.parametrize("login_id", ["harim2021", "nosuchuser1", "member01"])
def test_wrong_old_passwords_get_the_generic_message_and_are_throttled(app, client, rp,
                                                                        login_id):
    legacy(app, "harim2021")
    add_test_member(app, "member01")
    clock = FakeClock(1_700_000_000.0)
    use_clock(app.extensions["idp"], clock)
    limit = app.config["IDP_SETTINGS"]["throttle"]["account_lock_after"]
    for _ in range(limit):
        resp = _sign_in(client, rp, login_id, "Wrong!pass123")
        if resp.status_code == 429:
            clock.advance(120)
            resp = _sign_in(client, rp, login_id, "Wrong!pass123")
        assert resp.status_code == 401 and GENERIC in resp.get_data(as_text=True)
        clock.advance(120)
    # Locked now: even the right old password is refused without being checked.
    locked = _sign_in(client, rp, login_id, OLD_PASSWORD)
    assert locked.status_code == 429 and "로그인 시도가 너무 많습니다" in locked.get_data(
        as_text=True)
    with app.app_context():
        assert app.extensions["idp"].throttle.locked_until("account", login_id) is not None


def test_the_right_old_password_gives_its_attempt_back(app, client, rp):
    legacy(app, "harim2021")
    throttle = app.extensions["idp"].throttle
    _sign_in(client, rp, "harim2021", "Wrong!pass123")
    with app.app_context():
        assert throttle.failures("account", "harim2021") == 1
    _choose_page(client, rp, "harim2021")
    with app.app_context():
        assert throttle.failures("account", "harim2021") == 0  # a success: a new period
        assert throttle.attempts("account", "harim2021") == 0


def test_the_screens_in_english(app, client, rp):
    legacy(app, "harim2021", member_type="master", company="하림무역(주)")
    html = client.get(_choose_page(client, rp, "harim2021") + "?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "You are registered on the websites below." in html
    assert "Company member (MASTER)" in html
