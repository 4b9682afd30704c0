"""Affiliation for members (issue 7; SPEC §1–2, §3.3 tab 4, §3.8, §4): the search, joining by
approval password with its limits (per company across members and addresses, per member, per
address), joining by certificate, leaving, the sign-up's 소속기업 tab, the 5-year re-consent of
affiliated members, the entitlement rows and the step-up to certificate level."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import (
    Affiliation,
    AuditEvent,
    Company,
    CompanyDirectoryEntry,
    CompanyNotice,
    Member,
)
from tests.helpers import TestRP, add_test_member, give_certificate
from tests.web.test_my import csrf, sign_in_my

KOTRA = "1208200275"  # 대한무역투자진흥공사 (the manual's example)
EDS = "6638501035"  # (주)한국이디에스 (the manual's example)
PENDING = "1234567815"
APPROVAL = "347369"


def add_company(app: Any, number: str = KOTRA, *, name: str = "대한무역투자진흥공사",
                status: str = "active", approval: str | None = APPROVAL,
                profile: dict[str, str] | None = None) -> int:
    with app.app_context():
        p = app.extensions["idp"]
        company = Company(business_number=number, name=name, status=status,
                          ceo_name="유정열", profile=profile or {},
                          approval_password_hash=p.passwords.hash(approval) if approval else None)
        db.session.add(company)
        db.session.commit()
        return int(company.id)


def add_directory(app: Any, number: str = KOTRA) -> None:
    with app.app_context():
        db.session.add(CompanyDirectoryEntry(
            business_number=number, name_ko="대한무역투자진흥공사", ceo_ko="유정열",
            name_en="KOTRA", address_ko="서울 서초구 헌릉로 13", address_en="13 Heolleung-ro",
            phone="02-3460-7114", fax="02-3460-7777"))
        db.session.commit()


def events(app: Any, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def notices(app: Any, kind: str = "approval_password_locked") -> list[CompanyNotice]:
    with app.app_context():
        return list(db.session.scalars(select(CompanyNotice).where(CompanyNotice.kind == kind)))


def live_affiliation(app: Any, login_id: str) -> Affiliation | None:
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.login_id == login_id))
        assert member is not None
        aff = member.affiliation
        if aff is not None:
            db.session.expunge(aff)
        return aff


def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def token(web: Any) -> str:
    return csrf(text(web.get("/my/consents")))


def try_password(web: Any, password: str, number: str = KOTRA,
                 ip: str = "203.0.113.7") -> Any:
    return web.post("/my/company/join", data={"csrf_token": token(web), "business_number": number,
                                              "approval_password": password},
                    environ_base={"REMOTE_ADDR": ip})


@pytest.fixture()
def hour(clock: Any) -> Any:
    """The clock at the start of an hourly window (the limits count per window)."""
    clock.advance(3600 - clock.now() % 3600 + 1)
    return clock


def signed_in(app: Any, rp: TestRP, login_id: str) -> Any:
    if login_id != rp.login_id:
        add_test_member(app, login_id)
    web = app.test_client()
    sign_in_my(web, rp, login_id=login_id)
    return web


# -- search ------------------------------------------------------------------------------------

def test_search_shows_the_record_from_the_directory(app: Any, rp: TestRP) -> None:
    add_company(app)
    add_directory(app)
    web = signed_in(app, rp, "member01")
    resp = web.get("/my/company", query_string={"business_number": "120-82-00275"})
    html = text(resp)
    assert resp.status_code == 200
    for value in ("120-82-00275", "대한무역투자진흥공사", "유정열", "서울 서초구 헌릉로 13",
                  "13 Heolleung-ro", "02-3460-7114", "02-3460-7777"):
        assert value in html
    assert 'id="approval_password"' in html
    assert 'id="affiliate-certificate"' in html  # the 인증서찾기 widget
    assert "/company/register" in html


def test_search_prefers_the_company_profile(app: Any, rp: TestRP) -> None:
    add_company(app, profile={"address": "서울 강남구 테헤란로 1", "address_detail": "10층",
                              "phone": "02-555-0000"})
    add_directory(app)
    html = text(signed_in(app, rp, "member01").get(
        "/my/company", query_string={"business_number": KOTRA}))
    assert "서울 강남구 테헤란로 1 10층" in html and "02-555-0000" in html
    assert "02-3460-7777" in html  # what the profile lacks comes from the directory


@pytest.mark.parametrize(("number", "message"), [
    ("12345", "사업자등록번호 10자리를 정확히 입력해 주세요."),
    ("1208200276", "사업자등록번호 10자리를 정확히 입력해 주세요."),  # check digit
    (EDS, "등록된 기업정보가 없습니다."),
    (PENDING, "기업정보 등록 승인을 기다리고 있는 기업입니다."),
])
def test_search_refusals(app: Any, rp: TestRP, number: str, message: str) -> None:
    add_company(app, PENDING, name="대기기업", status="pending")
    resp = signed_in(app, rp, "member01").get("/my/company",
                                              query_string={"business_number": number})
    assert resp.status_code == 400
    assert message in text(resp)
    assert 'id="approval_password"' not in text(resp)


def test_search_is_throttled_per_address(app: Any, rp: TestRP) -> None:
    add_company(app)
    app.config["IDP_SETTINGS"]["affiliation"]["searches_per_ip"] = 3
    web = signed_in(app, rp, "member01")
    codes = [web.get("/my/company", query_string={"business_number": KOTRA}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_pending_company_cannot_be_joined(app: Any, rp: TestRP) -> None:
    add_company(app, PENDING, status="pending")
    web = signed_in(app, rp, "member01")
    resp = web.post("/my/company/join", data={"csrf_token": token(web),
                                              "business_number": PENDING,
                                              "approval_password": APPROVAL})
    assert resp.status_code == 400
    assert "기업정보 등록 승인을 기다리고 있는 기업입니다." in text(resp)
    assert live_affiliation(app, "member01") is None
    assert not events(app, "affiliation.approval_failed")  # not even counted


# -- join by approval password -------------------------------------------------------------------

def test_join_by_approval_password(app: Any, rp: TestRP, hour: Any) -> None:
    company_id = add_company(app)
    web = signed_in(app, rp, "member01")
    resp = try_password(web, "347-369")  # dashes are fine (the manual shows 3473-6971)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("done=joined")
    html = text(web.get(resp.headers["Location"]))
    assert "소속기업이 등록되었습니다." in html and "대한무역투자진흥공사" in html
    assert "승인 비밀번호" in html and 'id="leave-company"' in html
    aff = live_affiliation(app, "member01")
    assert aff is not None and aff.method == "approval_password" and aff.company_id == company_id
    (joined,) = events(app, "affiliation.joined")
    assert joined.detail["method"] == "approval_password"
    assert len(notices(app, "affiliation_joined")) == 1
    # The claims carry it at once.
    tokens = rp.tokens(app.test_client())
    claims = app.test_client().get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert claims["kotra_company"]["business_number"] == KOTRA
    assert claims["kotra_company"]["affiliation_method"] == "approval_password"


def test_wrong_password_says_how_many_tries_are_left(app: Any, rp: TestRP, hour: Any) -> None:
    add_company(app)
    web = signed_in(app, rp, "member01")
    resp = try_password(web, "000001")
    assert resp.status_code == 400
    assert "승인 비밀번호가 일치하지 않습니다." in text(resp)
    assert "남은 입력 횟수 4회" in text(resp)  # the member's limit (5) is the nearest
    assert live_affiliation(app, "member01") is None
    (failed,) = events(app, "affiliation.approval_failed")
    assert failed.detail["failures"] == {"company": 1, "member": 1, "ip": 1}
    assert try_password(web, "12345").status_code == 400  # 5 digits: not counted
    assert len(events(app, "affiliation.approval_failed")) == 1


def test_member_limit_locks_that_member_only(app: Any, rp: TestRP, hour: Any) -> None:
    add_company(app)
    web = signed_in(app, rp, "member01")
    for _ in range(4):
        assert try_password(web, "000001").status_code == 400
    resp = try_password(web, "000001")  # the 5th
    assert resp.status_code == 429
    assert "승인 비밀번호를 여러 번 잘못 입력하셨습니다." in text(resp)
    # Locked: even the right password is refused until the window ends.
    resp = try_password(web, APPROVAL)
    assert resp.status_code in (200, 429)
    assert live_affiliation(app, "member01") is None
    (locked,) = events(app, "affiliation.approval_locked")
    assert locked.detail["scope"] == "member"
    assert len(notices(app)) == 1
    # Another member is not held up by this one's lock.
    other = signed_in(app, rp, "member02")
    assert try_password(other, APPROVAL, ip="203.0.113.8").status_code == 303
    # The next window, the member may try again.
    hour.advance(3600)
    assert try_password(web, APPROVAL).status_code == 303


def test_company_limit_is_ten_an_hour_across_members_and_addresses(
        app: Any, rp: TestRP, hour: Any) -> None:
    """SPEC §1: at most 10 wrong tries per company per hour, whoever makes them."""
    add_company(app)
    webs = [signed_in(app, rp, f"member0{i}") for i in range(1, 6)]
    tries = 0
    for i, web in enumerate(webs):
        for _ in range(2):  # two each, from five members and five addresses: 10 in all
            resp = try_password(web, f"00000{i}", ip=f"198.51.100.{i}")
            tries += 1
            assert resp.status_code == (429 if tries == 10 else 400)
    html = text(resp)
    assert "이 기업의 승인 비밀번호가 여러 번 잘못 입력되어" in html
    assert "기업 범용인증서로 인증하시거나" in html
    # A sixth member from a fresh address, with the right password: refused for the window.
    late = signed_in(app, rp, "member06")
    resp = try_password(late, APPROVAL, ip="192.0.2.99")
    assert resp.status_code == 429
    assert "이 기업의 승인 비밀번호가 여러 번 잘못 입력되어" in text(resp)
    page = late.get("/my/company", query_string={"business_number": KOTRA},
                    environ_base={"REMOTE_ADDR": "192.0.2.99"})
    assert 'id="approval-locked"' in text(page) and 'id="approval_password"' not in text(page)
    assert live_affiliation(app, "member06") is None
    assert len(events(app, "affiliation.approval_failed")) == 10  # the 11th was not checked
    locks = events(app, "affiliation.approval_locked")
    assert [e.detail["scope"] for e in locks] == ["company"]
    (notice,) = notices(app)  # once per lock, not per try
    assert notice.data["scope"] == "company"
    # Another company is not affected; the next hour this one opens again.
    add_company(app, EDS, name="(주)한국이디에스")
    assert try_password(late, APPROVAL, number=EDS, ip="192.0.2.99").status_code == 303
    hour.advance(3600)
    other = signed_in(app, rp, "member07")
    assert try_password(other, APPROVAL, ip="192.0.2.100").status_code == 303


def test_address_limit_across_members(app: Any, rp: TestRP, hour: Any) -> None:
    app.config["IDP_SETTINGS"]["affiliation"]["ip_failures"] = 3
    add_company(app)
    add_company(app, EDS, name="(주)한국이디에스")
    webs = [signed_in(app, rp, f"member0{i}") for i in range(1, 4)]
    assert try_password(webs[0], "000001").status_code == 400
    assert try_password(webs[1], "000001", number=EDS).status_code == 400
    resp = try_password(webs[2], "000001")
    assert resp.status_code == 429
    assert "이 네트워크에서 승인 비밀번호가 여러 번 잘못 입력되었습니다." in text(resp)
    assert [e.detail["scope"] for e in events(app, "affiliation.approval_locked")] == ["ip"]
    assert len(notices(app)) == 1
    # From another address the same member is fine.
    assert try_password(webs[2], APPROVAL, ip="192.0.2.1").status_code == 303


def test_limits_hold_under_parallel_guesses(app: Any, hour: Any) -> None:
    """Tries are counted before the hash: racing guesses never check more than the limit."""
    from concurrent.futures import ThreadPoolExecutor

    from idp.services import affiliations as service

    company_id = add_company(app)
    limits = service.ApprovalLimits(company_failures=10, member_failures=100, ip_failures=100)
    p = app.extensions["idp"]

    def guess(i: int) -> str:
        with app.app_context():
            company = db.session.get(Company, company_id)
            assert company is not None
            try:
                service.check_approval_password(
                    db.session, p.store, p.clock, p.passwords, limits, company, f"{i:06d}",
                    who=f"member:{i}", ip=f"198.51.100.{i}")
            except service.AffiliationRefused as exc:
                return exc.reason
            finally:
                db.session.remove()
            return "ok"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(guess, range(100, 130)))
    assert "ok" not in results and results.count("wrong_password") <= 9
    assert set(results) <= {"wrong_password", "locked", "busy"}
    assert len(events(app, "affiliation.approval_failed")) == 10
    assert len(events(app, "affiliation.approval_locked")) == 1
    assert len(notices(app)) == 1


def test_company_without_approval_password(app: Any, rp: TestRP) -> None:
    add_company(app, approval=None)
    web = signed_in(app, rp, "member01")
    html = text(web.get("/my/company", query_string={"business_number": KOTRA}))
    assert "승인 비밀번호가 설정되지 않은 기업입니다." in html
    assert 'id="approval_password"' not in html


# -- join by certificate ---------------------------------------------------------------------

def test_join_by_certificate(app: Any, rp: TestRP) -> None:
    add_company(app, approval=None)
    web = signed_in(app, rp, "member01")
    cr = give_certificate(app, web, "affiliate", KOTRA)
    resp = web.get("/my/company/certified", query_string={"business_number": KOTRA, "cr": cr})
    assert resp.status_code == 303, text(resp)[:500]
    aff = live_affiliation(app, "member01")
    assert aff is not None and aff.method == "certificate"
    (joined,) = events(app, "affiliation.joined")
    assert joined.detail["method"] == "certificate" and joined.detail["serial"] == "01ab"
    html = text(web.get("/my/company"))
    assert "기업 범용인증서" in html
    # The result is used once.
    assert web.get("/my/company/certified",
                   query_string={"business_number": KOTRA, "cr": cr}).status_code == 400


def test_certificate_of_another_company_is_refused(app: Any, rp: TestRP) -> None:
    add_company(app)
    add_company(app, EDS, name="(주)한국이디에스")
    web = signed_in(app, rp, "member01")
    cr = give_certificate(app, web, "affiliate", EDS)
    resp = web.get("/my/company/certified", query_string={"business_number": KOTRA, "cr": cr})
    assert resp.status_code == 400
    assert "입력하신 사업자등록번호의 인증서가 아닙니다." in text(resp)
    assert live_affiliation(app, "member01") is None
    # A certificate result for another purpose is refused too.
    cr = give_certificate(app, web, "login", KOTRA)
    resp = web.get("/my/company/certified", query_string={"business_number": KOTRA, "cr": cr})
    assert resp.status_code == 400 and live_affiliation(app, "member01") is None


def test_certificate_join_of_pending_company_is_refused(app: Any, rp: TestRP) -> None:
    add_company(app, PENDING, status="pending")
    web = signed_in(app, rp, "member01")
    cr = give_certificate(app, web, "affiliate", PENDING)
    resp = web.get("/my/company/certified", query_string={"business_number": PENDING, "cr": cr})
    assert resp.status_code == 400
    assert "기업정보 등록 승인을 기다리고 있는 기업입니다." in text(resp)


# -- one affiliation; leaving --------------------------------------------------------------------

def test_one_live_affiliation_then_leave(app: Any, rp: TestRP, hour: Any) -> None:
    add_company(app)
    add_company(app, EDS, name="(주)한국이디에스")
    web = signed_in(app, rp, "member01")
    assert try_password(web, APPROVAL).status_code == 303
    # Joining another company while affiliated is refused (SPEC §1: one company).
    resp = web.post("/my/company/join", data={
        "csrf_token": token(web), "business_number": EDS,
        "approval_password": APPROVAL})
    assert resp.status_code == 400
    assert "먼저 소속을 해제해 주세요." in text(resp)
    cr = give_certificate(app, web, "affiliate", EDS)
    resp = web.get("/my/company/certified", query_string={"business_number": EDS, "cr": cr})
    assert resp.status_code == 400
    assert live_affiliation(app, "member01").company.business_number == KOTRA  # type: ignore[union-attr]
    # Leave: a confirmation page, the box must be ticked.
    page = web.get("/my/company/leave")
    assert "대한무역투자진흥공사 소속을 해제하시겠습니까?" in text(page)
    resp = web.post("/my/company/leave", data={"csrf_token": csrf(text(page))})
    assert resp.status_code == 400 and live_affiliation(app, "member01") is not None
    resp = web.post("/my/company/leave", data={"csrf_token": csrf(text(page)), "confirm": "yes"})
    assert resp.status_code == 303
    assert "소속기업 등록이 해제되었습니다." in text(web.get(resp.headers["Location"]))
    assert live_affiliation(app, "member01") is None
    with app.app_context():
        ended = db.session.scalar(select(Affiliation))
        assert ended is not None and ended.ended_by == "left"
    assert len(events(app, "affiliation.left")) == 1
    # Now another company may be joined.
    assert try_password(web, APPROVAL, number=EDS).status_code == 303


def test_forms_need_csrf(app: Any, rp: TestRP) -> None:
    add_company(app)
    web = signed_in(app, rp, "member01")
    resp = web.post("/my/company/join", data={"business_number": KOTRA,
                                              "approval_password": APPROVAL})
    assert resp.status_code == 400 and live_affiliation(app, "member01") is None


def test_signed_out_visitor_is_sent_to_sign_in(client: Any) -> None:
    resp = client.get("/my/company")
    assert resp.status_code == 303 and "/my/login" in resp.headers["Location"]


def test_legacy_done_page_links_to_my_company() -> None:
    source = Path("templates/legacy/done.html").read_text(encoding="utf-8")
    assert "my.company" in source or "/my/company" in source
    assert "준비 중" not in source


def test_audit_never_holds_the_password(app: Any, rp: TestRP, hour: Any) -> None:
    add_company(app)
    web = signed_in(app, rp, "member01")
    try_password(web, "918273")
    with app.app_context():
        details = [str(e.detail) for e in db.session.scalars(select(AuditEvent))]
    assert not any("918273" in d for d in details)


# -- re-consent: 5 years for affiliated members (SPEC §4) ------------------------------------------

def _publish_and_agree(app: Any, login_ids: list[str], at: dt.datetime) -> None:
    from idp.services import terms

    with app.app_context():
        for kind, required in (("service", True), ("privacy", True)):
            terms.publish(db.session, kind=kind, version=1, title_ko=kind, title_en=kind,
                          body=f"{kind} 본문", required=required, now=at)
        for login_id in login_ids:
            member_id = db.session.scalar(select(Member.id).where(Member.login_id == login_id))
            assert member_id is not None
            terms.record_consents(db.session, member_id, agreed={"service": True,
                                                                 "privacy": True},
                                  marketing={}, source="signup", now=at)
        db.session.commit()


def _login_lands_on(app: Any, rp: TestRP, login_id: str) -> str:
    web = app.test_client()
    resp = rp.login(web, rp.authorize(web).headers["Location"], login_id=login_id)
    assert resp.status_code == 303
    return str(resp.headers["Location"])


def test_affiliated_members_reconsent_after_five_years_not_two(app: Any, clock: Any) -> None:
    from idp.services import policy_jobs as pj

    rp = TestRP.create(app, login_id="personal1")
    add_test_member(app, "approval1", affiliation="approval_password")
    add_test_member(app, "certific1", affiliation="certificate")
    _publish_and_agree(app, ["personal1", "approval1", "certific1"], pj.naive_utc(clock.now()))

    def due() -> dict[str, int]:
        with app.app_context():
            s = app.config["IDP_SETTINGS"]["terms"]
            return pj.reconsent_due(db.session, now=pj.naive_utc(clock.now()),
                                    personal_days=s["reconsent_days"],
                                    company_days=s["company_reconsent_days"])

    clock.advance(731 * 86400)  # two years on: only the unaffiliated member is asked
    assert _login_lands_on(app, rp, "personal1").endswith("/terms")
    assert _login_lands_on(app, rp, "approval1").startswith(rp.redirect_uri)
    assert _login_lands_on(app, rp, "certific1").startswith(rp.redirect_uri)
    assert due() == {"due": 1, "personal": 1, "company": 0, "members": 3}
    clock.advance((1826 - 731) * 86400)  # five years on: everyone
    assert _login_lands_on(app, rp, "approval1").endswith("/terms")
    assert _login_lands_on(app, rp, "certific1").endswith("/terms")
    assert due() == {"due": 3, "personal": 1, "company": 2, "members": 3}


def test_leaving_the_company_brings_back_the_two_year_period(app: Any, clock: Any) -> None:
    rp = TestRP.create(app, login_id="approval1", affiliation="approval_password")
    from idp.services import policy_jobs as pj

    _publish_and_agree(app, ["approval1"], pj.naive_utc(clock.now()))
    clock.advance(731 * 86400)
    assert _login_lands_on(app, rp, "approval1").startswith(rp.redirect_uri)
    with app.app_context():
        aff = db.session.scalar(select(Affiliation))
        assert aff is not None
        aff.revoked_at, aff.ended_by = pj.naive_utc(clock.now()), "left"
        db.session.commit()
    assert _login_lands_on(app, rp, "approval1").endswith("/terms")


def test_reconsent_period_rule() -> None:
    from idp.services.terms import reconsent_period

    def days(kind: str, affiliated: bool) -> int:
        return reconsent_period(kind, affiliated, personal_days=730, company_days=1825)

    assert days("general", False) == 730
    assert days("general", True) == 1825
    assert days("company_manager", False) == 1825
    assert days("simple", False) == 730


# -- entitlements (SPEC §2) ------------------------------------------------------------------------

SPEC_ROWS = {
    "general_certificate": {"online_consultation", "seminar_application",
                            "other_service_application", "service_mileage",
                            "company_info_edit", "approve_employees"},
    "general_approval_password": {"online_consultation", "seminar_application",
                                  "other_service_application", "approve_employees"},
    "general_unaffiliated": {"online_consultation", "seminar_application",
                             "other_service_application"},
    "simple": {"online_consultation", "seminar_application"},
}


def test_the_configured_matrix_is_spec_section_2() -> None:
    import tomllib

    matrix = tomllib.loads(Path("config/default.toml").read_text(encoding="utf-8"))[
        "entitlements"]
    for kind, row in SPEC_ROWS.items():
        assert {e for e, kinds in matrix.items() if kind in kinds} == row, kind
    assert {e for e, kinds in matrix.items() if "company_manager" in kinds} == {
        "company_console"}


@pytest.mark.parametrize(("affiliation", "kind"), [
    ("certificate", "general_certificate"),
    ("approval_password", "general_approval_password"),
    (None, "general_unaffiliated"),
])
def test_each_general_kind_gets_exactly_its_row(app: Any, affiliation: str | None,
                                                kind: str) -> None:
    rp = TestRP.create(app, login_id="kind0001", affiliation=affiliation)
    web = app.test_client()
    tokens = rp.tokens(web)
    claims = web.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert set(claims["kotra_entitlements"]) == SPEC_ROWS[kind]
    assert claims["kotra_member_type"] == "general"
    if affiliation is None:
        assert "kotra_company" not in claims
    else:
        assert claims["kotra_company"]["affiliation_method"] == affiliation
        assert claims["kotra_company"]["business_number"] == KOTRA


def test_a_simple_member_gets_exactly_its_row(app: Any) -> None:
    from idp.models import MemberType
    from idp.services.members import new_subject

    with app.app_context():
        p = app.extensions["idp"]
        member = Member(subject=new_subject(), member_type=MemberType.SIMPLE, name="간편")
        db.session.add(member)
        db.session.commit()
        assert set(p.entitlements.for_member(member)) == SPEC_ROWS["simple"]


# -- the sign-up's 소속기업 tab (SPEC §3.3 tab 4) -------------------------------------------

def _signup_to_company_tab(app: Any, client: Any, identity: Any = None) -> str:
    from tests.web.test_signup_web import through_basic

    fid = through_basic(app, client, identity=identity)
    return fid


def _tab_post(client: Any, fid: str, **fields: str) -> Any:
    page = client.get(f"/signup/{fid}/info?tab=company")
    return client.post(f"/signup/{fid}/info?tab=company",
                       data={"csrf_token": csrf(text(page)), **fields})


def test_signup_company_tab_by_approval_password_end_to_end(app: Any, client: Any,
                                                            hour: Any) -> None:
    add_company(app)
    add_directory(app)
    fid = _signup_to_company_tab(app, client)
    html = text(client.get(f"/signup/{fid}/info?tab=company"))
    assert 'id="business_number"' in html and "/company/register" in html
    assert "준비 중" not in html
    # Search: the record is filled in.
    resp = _tab_post(client, fid, decision="search", business_number="120-82-00275")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("tab=company")
    html = text(client.get(resp.headers["Location"]))
    assert "서울 서초구 헌릉로 13" in html and "02-3460-7777" in html
    assert 'id="approval_password"' in html and 'id="affiliate-certificate"' in html
    # A wrong password: the limits count the verified person.
    resp = _tab_post(client, fid, decision="approval", approval_password="111112")
    assert resp.status_code == 400 and "승인 비밀번호가 일치하지 않습니다." in text(resp)
    assert len(events(app, "affiliation.approval_failed")) == 1
    # The right one is checked now; the affiliation is made when the sign-up completes.
    resp = _tab_post(client, fid, decision="approval", approval_password=APPROVAL)
    assert resp.status_code == 303
    html = text(client.get(f"/signup/{fid}/info?tab=company"))
    assert 'id="company-verified"' in html and 'id="approval_password"' not in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Affiliation)) == 0
    resp = _tab_post(client, fid, decision="complete")
    assert resp.status_code == 303 and resp.headers["Location"] == f"/signup/{fid}/done"
    done = text(client.get(resp.headers["Location"]))
    assert "KOTRA 통합 일반회원(기업소속)으로 가입이 완료되었습니다." in done
    assert "대한무역투자진흥공사" in done
    aff = live_affiliation(app, "newmember1")
    assert aff is not None and aff.method == "approval_password"
    assert len(events(app, "affiliation.joined")) == 1


def test_signup_company_tab_by_certificate(app: Any, client: Any) -> None:
    add_company(app, approval=None)
    add_company(app, EDS, name="(주)한국이디에스")
    fid = _signup_to_company_tab(app, client)
    assert _tab_post(client, fid, decision="search", business_number=KOTRA).status_code == 303
    # Another company's certificate: refused.
    cr = give_certificate(app, client, "affiliate", EDS)
    resp = client.get(f"/signup/{fid}/company/certified", query_string={"cr": cr})
    assert resp.status_code == 400 and "입력하신 사업자등록번호의 인증서가 아닙니다." in text(resp)
    cr = give_certificate(app, client, "affiliate", KOTRA)
    resp = client.get(f"/signup/{fid}/company/certified", query_string={"cr": cr})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("tab=company")
    assert "기업 범용인증서" in text(client.get(resp.headers["Location"]))
    resp = _tab_post(client, fid, decision="complete")
    assert resp.status_code == 303
    aff = live_affiliation(app, "newmember1")
    assert aff is not None and aff.method == "certificate"


def test_signup_company_tab_is_skippable_and_refuses_pending(app: Any, client: Any) -> None:
    add_company(app, PENDING, status="pending")
    fid = _signup_to_company_tab(app, client)
    resp = _tab_post(client, fid, decision="search", business_number=PENDING)
    assert resp.status_code == 400
    assert "기업정보 등록 승인을 기다리고 있는 기업입니다." in text(resp)
    resp = _tab_post(client, fid, decision="approval", approval_password=APPROVAL)
    assert resp.status_code == 400
    assert "먼저 소속기업의 사업자등록번호를 조회해 주세요." in text(resp)
    resp = _tab_post(client, fid, decision="complete")
    assert resp.status_code == 303
    done = text(client.get(resp.headers["Location"]))
    assert "KOTRA 통합 일반회원(기업미소속)으로 가입이 완료되었습니다." in done
    assert live_affiliation(app, "newmember1") is None


def test_signup_company_rejected_meanwhile_goes_back_to_the_tab(app: Any, client: Any,
                                                               hour: Any) -> None:
    company_id = add_company(app)
    fid = _signup_to_company_tab(app, client)
    _tab_post(client, fid, decision="search", business_number=KOTRA)
    assert _tab_post(client, fid, decision="approval",
                     approval_password=APPROVAL).status_code == 303
    token = csrf(text(client.get(f"/signup/{fid}/info?tab=company")))
    with app.app_context():
        company = db.session.get(Company, company_id)
        assert company is not None
        company.status = "rejected"
        db.session.commit()
    resp = client.post(f"/signup/{fid}/info?tab=company",
                       data={"csrf_token": token, "decision": "complete"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("tab=company")
    page = client.get(resp.headers["Location"])
    assert "등록된 기업정보가 없습니다." in text(page)
    resp = _tab_post(client, fid, decision="complete")  # now without the company
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/done")
    assert live_affiliation(app, "newmember1") is None


def test_signup_approval_limit_counts_the_person_across_flows(app: Any, client: Any,
                                                             hour: Any) -> None:
    from tests.helpers import verified_identity

    add_company(app)
    person = verified_identity()
    fid = _signup_to_company_tab(app, client, identity=person)
    _tab_post(client, fid, decision="search", business_number=KOTRA)
    for _ in range(4):
        assert _tab_post(client, fid, decision="approval",
                         approval_password="000009").status_code == 400
    resp = _tab_post(client, fid, decision="approval", approval_password="000009")
    assert resp.status_code == 429
    assert "승인 비밀번호를 여러 번 잘못 입력하셨습니다." in text(resp)
    # A new sign-up of the same verified person in a new browser is still held.
    other = app.test_client()
    fid2 = _signup_to_company_tab(app, other, identity=person)
    _tab_post(other, fid2, decision="search", business_number=KOTRA)
    html = text(other.get(f"/signup/{fid2}/info?tab=company"))
    assert 'id="approval-locked"' in html


# -- step-up to certificate level (SPEC §5: acr_values before mileage use) -------------------------

def _id_claims(jwt: str) -> dict[str, Any]:
    import base64

    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _local(location: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def test_step_up_to_certificate_level(app: Any, client: Any) -> None:
    from idp.services.claims import ACR_CERTIFICATE, ACR_PASSWORD
    from tests.helpers import callback_params

    rp = TestRP.create(app, login_id="certmem1", affiliation="certificate")
    first = rp.code_flow(client)  # a password session
    claims = _id_claims(rp.exchange(client, first["code"]).get_json()["id_token"])
    assert claims["acr"] == ACR_PASSWORD
    # The relying party asks for the certificate level (mileage use).
    resp = rp.authorize(client, acr_values=ACR_CERTIFICATE)
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    login = _local(resp.headers["Location"])
    page = text(client.get(login))
    assert 'id="needed-acr"' in page and 'id="member-certificate-login"' in page
    uid = login.split("/interaction/")[1].split("?")[0]
    page = client.get(f"/interaction/{uid}/certificate")
    assert page.status_code == 200
    assert 'id="login-certificate"' in text(page) and "120-82-00275" in text(page)
    # Another company's certificate is refused, and audited.
    cr = give_certificate(app, client, "login", EDS)
    resp = client.get(f"/interaction/{uid}/certificate/done", query_string={"cr": cr})
    assert resp.status_code == 400 and "입력하신 사업자등록번호의 인증서가 아닙니다." in text(resp)
    assert events(app, "login.failure")[-1].detail["reason"] == "other_company"
    # The company's own: the code, with acr certificate and amr pwd + swk.
    cr = give_certificate(app, client, "login", KOTRA)
    resp = client.get(f"/interaction/{uid}/certificate/done", query_string={"cr": cr})
    assert resp.status_code == 303, text(resp)[:400]
    params = callback_params(resp.headers["Location"], rp.redirect_uri)
    tokens = rp.exchange(client, params["code"]).get_json()
    claims = _id_claims(tokens["id_token"])
    assert claims["acr"] == ACR_CERTIFICATE and claims["amr"] == ["pwd", "swk"]
    info = client.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert "service_mileage" in info["kotra_entitlements"]
    assert info["kotra_company"]["affiliation_method"] == "certificate"


def test_step_up_from_no_session_identifies_by_password_first(app: Any, client: Any) -> None:
    from idp.services.claims import ACR_CERTIFICATE
    from tests.helpers import callback_params

    rp = TestRP.create(app, login_id="certmem1", affiliation="certificate")
    essential = json.dumps({"id_token": {"acr": {"essential": True,
                                                  "values": [ACR_CERTIFICATE]}}})
    resp = rp.authorize(client, claims=essential)
    login = _local(resp.headers["Location"])
    page = text(client.get(login))
    assert "먼저 아이디·비밀번호로 로그인하신 뒤" in page
    resp = rp.login(client, login)
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    page = text(client.get(_local(resp.headers["Location"])))
    assert 'id="member-certificate-login"' in page
    uid = login.split("/interaction/")[1].split("?")[0]
    cr = give_certificate(app, client, "login", KOTRA)
    resp = client.get(f"/interaction/{uid}/certificate/done", query_string={"cr": cr})
    params = callback_params(resp.headers["Location"], rp.redirect_uri)
    claims = _id_claims(rp.exchange(client, params["code"]).get_json()["id_token"])
    assert claims["acr"] == ACR_CERTIFICATE


@pytest.mark.parametrize("affiliation", ["approval_password", None])
def test_members_not_affiliated_by_certificate_cannot_step_up(
        app: Any, client: Any, affiliation: str | None) -> None:
    from idp.services.claims import ACR_CERTIFICATE, ACR_PASSWORD
    from tests.helpers import callback_params

    rp = TestRP.create(app, login_id="apprmem1", affiliation=affiliation)
    rp.code_flow(client)
    # Voluntary acr_values (OIDC Core §3.1.2.1): no login method this member could use
    # reaches the class, so the request goes on at once — no login page to loop on — and the
    # ID token's acr says what the session has.
    resp = rp.authorize(client, acr_values=ACR_CERTIFICATE)
    assert resp.status_code in (302, 303)
    params = callback_params(resp.headers["Location"], rp.redirect_uri)
    claims = _id_claims(rp.exchange(client, params["code"]).get_json()["id_token"])
    assert claims["acr"] == ACR_PASSWORD
    # Essential (§5.5.1.1): unmet_authentication_requirements, back to the relying party.
    essential = json.dumps({"id_token": {"acr": {"essential": True,
                                                  "values": [ACR_CERTIFICATE]}}})
    resp = rp.authorize(client, claims=essential)
    assert resp.status_code in (302, 303)
    assert "error=unmet_authentication_requirements" in resp.headers["Location"]
    # A login page reached otherwise (prompt=login) explains why there is no 인증서 로그인,
    # and a valid certificate result does not raise the level.
    resp = rp.authorize(client, acr_values=ACR_CERTIFICATE, prompt="login")
    login = _local(resp.headers["Location"])
    page = text(client.get(login))
    assert 'id="member-certificate-login"' not in page
    if affiliation:
        assert 'id="member-certificate-refused"' in page
        assert "승인 비밀번호로 등록하신 회원은 인증서 로그인을 할 수 없어" in page
    uid = login.split("/interaction/")[1].split("?")[0]
    assert client.get(f"/interaction/{uid}/certificate").status_code == 303
    cr = give_certificate(app, client, "login", KOTRA)
    resp = client.get(f"/interaction/{uid}/certificate/done", query_string={"cr": cr})
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    assert "code=" not in resp.headers["Location"]


def test_a_person_locked_during_signup_stays_locked_in_my_kotra(app: Any, client: Any,
                                                                hour: Any) -> None:
    from tests.web.test_signup_web import NEW_PASSWORD

    add_company(app)
    fid = _signup_to_company_tab(app, client)
    _tab_post(client, fid, decision="search", business_number=KOTRA)
    for _ in range(5):
        _tab_post(client, fid, decision="approval", approval_password="000009")
    assert _tab_post(client, fid, decision="complete").status_code == 303
    rp = TestRP.create(app, member=False)
    web = app.test_client()
    sign_in_my(web, rp, login_id="newmember1", password=NEW_PASSWORD)
    html = text(web.get("/my/company", query_string={"business_number": KOTRA}))
    assert 'id="approval-locked"' in html and 'id="approval_password"' not in html
    resp = try_password(web, APPROVAL, ip="127.0.0.1")
    assert resp.status_code == 429 and live_affiliation(app, "newmember1") is None


def test_pages_in_english(app: Any, rp: TestRP, hour: Any) -> None:
    add_company(app)
    web = signed_in(app, rp, "member01")
    html = text(web.get("/my/company", query_string={"business_number": KOTRA, "lang": "en"}))
    assert "Approval password" in html and "Company found" in html
    resp = try_password(web, "000001")
    html = text(web.get("/my/company", query_string={"business_number": KOTRA, "lang": "en"}))
    assert resp.status_code == 400 and "Approval password" in html
