"""The sign-up wizard through the test client (idp/web/signup.py): hub → terms → verification
→ member information tabs → done → sign-in resumed at the relying party; every refusal."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import (
    AuditEvent,
    MarketingConsent,
    Member,
    MemberIdentity,
    TermsConsent,
)
from idp.services import terms
from tests.helpers import (
    REDIRECT_URI,
    TestRP,
    callback_params,
    form_fields,
    give_verification,
    verified_identity,
)

NEW_PASSWORD = "Blue!ocean2026x"


def publish_terms(app: Any) -> None:
    with app.app_context():
        for kind, required in (("service", True), ("privacy", True), ("marketing", False),
                               ("privacy_optional", False)):
            terms.publish(db.session, kind=kind, version=1, title_ko=f"{kind} 약관",
                          title_en=f"{kind} terms", body=f"{kind} 본문", required=required,
                          now=terms.utcnow())
        db.session.commit()


@pytest.fixture()
def site(app: Any) -> Any:
    publish_terms(app)
    return app


def _post(client: Any, url: str, **fields: str) -> Any:
    page = client.get(url)
    assert page.status_code in (200, 400), page.get_data(as_text=True)[:300]
    action, hidden = form_fields(page.get_data(as_text=True))
    return client.post(action or url, data={**hidden, **fields})


def start(client: Any, ia: str | None = None) -> str:
    """The hub's 일반회원 가입: the flow id."""
    page = client.get("/signup" + (f"?ia={ia}" if ia else ""))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for choice in ("choice-general", "choice-company", "choice-simple"):
        assert f'id="{choice}"' in html
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    data = {"csrf_token": token}
    if ia:
        data["ia"] = ia
    resp = client.post("/signup/general", data=data)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    match = re.match(r"/signup/([^/]+)/terms", resp.headers["Location"])
    assert match, resp.headers["Location"]
    return match.group(1)


def agree(client: Any, fid: str, **extra: str) -> Any:
    fields = {"agree_service": "yes", "agree_privacy": "yes", **extra}
    return _post(client, f"/signup/{fid}/terms", **fields)


def verify(app: Any, client: Any, fid: str, identity: Any = None) -> Any:
    rid = give_verification(app, client, "signup", identity)
    return client.get(f"/signup/{fid}/verified?vr={rid}")


def basic(client: Any, fid: str, **fields: str) -> Any:
    data = {"login_id": "newmember1", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
            "email": "new@example.com", "decision": "next", **fields}
    return _post(client, f"/signup/{fid}/info?tab=basic", **data)


def finish(client: Any, fid: str) -> Any:
    return _post(client, f"/signup/{fid}/info?tab=company", decision="complete")


def through_basic(app: Any, client: Any, ia: str | None = None, identity: Any = None,
                  **fields: str) -> str:
    fid = start(client, ia)
    assert agree(client, fid).status_code == 303
    resp = verify(app, client, fid, identity)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/signup/{fid}/info")
    resp = basic(client, fid, **fields)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return fid


def members(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(Member.id))) or 0)


def test_whole_signup_creates_one_member_with_identity_consents_and_audit(site, client):
    app = site
    identity = verified_identity()
    fid = start(client)
    page = client.get(f"/signup/{fid}/terms").get_data(as_text=True)
    assert "약관동의" in page and 'aria-current="step"' in page
    assert agree(client, fid, agree_marketing="yes", marketing_sms="yes").status_code == 303
    assert "간편인증" in client.get(f"/signup/{fid}/verify").get_data(as_text=True)
    assert verify(app, client, fid, identity).status_code == 303
    info = client.get(f"/signup/{fid}/info").get_data(as_text=True)
    assert "홍길동" in info and "010-1234-5678" in info and "readonly" in info
    assert identity.di not in info and identity.ci not in info
    assert basic(client, fid).status_code == 303
    resp = _post(client, f"/signup/{fid}/info?tab=optional", name_en="Gildong Hong",
                 fax="02-1234-5678", department="해외영업", position="과장",
                 address_en="13 Heolleung-ro, Seocho-gu, Seoul", decision="next")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("tab=interests")
    assert "관심품목" in client.get(f"/signup/{fid}/info?tab=interests").get_data(as_text=True)
    # Issue 7: the 소속기업 tab searches a business number (tests/web/test_affiliation.py).
    assert 'id="business_number"' in client.get(
        f"/signup/{fid}/info?tab=company").get_data(as_text=True)
    resp = finish(client, fid)
    assert resp.status_code == 303 and resp.headers["Location"] == f"/signup/{fid}/done"
    done = client.get(f"/signup/{fid}/done").get_data(as_text=True)
    assert "KOTRA 통합 일반회원(기업미소속)으로 가입이 완료되었습니다" in done
    assert "newmember1" in done
    with app.app_context():
        member = db.session.scalars(select(Member)).one()
        assert (member.login_id, member.name, member.email) == (
            "newmember1", "홍길동", "new@example.com")
        assert member.member_type == "general"
        assert member.phone == "010-1234-5678" and member.phone_verified
        assert (member.name_en, member.fax, member.department, member.position) == (
            "Gildong Hong", "02-1234-5678", "해외영업", "과장")
        p = app.extensions["idp"]
        assert p.passwords.verify(member.password_hash, NEW_PASSWORD)
        ident = db.session.scalars(select(MemberIdentity)).one()
        assert ident.member_id == member.id
        assert ident.di_hash == p.personal_data.lookup_hash("di", identity.di)
        assert identity.di not in ident.di_sealed
        assert p.personal_data.open(ident.ci_sealed, "ci") == identity.ci
        assert (ident.birthdate, ident.gender, ident.method) == (identity.birthdate, "M",
                                                                 "mobile")
        agreed = {(c.kind, c.version, c.agreed) for c in db.session.scalars(
            select(TermsConsent))}
        assert ("service", 1, True) in agreed and ("privacy", 1, True) in agreed
        assert ("privacy_optional", 1, False) in agreed
        channels = {c.channel: c.agreed for c in db.session.scalars(select(MarketingConsent))}
        assert channels == {"email": False, "sms": True}
        events = [e.event for e in db.session.scalars(select(AuditEvent))]
        assert "member.signed_up" in events


def test_signup_from_a_relying_party_signs_in_and_resumes_it(site, client):
    app = site
    rp = TestRP.create(app, member=False)
    resp = rp.authorize(client)
    assert resp.status_code == 303
    ia = resp.headers["Location"].rsplit("/", 1)[1]
    login_page = client.get(f"/interaction/{ia}").get_data(as_text=True)
    assert f"/signup?ia={ia}" in login_page
    fid = through_basic(app, client, ia=ia)
    assert finish(client, fid).status_code == 303
    resp = _post(client, f"/signup/{fid}/done")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    params = callback_params(resp.headers["Location"], REDIRECT_URI)
    tokens = rp.exchange(client, params["code"]).get_json()
    assert "id_token" in tokens


def test_done_without_a_pending_sign_in_goes_to_my_kotra(site, client):
    fid = through_basic(site, client)
    finish(client, fid)
    resp = _post(client, f"/signup/{fid}/done")
    assert resp.status_code == 303 and resp.headers["Location"] == "/my"


def test_hub_links_simple_signup_to_the_login_tab_only_with_a_pending_sign_in(site, client):
    rp = TestRP.create(site, member=False)
    ia = rp.authorize(client).headers["Location"].rsplit("/", 1)[1]
    with_ia = client.get(f"/signup?ia={ia}").get_data(as_text=True)
    assert f"/interaction/{ia}?tab=simple" in with_ia
    without = client.get("/signup?ia=forged").get_data(as_text=True)
    assert "/interaction/forged" not in without and "간편회원 가입은" in without
    # Issue 7: 기업정보 등록 (idp/web/company_register.py), keeping the pending sign-in.
    assert 'href="/company/register"' in without
    assert f'href="/company/register?ia={ia}"' in with_ia


def test_a_required_term_declined_stays_on_step_one(site, client):
    fid = start(client)
    resp = _post(client, f"/signup/{fid}/terms", agree_service="yes")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "필수 약관에 모두 동의해 주세요" in html and 'aria-invalid="true"' in html
    # and step 2 is not reachable yet
    assert client.get(f"/signup/{fid}/verify").headers["Location"].endswith("/terms")
    assert client.get(f"/signup/{fid}/info").status_code == 303


def test_all_agree_ticks_every_item(site, client):
    fid = start(client)
    assert _post(client, f"/signup/{fid}/terms", agree_all="yes").status_code == 303


def test_a_refused_verification_says_why(site, client):
    fid = start(client)
    agree(client, fid)
    resp = client.get(f"/signup/{fid}/verified?vr=nonexistent")
    assert resp.status_code == 400
    assert "본인확인" in resp.get_data(as_text=True)


def test_an_identity_verified_for_another_purpose_is_refused(site, client):
    fid = start(client)
    agree(client, fid)
    rid = give_verification(site, client, "find_id")
    resp = client.get(f"/signup/{fid}/verified?vr={rid}")
    assert resp.status_code == 400


def test_a_di_already_on_an_account_stops_with_find_id(site, client):
    app = site
    identity = verified_identity()
    fid = through_basic(app, client, identity=identity)
    finish(client, fid)
    other = app.test_client()
    fid2 = start(other, None)
    agree(other, fid2)
    resp = verify(app, other, fid2, verified_identity(di=identity.di, ci=identity.ci))
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert "이미 가입된 회원입니다" in html and 'href="/find-id"' in html
    assert members(app) == 1


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"login_id": "short1"[:5]}, "login_id", "영문과 숫자를 섞어"),
    ({"login_id": "a" * 21 + "1"}, "login_id", "영문과 숫자를 섞어"),
    ({"login_id": "lettersonly"}, "login_id", "영문과 숫자를 섞어"),
    ({"login_id": "한글아이디123"}, "login_id", "영문과 숫자를 섞어"),
    ({"password": "Short!1", "confirm": "Short!1"}, "password", "9~30자"),
    ({"password": "A1!" * 11, "confirm": "A1!" * 11}, "password", "9~30자"),
    ({"password": "nodigits!!ab", "confirm": "nodigits!!ab"}, "password", "9~30자"),
    ({"password": "Password123!", "confirm": "Password123!"}, "password", "널리 쓰이는"),
    ({"password": "Aaaaaaaa1!", "confirm": "Aaaaaaaa1!"}, "password", "안전도가 낮습니다"),
    ({"password": "x!newmember1Q", "confirm": "x!newmember1Q"}, "password", "아이디나 이름"),
    ({"confirm": "Other!ocean2026"}, "confirm", "일치하지 않습니다"),
    ({"email": ""}, "email", "이메일을 입력해"),
    ({"email": "not-an-address"}, "email", "올바르게"),
])
def test_each_basic_field_is_validated_on_the_server(site, client, fields, field, message):
    fid = start(client)
    agree(client, fid)
    verify(site, client, fid)
    resp = basic(client, fid, **fields)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html, html
    assert f'id="{field}-error"' in html
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', html)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name_en": "홍길동"}, "name_en", "영문자로"),
    ({"name_en": "A" * 101}, "name_en", "너무 깁니다"),
    ({"fax": "12345"}, "fax", "팩스 번호"),
    ({"department": "x" * 101}, "department", "너무 깁니다"),
    ({"position": "과장\u0007"}, "position", "입력할 수 없는"),
    ({"address_en": "서울시 서초구"}, "address_en", "영문으로"),
])
def test_each_optional_field_is_validated_on_the_server(site, client, fields, field, message):
    fid = through_basic(site, client)
    resp = _post(client, f"/signup/{fid}/info?tab=optional", decision="next", **fields)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html and f'id="{field}-error"' in html


def test_reload_and_back_keep_what_was_entered(site, client):
    fid = through_basic(site, client)
    _post(client, f"/signup/{fid}/info?tab=optional", name_en="Gildong Hong", decision="next")
    again = client.get(f"/signup/{fid}/info?tab=basic").get_data(as_text=True)
    assert 'value="newmember1"' in again and 'value="new@example.com"' in again
    assert "비밀번호가 저장되어 있습니다" in again and NEW_PASSWORD not in again
    assert 'value="Gildong Hong"' in client.get(
        f"/signup/{fid}/info?tab=optional").get_data(as_text=True)
    # the terms page shows the answers again; the basic tab saves without retyping the password
    assert "checked" in client.get(f"/signup/{fid}/terms").get_data(as_text=True)
    assert basic(client, fid, password="", confirm="").status_code == 303
    assert finish(client, fid).status_code == 303
    assert members(site) == 1


def test_double_submit_creates_one_member_and_both_see_done(site, client):
    fid = through_basic(site, client)
    page = client.get(f"/signup/{fid}/info?tab=company").get_data(as_text=True)
    action, hidden = form_fields(page)
    first = client.post(action, data={**hidden, "decision": "complete"})
    second = client.post(action, data={**hidden, "decision": "complete"})
    third = client.post(f"/signup/{fid}/complete", data=hidden)
    assert first.headers["Location"] == second.headers["Location"] == third.headers[
        "Location"] == f"/signup/{fid}/done"
    assert members(site) == 1


def test_finishing_before_the_basic_tab_goes_back_to_it(site, client):
    fid = start(client)
    agree(client, fid)
    verify(site, client, fid)
    resp = finish(client, fid)
    assert resp.status_code == 303 and "tab=basic" in resp.headers["Location"]
    assert members(site) == 0


def test_an_id_taken_before_submit_is_a_field_error(site, client):
    fid = through_basic(site, client)
    TestRP.create(site, login_id="newmember1")  # someone else took it meanwhile
    resp = finish(client, fid)
    assert resp.status_code == 303 and "taken=1" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "이미 사용 중인 아이디입니다" in page
    assert basic(client, fid, login_id="newmember2").status_code == 303
    assert finish(client, fid).status_code == 303
    with site.app_context():
        assert db.session.scalar(select(Member.login_id).where(
            Member.name == "홍길동")) == "newmember2"


def test_a_new_required_terms_version_sends_back_to_step_one(site, client):
    fid = through_basic(site, client)
    with site.app_context():
        terms.publish(db.session, kind="privacy", version=2, title_ko="개정", title_en="rev",
                      body="개정 본문", required=True, now=terms.utcnow())
        db.session.commit()
    resp = finish(client, fid)
    assert resp.headers["Location"].endswith("/terms?changed=1")
    assert "개정" in client.get(resp.headers["Location"]).get_data(as_text=True)
    agree(client, fid)
    assert finish(client, fid).headers["Location"].endswith("/done")
    with site.app_context():
        assert ("privacy", 2) in {(c.kind, c.version) for c in db.session.scalars(
            select(TermsConsent))}


def test_the_flow_belongs_to_its_browser(site, client):
    fid = through_basic(site, client)
    other = site.test_client()
    assert other.get(f"/signup/{fid}/info").status_code == 400
    assert other.get(f"/signup/{fid}/terms").status_code == 400
    assert other.get(f"/signup/{fid}/check-id?login_id=abc12345").status_code == 404
    assert members(site) == 0


def test_an_expired_flow_starts_again(site, client, clock):
    fid = start(client)
    agree(client, fid)
    clock.advance(1801)
    resp = client.get(f"/signup/{fid}/verify")
    assert resp.status_code == 400
    assert "처음부터 다시" in resp.get_data(as_text=True)


def test_id_check_answers_available_taken_invalid_and_is_throttled(site, client):
    TestRP.create(site, login_id="member01")
    fid = through_basic(site, client)
    url = f"/signup/{fid}/check-id"
    assert client.get(url, query_string={"login_id": "free12345"}).get_json()[
        "status"] == "available"
    assert client.get(url, query_string={"login_id": "MEMBER01"}).get_json()[
        "status"] == "taken"
    assert client.get(url, query_string={"login_id": "x"}).get_json()["status"] == "invalid"
    limit = site.config["IDP_SETTINGS"]["signup"]["id_check_limit"]
    for _ in range(limit - 3):
        assert client.get(url, query_string={"login_id": "free12345"}).status_code == 200
    throttled = client.get(url, query_string={"login_id": "free12345"})
    assert throttled.status_code == 429 and throttled.get_json()["status"] == "throttled"
    assert "Retry-After" in throttled.headers


def test_two_racing_signups_with_one_di_make_one_member(site):
    """Two browsers, one person: both reach the last step; exactly one member results."""
    app = site
    identity = verified_identity()
    clients = [app.test_client(), app.test_client()]
    fids = [through_basic(app, c, identity=identity, login_id=f"racer{n}abc")
            for n, c in enumerate(clients)]
    pages = [c.get(f"/signup/{f}/info?tab=company").get_data(as_text=True)
             for c, f in zip(clients, fids, strict=True)]
    answers: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def run(n: int) -> None:
        action, hidden = form_fields(pages[n])
        barrier.wait()
        answers[n] = clients[n].post(action, data={**hidden, "decision": "complete"})

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [303, 409], [a.get_data(as_text=True)[:300] for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert "이미 가입된 회원입니다" in loser.get_data(as_text=True)
    assert members(app) == 1


def test_the_whole_wizard_in_english(site, client):
    client.get("/signup?lang=en")
    fid = start(client)
    html = client.get(f"/signup/{fid}/terms").get_data(as_text=True)
    assert 'lang="en"' in html and "Terms" in html and "약관동의" not in html
    resp = _post(client, f"/signup/{fid}/terms", agree_service="yes")
    assert "agree to every required" in resp.get_data(as_text=True)
    agree(client, fid)
    verify(site, client, fid)
    resp = basic(client, fid, password="Password123!", confirm="Password123!")
    html = resp.get_data(as_text=True)
    assert "commonly used" in html and "널리" not in html
    assert basic(client, fid).status_code == 303
    finish(client, fid)
    done = client.get(f"/signup/{fid}/done").get_data(as_text=True)
    assert "You are now a KOTRA unified general member" in done and "가입이 완료" not in done


def test_signup_works_when_no_terms_are_published(app, client):
    fid = start(client)
    assert _post(client, f"/signup/{fid}/terms").status_code == 303
    verify(app, client, fid)
    assert basic(client, fid).status_code == 303
    assert finish(client, fid).headers["Location"].endswith("/done")
    assert members(app) == 1


def test_changing_the_id_asks_for_the_password_again(site, client):
    fid = through_basic(site, client)
    resp = basic(client, fid, login_id="another12", password="", confirm="")
    assert resp.status_code == 400
    assert "비밀번호를 다시 입력해 주세요" in resp.get_data(as_text=True)
    assert basic(client, fid, login_id="another12").status_code == 303


def test_id_check_needs_a_verified_flow(site, client):
    fid = start(client)
    agree(client, fid)
    assert client.get(f"/signup/{fid}/check-id?login_id=free12345").status_code == 404


@pytest.mark.parametrize(("identity", "message"), [
    ({"corporate": True}, "법인 명의로는 본인확인을 할 수 없습니다"),
    ({"birthdate": dt.date(dt.date.today().year - 10, 1, 1)},
     "만 14세 미만은 회원으로 가입할 수 없습니다"),
])
def test_corporate_and_under_14_results_are_refused(site, client, identity, message):
    fid = start(client)
    agree(client, fid)
    resp = verify(site, client, fid, verified_identity(**identity))
    assert resp.status_code == 400
    assert message in resp.get_data(as_text=True)
    assert client.get(f"/signup/{fid}/info").headers["Location"].endswith("/verify")


# 관심 품목/지역 (the interests picker in step 3) ----------------------------------------------

@pytest.fixture()
def nomenclature(site: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from idp.services import hs

    monkeypatch.setattr(hs, "VERSION_CHECK_SECONDS", 0.0)
    with site.app_context():
        hs.load_builtin(db.session)
    return site


def interests_tab(client: Any, fid: str, hs_codes: list[str], countries: list[str],
                  decision: str = "next") -> Any:
    page = client.get(f"/signup/{fid}/info?tab=interests")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-field="interest_hs"' in html and 'data-field="interest_country"' in html
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    return client.post(f"/signup/{fid}/info?tab=interests",
                       data={"csrf_token": token, "decision": decision,
                             "interest_hs": hs_codes, "interest_country": countries})


def test_interests_are_kept_across_tabs_and_reload_and_saved_with_the_member(
        nomenclature, client):
    from idp.services.interests import load_interests

    app = nomenclature
    fid = through_basic(app, client)
    resp = interests_tab(client, fid, ["1806", "843820"], ["US", "jp"])
    assert resp.status_code == 303 and resp.headers["Location"].endswith("tab=company")
    # back, forward and reload: the chips come from the flow on the server
    for _ in range(2):
        html = client.get(f"/signup/{fid}/info?tab=interests").get_data(as_text=True)
        for code in ("1806", "843820", "US", "JP"):
            assert f'name="interest_{"hs" if code[0].isdigit() else "country"}" ' \
                   f'value="{code}"' in html
        assert "미국(United States)" in html
    client.get(f"/signup/{fid}/info?tab=basic")
    assert members(app) == 0
    assert finish(client, fid).status_code == 303
    with app.app_context():
        member = db.session.scalars(select(Member)).one()
        chosen = load_interests(db.session, member.id)
        assert chosen.hs_codes == ["1806", "843820"] and chosen.country_codes == ["US", "JP"]


def test_interests_refused_keep_the_tab_and_change_nothing(nomenclature, client):
    from idp.services.interests import load_interests

    app = nomenclature
    fid = through_basic(app, client)
    assert interests_tab(client, fid, ["1806"], ["VN"]).status_code == 303
    resp = interests_tab(client, fid, ["1806", "999999"], [])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "없는 HS 코드입니다: 999999" in html
    assert 'aria-invalid="true"' in html
    resp = interests_tab(client, fid, [], ["XX"])
    assert resp.status_code == 400 and "없는 국가 코드입니다: XX" in resp.get_data(as_text=True)
    many = [f"{c:02d}" for c in range(1, 23)]
    resp = interests_tab(client, fid, many, [])
    assert resp.status_code == 400 and "20개까지" in resp.get_data(as_text=True)
    # the earlier answer stays in the flow and is what the member gets
    html = client.get(f"/signup/{fid}/info?tab=interests").get_data(as_text=True)
    assert 'value="1806"' in html and 'value="VN"' in html and "999999" not in html
    assert finish(client, fid).status_code == 303
    with app.app_context():
        member = db.session.scalars(select(Member)).one()
        chosen = load_interests(db.session, member.id)
        assert chosen.hs_codes == ["1806"] and chosen.country_codes == ["VN"]


def test_interests_without_script_and_none_at_all(nomenclature, client):
    from idp.models.interests import MemberInterestItem

    app = nomenclature
    fid = through_basic(app, client)
    page = client.get(f"/signup/{fid}/info?tab=interests").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post(f"/signup/{fid}/info?tab=interests",
                       data={"csrf_token": token, "decision": "next",
                             "interest_hs_text": "1806, 843820", "interest_country_text": ""})
    assert resp.status_code == 303
    html = client.get(f"/signup/{fid}/info?tab=interests").get_data(as_text=True)
    assert 'value="843820"' in html
    assert interests_tab(client, fid, [], []).status_code == 303  # cleared again
    assert finish(client, fid).status_code == 303
    with app.app_context():
        assert db.session.scalars(select(MemberInterestItem)).all() == []
