"""The operator console (/operator, idp/web/operator.py; issue 7): sign-in with password and
TOTP (single use, ±1 step), throttling and locks that tell nothing about IDs, its own session
(a member's gives no access; idle timeout; sign-out), CSRF, the review of registrations and
name changes with the applicants' emails, the document served to operators only, a request
decided once, the audit trail view."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.mail_worker import drain_mail
from idp.models import (
    AuditEvent,
    Company,
    CompanyNotice,
    CompanyRequest,
    Member,
    Operator,
)
from idp.models.identity import DevMessage
from idp.oidc.server import provider
from idp.services import audit
from idp.services import company_review as review
from tests.helpers import TestRP, add_test_member
from tests.operator_support import (
    PDF,
    PNG,
    TestOperator,
    csrf_of,
    make_operator,
    name_change_request,
    password_step,
    pending_registration,
    sign_in,
)


@pytest.fixture()
def operator(app: Any, clock: Any) -> TestOperator:
    # Inside one 30-second TOTP step, a few seconds from its start.
    clock.advance(30 - clock.now() % 30 + 2)
    return make_operator(app)


@pytest.fixture()
def member(app: Any) -> str:
    add_test_member(app, "member01")
    return "member01"


def events(app: Any, prefix: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.event.like(prefix + "%")).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def emails(app: Any) -> list[DevMessage]:
    """The emails sent, once the mail worker has sent what the requests queued."""
    drain_mail(app)
    with app.app_context():
        rows = list(db.session.scalars(select(DevMessage).where(DevMessage.channel == "email")
                                       .order_by(DevMessage.id)))
        db.session.expunge_all()
        return rows


def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


# --- sign-in --------------------------------------------------------------------------------


def test_password_then_totp_opens_the_console_with_its_own_cookie(app, client, clock,
                                                                   operator):
    resp = sign_in(client, operator, clock)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/operator/")
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("idp_operator="))
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
    assert not any(a.startswith("domain=") for a in attributes)  # host-only
    assert not any(a.startswith("max-age=") or a.startswith("expires=") for a in attributes)
    page = client.get("/operator/")
    assert page.status_code == 200 and "기업 신청 심사" in text(page)
    assert "운영자 (operator01)" in text(page)
    assert [e.event for e in events(app, "operator.login")] == ["operator.login"]
    with app.app_context():
        assert db.session.scalar(select(Operator.last_login_at)) is not None


def test_pages_need_an_operator_session(app, client, operator, member):
    rid = pending_registration(app)
    for path in ("/operator/", "/operator/audit", f"/operator/requests/{rid}"):
        resp = client.get(path)
        assert resp.status_code == 303 and "/operator/login" in resp.headers["Location"], path
    assert client.get(f"/operator/requests/{rid}/document").status_code == 403
    resp = client.post(f"/operator/requests/{rid}/decide",
                       data={"csrf_token": csrf_of(client), "decision": "approve"})
    assert resp.status_code == 303
    with app.app_context():
        assert db.session.get(CompanyRequest, rid).status == "pending"


def test_a_member_session_gives_no_access(app, client, operator, member):
    rid = pending_registration(app)
    rp = TestRP.create(app, member=False)
    assert "code" in rp.code_flow(client)  # the member is signed in (SSO cookie)
    assert client.get("/operator/").status_code == 303
    assert client.get(f"/operator/requests/{rid}/document").status_code == 403


def test_unknown_id_and_wrong_password_get_the_same_answer(app, client, operator):
    unknown = password_step(client, "nobody123", "Whatever!pass1")
    wrong = password_step(client, operator.login_id, "Wrong!password1")
    assert unknown.status_code == wrong.status_code == 401
    message = "아이디 또는 비밀번호가 일치하지 않습니다."
    assert message in text(unknown) and message in text(wrong)
    reasons = [e.detail["reason"] for e in events(app, "operator.login_failed")]
    assert reasons == ["unknown_id", "password"]


def test_unknown_ids_cost_one_hash_like_real_ones(app, client, operator, monkeypatch):
    p = app.extensions["idp"]
    hashed: list[str | None] = []
    verify = p.passwords.verify

    def counting(password_hash: str | None, password: str) -> bool:
        hashed.append(password_hash)
        return bool(verify(password_hash, password))

    monkeypatch.setattr(p.passwords, "verify", counting)
    password_step(client, "nobody123", "Whatever!pass1")
    password_step(client, operator.login_id, "Wrong!password1")
    assert len(hashed) == 2 and hashed[0] is None and hashed[1]


def test_a_disabled_operator_cannot_sign_in(app, client, clock, operator):
    with app.app_context():
        db.session.scalar(select(Operator)).status = "disabled"
        db.session.commit()
    resp = password_step(client, operator.login_id, operator.password)
    assert resp.status_code == 401 and "아이디 또는 비밀번호가 일치하지 않습니다." in text(resp)


def test_a_totp_code_is_accepted_once(app, client, clock, operator):
    code = operator.code(clock.now())
    assert sign_in(client, operator, clock, code=code).status_code == 303
    other = app.test_client()
    replay = sign_in(other, operator, clock, code=code)
    assert replay.status_code == 401 and "인증 코드가 올바르지 않습니다." in text(replay)
    clock.advance(30)
    assert sign_in(other, operator, clock).status_code == 303


def test_the_totp_window_is_one_step_either_side(app, client, clock, operator):
    now = clock.now()
    assert sign_in(client, operator, clock, code=operator.code(now - 60)).status_code == 401
    assert sign_in(client, operator, clock, code=operator.code(now + 60)).status_code == 401
    assert sign_in(client, operator, clock, code=operator.code(now - 30)).status_code == 303
    # An older step than the last accepted one is refused even inside the window.
    clock.advance(1)
    assert sign_in(app.test_client(), operator, clock,
                   code=operator.code(now - 30)).status_code == 401
    assert sign_in(app.test_client(), operator, clock, code=operator.code(now)).status_code == 303


def test_the_totp_step_needs_the_password_step_of_this_browser(app, client, clock, operator):
    first = password_step(client, operator.login_id, operator.password)
    stolen = app.test_client()  # another browser with the flow's link
    resp = stolen.get(first.headers["Location"])
    assert resp.status_code == 400 and "다시 입력해 주세요" in text(resp)
    clock.advance(301)  # the flow's 5 minutes are over
    assert client.get(first.headers["Location"]).status_code == 400


def test_wrong_passwords_and_codes_lock_the_account(app, client, clock, operator):
    # 5 failures (config [operators] account_lock_after), password and TOTP alike, with the
    # growing delays waited out.
    for i in range(5):
        if i % 2:
            resp = sign_in(client, operator, clock, code="000000" if operator.code(
                clock.now()) != "000000" else "111111")
        else:
            resp = password_step(client, operator.login_id, "Wrong!password1")
        assert resp.status_code == 401, (i, text(resp)[:300])
        clock.advance(20)
        clock.advance(30 - clock.now() % 30 + 2)
    locked = password_step(client, operator.login_id, operator.password)
    assert locked.status_code == 429 and "로그인 시도가 너무 많습니다" in text(locked)
    assert any(e.detail.get("locked") for e in events(app, "operator.login_failed"))
    # The lock ends after lock_seconds; then the right password and code sign in.
    clock.advance(901)
    clock.advance(30 - clock.now() % 30 + 2)
    assert sign_in(client, operator, clock).status_code == 303


def test_unknown_ids_are_throttled_like_real_ones(app, client, clock):
    for _ in range(5):
        resp = password_step(client, "ghost1234", "Wrong!password1")
        assert resp.status_code == 401
        clock.advance(20)
    assert password_step(client, "ghost1234", "Wrong!password1").status_code == 429


def test_many_failures_from_one_address_lock_the_address(app, client, clock, operator):
    for i in range(20):  # ip_lock_after, spread over accounts
        assert password_step(client, f"guess{i:04d}", "Wrong!password1").status_code == 401
    resp = password_step(client, operator.login_id, operator.password)
    assert resp.status_code == 429


def test_the_session_ends_when_idle_and_at_sign_out(app, client, clock, operator):
    sign_in(client, operator, clock)
    clock.advance(29 * 60)
    assert client.get("/operator/").status_code == 200  # use restarts the idle time
    clock.advance(29 * 60)
    assert client.get("/operator/").status_code == 200
    clock.advance(31 * 60)
    resp = client.get("/operator/")
    assert resp.status_code == 303 and "expired=1" in resp.headers["Location"]

    clock.advance(30)
    sign_in(client, operator, clock)
    cookie = client.get_cookie("idp_operator")
    assert cookie is not None
    page = client.get("/operator/")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text(page))
    assert token
    out = client.post("/operator/logout", data={"csrf_token": token.group(1)})
    assert out.status_code == 303 and "out=1" in out.headers["Location"]
    assert "로그아웃되었습니다." in text(client.get(out.headers["Location"]))
    replayed = app.test_client()
    replayed.set_cookie("idp_operator", cookie.value)  # the old handle is dead in the store
    assert replayed.get("/operator/").status_code == 303
    assert [e.event for e in events(app, "operator.logout")] == ["operator.logout"]


def test_every_post_needs_the_csrf_token(app, client, clock, operator, member):
    rid = pending_registration(app)
    no_token = client.post("/operator/login", data={"login_id": operator.login_id,
                                                     "password": operator.password})
    assert no_token.status_code == 400
    sign_in(client, operator, clock)
    resp = client.post(f"/operator/requests/{rid}/decide", data={"decision": "approve"})
    assert resp.status_code == 400
    assert client.post("/operator/logout").status_code == 400
    with app.app_context():
        assert db.session.get(CompanyRequest, rid).status == "pending"


# --- review ---------------------------------------------------------------------------------


def decide(client: Any, rid: int, decision: str, reason: str = "") -> Any:
    token = csrf_of(client, f"/operator/requests/{rid}")
    return client.post(f"/operator/requests/{rid}/decide",
                       data={"csrf_token": token, "decision": decision, "reason": reason})


def test_pending_requests_newest_first(app, client, clock, operator, member):
    first = pending_registration(app, business_number="1248100998", name="(주)먼저")
    second = name_change_request(app)
    with app.app_context():
        db.session.get(CompanyRequest, first).created_at = dt.datetime(2026, 1, 1, 0, 0)
        db.session.get(CompanyRequest, second).created_at = dt.datetime(2026, 1, 2, 0, 0)
        db.session.commit()
    sign_in(client, operator, clock)
    page = text(client.get("/operator/"))
    assert page.index("(주)한국이디에스") < page.index("(주)먼저")
    assert "기업정보 등록" in page and "기업명 변경" in page and "124-81-00998" in page
    assert "(주)먼저" not in text(client.get("/operator/?status=approved"))


def test_approving_a_registration_activates_the_company_and_tells_the_applicant(
        app, client, clock, operator, member):
    rid = pending_registration(app)
    sign_in(client, operator, clock)
    detail = text(client.get(f"/operator/requests/{rid}"))
    for shown in ("(주)새로운무역", "124-81-00998", "김대표", "서울특별시 서초구 헌릉로 13",
                  "사업자등록증.png", "member01@example.com",
                  # the registration form's labels and choices (idp/web/company_forms.py)
                  "기본주소", "대표전화번호", "기업유형", "중소기업", "제조/무역구분", "무역",
                  "벤처기업여부"):
        assert shown in detail
    raw = client.get(f"/operator/requests/{rid}").get_data(as_text=True)
    assert "<code>venture</code>" not in raw and "<code>address</code>" not in raw
    resp = decide(client, rid, "approve")
    assert resp.status_code == 303
    done = text(client.get(resp.headers["Location"]))
    assert "승인하였습니다" in done
    with app.app_context():
        req = db.session.get(CompanyRequest, rid)
        company = db.session.get(Company, req.company_id)
        assert (req.status, company.status) == ("approved", "active")
        assert req.decided_at is not None and req.reason is None
        assert req.decided_by == db.session.scalar(select(Operator.id))
        assert [n.kind for n in db.session.scalars(select(CompanyNotice))] == [
            "registration_approved"]
    [event] = events(app, "company.registration_approved")
    assert event.detail["business_number"] == "1248100998" and event.member_id is not None
    [mail] = emails(app)
    assert mail.recipient == "member01@example.com"
    assert "기업정보 등록" in mail.subject and "승인되었습니다" in mail.body


def test_the_request_shows_the_company_forms_labels_and_choices(app, client, clock, operator,
                                                                member):
    """What the registration form stored (its keys and choice values, idp/services/
    company_profile.py) is shown with the form's own labels, not as raw keys."""
    rid = pending_registration(app)
    with app.app_context():
        req = db.session.get(CompanyRequest, rid)
        company = db.session.get(Company, req.company_id)
        company.profile = {"company_type": "small", "classification": "corporation",
                           "trade_kind": "trading", "venture": False, "startup": True,
                           "export_country": "VN", "main_product": "화장품",
                           "custom_key": "그대로"}
        req.data = {"business_number": "1248100998", "name": "(주)새로운무역",
                    "name_en": "New Trade Co."}
        db.session.commit()
    sign_in(client, operator, clock)
    detail = text(client.get(f"/operator/requests/{rid}"))
    for shown in ("기업유형</dt><dd>중소기업", "기업분류</dt><dd>법인사업자",
                  "제조/무역구분</dt><dd>무역", "벤처기업여부</dt><dd>아니오",
                  "스타트업 여부</dt><dd>예", "주수출국가</dt><dd>베트남",
                  "대표품목</dt><dd>화장품",
                  "사업자등록번호</dt><dd>124-81-00998", "기업명(영문)</dt><dd>New Trade Co.",
                  "<code>custom_key</code></dt><dd>그대로"):
        assert shown in detail, shown
    for raw in ("<code>company_type</code>", "<code>business_number</code>",
                "<code>name</code>", ">small<"):
        assert raw not in detail, raw
    english = text(client.get(f"/operator/requests/{rid}?lang=en"))
    assert "Vietnam" in english


def test_rejecting_needs_a_reason_and_sends_it(app, client, clock, operator, member):
    rid = pending_registration(app)
    sign_in(client, operator, clock)
    resp = decide(client, rid, "reject", "  ")
    assert resp.status_code == 400 and "반려 사유를 입력해 주세요." in text(resp)
    with app.app_context():
        assert db.session.get(CompanyRequest, rid).status == "pending"
    resp = decide(client, rid, "reject", "사업자등록증이 흐려 확인할 수 없습니다.")
    assert resp.status_code == 303
    with app.app_context():
        req = db.session.get(CompanyRequest, rid)
        assert req.status == "rejected"
        assert req.reason == "사업자등록증이 흐려 확인할 수 없습니다."
        assert db.session.get(Company, req.company_id).status == "rejected"
    [mail] = emails(app)
    assert "반려되었습니다" in mail.body and "사업자등록증이 흐려 확인할 수 없습니다." in mail.body
    assert events(app, "company.registration_rejected")[0].detail["reason"].startswith("사업자")


def test_approving_a_name_change_renames_the_company_and_its_manager(
        app, client, clock, operator):
    rid = name_change_request(app)
    sign_in(client, operator, clock)
    detail = text(client.get(f"/operator/requests/{rid}"))
    assert "(주)한국이디에스글로벌" in detail and "KOREA EDS GLOBAL" in detail
    assert decide(client, rid, "approve", "확인 완료").status_code == 303
    with app.app_context():
        req = db.session.get(CompanyRequest, rid)
        company = db.session.get(Company, req.company_id)
        manager = db.session.scalar(select(Member).where(
            Member.managed_company_id == company.id))
        assert (company.name, company.name_en) == ("(주)한국이디에스글로벌", "KOREA EDS GLOBAL")
        assert manager.name == "(주)한국이디에스글로벌"
        assert req.status == "approved" and req.reason == "확인 완료"
        assert [n.kind for n in db.session.scalars(select(CompanyNotice))] == [
            "name_change_approved"]
    assert sorted(m.recipient for m in emails(app)) == ["info@koreaeds.example",
                                                        "manager@koreaeds.example"]
    assert all("기업명 변경" in m.subject and "승인되었습니다" in m.body for m in emails(app))
    assert len(events(app, "company.name_change_approved")) == 1


def test_rejecting_a_name_change_keeps_the_name(app, client, clock, operator):
    rid = name_change_request(app, manager_email=None)
    sign_in(client, operator, clock)
    assert decide(client, rid, "reject", "증빙이 없습니다.").status_code == 303
    with app.app_context():
        company = db.session.scalar(select(Company))
        assert company.name == "(주)한국이디에스" and company.status == "active"
        [notice] = db.session.scalars(select(CompanyNotice))
        assert notice.kind == "name_change_rejected"
        assert notice.data == {"reason": "증빙이 없습니다."}
    assert [m.recipient for m in emails(app)] == ["info@koreaeds.example"]
    assert len(events(app, "company.name_change_rejected")) == 1


def test_a_request_is_decided_once(app, client, clock, operator, member):
    rid = pending_registration(app)
    sign_in(client, operator, clock)
    assert decide(client, rid, "reject", "서류 미비").status_code == 303
    # A second operator's page was open before the decision.
    second = app.test_client()
    clock.advance(30)
    make_operator(app, "operator02", "둘째")
    second_op = TestOperator("operator02", operator.password, "", "")
    with app.app_context():
        from idp.services.operators import TOTP_SEAL_KIND

        p = app.extensions["idp"]
        row = db.session.scalar(select(Operator).where(Operator.login_id == "operator02"))
        second_op.secret = p.personal_data.open(row.totp_sealed, TOTP_SEAL_KIND)
    sign_in(second, second_op, clock)
    resp = decide(second, rid, "approve")
    assert resp.status_code == 409 and "이미 처리된 신청입니다." in text(resp)
    with app.app_context():
        req = db.session.get(CompanyRequest, rid)
        assert req.status == "rejected" and req.reason == "서류 미비"
        assert db.session.get(Company, req.company_id).status == "rejected"
    assert len(emails(app)) == 1


def test_concurrent_decisions_one_wins(app, operator, member):
    """Two transactions decide at once: the second UPDATE waits for the first (a row lock on
    PostgreSQL, the write lock on SQLite), then finds no pending row. Exactly one decision,
    no error."""
    rid = pending_registration(app)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def run(approve: bool) -> None:
        with app.app_context():
            op_id = db.session.scalar(select(Operator.id))
            barrier.wait()
            try:
                review.decide(db.session, request_id=rid, operator_id=op_id, approve=approve,
                              reason="동시 처리", mail=provider().mail)
                results.append("decided")
            except review.AlreadyDecided:
                results.append("already")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(flag,)) for flag in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["already", "decided"]
    with app.app_context():
        assert len(events(app, "company.registration_")) == 1


def test_the_document_is_served_to_operators_only(app, client, clock, operator, member):
    rid = pending_registration(app)
    pdf = pending_registration(app, business_number="1208200275", document=PDF,
                               content_type="application/pdf", filename="등록증.pdf")
    assert client.get(f"/operator/requests/{rid}/document").status_code == 403
    sign_in(client, operator, clock)
    resp = client.get(f"/operator/requests/{rid}/document")
    assert resp.status_code == 200 and resp.data == PNG
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["Content-Disposition"].startswith("inline")
    assert "filename*=UTF-8''%EC%82%AC" in resp.headers["Content-Disposition"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    resp = client.get(f"/operator/requests/{pdf}/document")
    assert resp.data == PDF and resp.headers["Content-Type"] == "application/pdf"


def test_other_document_types_are_downloads(app, client, clock, operator, member):
    rid = pending_registration(app, document=b"GIF89a...", content_type="image/gif",
                               filename="x.gif")
    sign_in(client, operator, clock)
    resp = client.get(f"/operator/requests/{rid}/document")
    assert resp.headers["Content-Disposition"].startswith("attachment")


def test_a_tampered_document_is_not_served(app, client, clock, operator, member):
    rid = pending_registration(app)
    with app.app_context():
        from idp.models import Upload

        upload = db.session.scalar(select(Upload))
        upload.sha256 = "0" * 64
        db.session.commit()
    sign_in(client, operator, clock)
    assert client.get(f"/operator/requests/{rid}/document").status_code == 404


def test_a_failed_email_does_not_undo_the_decision(app, client, clock, operator, member,
                                                   monkeypatch):
    from idp.services.ports import MessageNotSent

    rid = pending_registration(app)
    p = app.extensions["idp"]

    def refuse(**kwargs: Any) -> None:
        raise MessageNotSent("smtp down")

    monkeypatch.setattr(p.notify, "email", refuse)
    sign_in(client, operator, clock)
    assert decide(client, rid, "approve").status_code == 303
    with app.app_context():
        assert db.session.get(CompanyRequest, rid).status == "approved"
    assert events(app, "company.decision_notice_failed") == []  # queued, not sent in the request
    assert drain_mail(app).retrying == 1
    [failed] = events(app, "company.decision_notice_failed")
    assert failed.detail["request_id"] == rid and failed.detail["error"].endswith("smtp down")


# --- audit trail ----------------------------------------------------------------------------


def test_the_audit_trail_filters_and_pages(app, client, clock, operator):
    with app.app_context():
        audit.record(db.session, "company.registered", member_id=7,
                     business_number="6638501035")
        audit.record(db.session, "company.updated", member_id=8, business_number="1208200275")
        for _ in range(55):
            audit.record(db.session, "member.added", member_id=9)
        old = AuditEvent(at=dt.datetime(2020, 5, 1, 12, 0), event="member.locked",
                         member_id=10, detail={"by": "operator"})
        db.session.add(old)
        db.session.commit()
    sign_in(client, operator, clock)
    page = text(client.get("/operator/audit?event=company."))
    assert "company.registered" in page and "company.updated" in page
    assert "member.added" not in page
    page = text(client.get("/operator/audit?member=7"))
    assert "company.registered" in page and "company.updated" not in page
    page = text(client.get("/operator/audit?business_number=120-82-00275"))
    assert "company.updated" in page and "company.registered" not in page
    page = text(client.get("/operator/audit?since=2020-05-01&until=2020-05-01"))
    assert "member.locked" in page and "member.added" not in page
    first = text(client.get("/operator/audit?event=member.added"))
    assert first.count("<code>member.added</code>") == 50 and "page=2" in first
    second = text(client.get("/operator/audit?event=member.added&page=2"))
    assert second.count("<code>member.added</code>") == 5
    bad = client.get("/operator/audit?business_number=1234567890&since=yesterday")
    assert bad.status_code == 200
    assert "사업자등록번호가 올바르지 않습니다." in text(bad)
    assert "날짜는 YYYY-MM-DD" in text(bad)
    # Newest first: the operator's own sign-in is the newest event.
    unfiltered = text(client.get("/operator/audit"))
    assert unfiltered.index("operator.login") < unfiltered.index("member.added")


def test_the_console_speaks_english(app, client, clock, operator):
    sign_in(client, operator, clock)
    page = text(client.get("/operator/?lang=en"))
    assert "Company requests" in page and "Audit trail" in page
    assert "Operator sign-in" in text(app.test_client().get("/operator/login?lang=en"))


def test_rejecting_a_company_ends_a_live_affiliation(app, client, clock, operator, member):
    from idp.models import Affiliation

    rid = pending_registration(app)
    with app.app_context():
        req = db.session.get(CompanyRequest, rid)
        m = db.session.scalar(select(Member).where(Member.login_id == "member01"))
        db.session.add(Affiliation(member_id=m.id, company_id=req.company_id,
                                   method="certificate"))
        db.session.commit()
    sign_in(client, operator, clock)
    assert decide(client, rid, "reject", "확인 불가").status_code == 303
    with app.app_context():
        affiliation = db.session.scalar(select(Affiliation))
        assert affiliation.revoked_at is not None and affiliation.ended_by == "company"
    assert len(events(app, "affiliation.revoked")) == 1


def test_a_totp_key_sealed_under_another_key_refuses_without_error(app, client, clock,
                                                                   operator):
    from idp.services.personal_data import PersonalData

    with app.app_context():
        row = db.session.scalar(select(Operator))
        row.totp_sealed = PersonalData(b"another key" * 3).seal(operator.secret,
                                                                 "operator_totp")
        db.session.commit()
    assert sign_in(client, operator, clock).status_code == 401
    assert events(app, "operator.login_failed")[-1].detail["reason"] == "totp_key_unreadable"


def test_a_sealed_document_moved_to_another_upload_does_not_open(app, client, clock, operator,
                                                                 member):
    from idp.models import Upload

    first = pending_registration(app)
    second = pending_registration(app, business_number="1208200275", document=PDF,
                                  content_type="application/pdf", filename="b.pdf")
    with app.app_context():
        a, b = db.session.scalars(select(Upload).order_by(Upload.id))
        b.sealed, b.sha256, b.size = a.sealed, a.sha256, a.size  # a's blob in b's row
        db.session.commit()
    sign_in(client, operator, clock)
    assert client.get(f"/operator/requests/{first}/document").status_code == 200
    assert client.get(f"/operator/requests/{second}/document").status_code == 404
