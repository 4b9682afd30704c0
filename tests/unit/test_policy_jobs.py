"""`idp jobs run` policies (idp/services/policy_jobs.py): re-consent due (asked at login after
2 years, 5 for company managers), marketing-consent reconfirmation notices once per 2-year
period (정보통신망법 §50(8)), the purge; the CLI's --json summary; re-runs change nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from idp.cli import main
from idp.extensions import db
from idp.models import (
    AuditEvent,
    AuthorizationCode,
    DevMessage,
    MarketingConsent,
    MarketingNotice,
    Member,
    MemberType,
    Token,
)
from idp.services import policy_jobs as pj
from idp.services import terms
from idp.services.members import add_member
from idp.services.ports import MessageNotSent
from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, callback_params, form_fields

DAY = 86400.0
MY_URL = "http://127.0.0.1:5999/my"


def _now(clock: Any) -> dt.datetime:
    return pj.naive_utc(clock.now())


def _publish(app: Any, now: dt.datetime) -> None:
    with app.app_context():
        for kind, required in (("service", True), ("privacy", True), ("marketing", False)):
            terms.publish(db.session, kind=kind, version=1, title_ko=kind, title_en=kind,
                          body=f"{kind} 본문", required=required, now=now)
        db.session.commit()


def _member(app: Any, login_id: str, *, member_type: str = MemberType.GENERAL,
            email: str | None = "x@example.com", phone: str | None = None) -> int:
    with app.app_context():
        p = app.extensions["idp"]
        m = add_member(db.session, p.passwords, p.policy, login_id=login_id, name="정책점검",
                       email=email, password=PASSWORD, phone=phone, member_type=member_type)
        db.session.commit()
        return int(m.id)


def _consent(app: Any, member_id: int, at: dt.datetime, *, marketing: dict[str, bool]
             | None = None, agreed: dict[str, bool] | None = None) -> None:
    with app.app_context():
        terms.record_consents(
            db.session, member_id,
            agreed=agreed if agreed is not None else {"service": True, "privacy": True,
                                                      "marketing": bool(marketing)},
            marketing=marketing or {}, source="signup", now=at)
        db.session.commit()


# -- re-consent -----------------------------------------------------------------------------

def _reconsent(app: Any, clock: Any) -> dict[str, int]:
    with app.app_context():
        s = app.config["IDP_SETTINGS"]["terms"]
        return pj.reconsent_due(db.session, now=_now(clock), personal_days=s["reconsent_days"],
                                company_days=s["company_reconsent_days"])


def test_reconsent_is_due_after_two_years_for_personal_and_five_for_company(app, clock):
    start = _now(clock)
    _publish(app, start)
    personal = _member(app, "person01")
    company = _member(app, "company01", member_type=MemberType.COMPANY_MANAGER)
    _member(app, "never001")  # agreed to nothing: due at once
    for member_id in (personal, company):
        _consent(app, member_id, start)
    assert _reconsent(app, clock) == {"due": 1, "personal": 1, "company": 0, "members": 3}
    clock.advance(730 * DAY + 60)
    assert _reconsent(app, clock)["personal"] == 2 and _reconsent(app, clock)["company"] == 0
    clock.advance((1825 - 730) * DAY)
    assert _reconsent(app, clock) == {"due": 3, "personal": 2, "company": 1, "members": 3}
    _consent(app, company, _now(clock))
    assert _reconsent(app, clock)["company"] == 0


def test_reconsent_counts_nothing_without_required_terms(app, clock):
    _member(app, "person01")
    assert _reconsent(app, clock)["due"] == 0


def _login_lands_on(app: Any, rp: TestRP) -> str:
    web = app.test_client()
    resp = rp.login(web, rp.authorize(web).headers["Location"])
    assert resp.status_code == 303
    return str(resp.headers["Location"])


def test_a_company_manager_is_asked_again_after_five_years_not_two(app, clock):
    start = _now(clock)
    _publish(app, start)
    rp = TestRP.create(app, member=False)
    manager = _member(app, "manager01", member_type=MemberType.COMPANY_MANAGER)
    person = _member(app, "person01")
    for member_id in (manager, person):
        _consent(app, member_id, start)
    clock.advance(730 * DAY + 60)
    rp.login_id = "person01"
    assert _login_lands_on(app, rp).endswith("/terms")  # 2 years: the personal member
    rp.login_id = "manager01"
    assert _login_lands_on(app, rp).startswith(REDIRECT_URI)  # not yet the company manager
    clock.advance((1825 - 730) * DAY)
    step = _login_lands_on(app, rp)
    assert step.endswith("/terms")
    web = app.test_client()  # agreeing again ends the step
    location = rp.authorize(web).headers["Location"]
    step = rp.login(web, location).headers["Location"]
    page = web.get(step)
    _action, hidden = form_fields(page.get_data(as_text=True))
    done = web.post(step, data={**hidden, "decision": "agree", "agree_all": "yes"})
    final = web.get(done.headers["Location"])
    assert "code" in callback_params(final.headers["Location"], REDIRECT_URI)
    assert _reconsent(app, clock)["company"] == 0


# -- marketing notices --------------------------------------------------------------------------

def _notices(app: Any, clock: Any, notify: Any = None) -> dict[str, int]:
    with app.app_context():
        p = app.extensions["idp"]
        return pj.send_marketing_notices(db.session, notify or p.notify, now=_now(clock),
                                         period_days=730, my_url=MY_URL)


def _mail(app: Any) -> list[DevMessage]:
    with app.app_context():
        rows = db.session.query(DevMessage).order_by(DevMessage.id.desc()).all()
        db.session.expunge_all()
        return rows


def test_a_two_year_old_opt_in_gets_one_notice_per_period(app, clock):
    start = _now(clock)
    _publish(app, start)
    member = _member(app, "optin001", email="optin@example.com")
    _consent(app, member, start, marketing={"email": True, "sms": True})
    clock.advance(729 * DAY)
    assert _notices(app, clock)["due"] == 0  # not yet 2 years
    clock.advance(2 * DAY)
    assert _notices(app, clock) == {"due": 1, "sent": 1, "failed": 0, "no_address": 0,
                                    "skipped": 0}
    mail = _mail(app)
    assert len(mail) == 1 and mail[0].recipient == "optin@example.com"
    body = mail[0].body
    signed_on = (start + dt.timedelta(hours=9)).strftime("%Y-%m-%d")
    for text in ("제50조제8항", "대한무역투자진흥공사", f"이메일: {signed_on} 수신 동의",
                 f"문자메시지(SMS): {signed_on} 수신 동의", MY_URL, "철회"):
        assert text in body, text
    # Idempotent: the same period never gets a second notice.
    assert _notices(app, clock)["due"] == 0
    clock.advance(300 * DAY)
    assert _notices(app, clock)["sent"] == 0 and len(_mail(app)) == 1
    # The next 2-year period does.
    clock.advance(430 * DAY)
    assert _notices(app, clock)["sent"] == 1 and len(_mail(app)) == 2
    with app.app_context():
        periods = sorted(db.session.scalars(select(MarketingNotice.period)))
        assert periods == [1, 1, 2, 2]  # email and sms, each period


def test_opted_out_fresh_or_withdrawn_members_get_no_notice(app, clock):
    start = _now(clock)
    _publish(app, start)
    out = _member(app, "optout01")
    _consent(app, out, start, marketing={"email": True})
    renewed = _member(app, "renewed1")
    _consent(app, renewed, start, marketing={"email": True})
    gone = _member(app, "gone0001")
    _consent(app, gone, start, marketing={"email": True})
    never = _member(app, "never001")
    _consent(app, never, start, marketing={"email": False, "sms": False})
    clock.advance(400 * DAY)
    with app.app_context():
        db.session.add(MarketingConsent(member_id=out, channel="email", agreed=False,
                                        at=_now(clock), source="mykotra"))
        db.session.add(MarketingConsent(member_id=renewed, channel="email", agreed=True,
                                        at=_now(clock), source="mykotra"))
        db.session.get(Member, gone).withdrawn_at = _now(clock)
        db.session.commit()
    clock.advance(400 * DAY)
    assert _notices(app, clock)["due"] == 0  # the renewed opt-in is a year old
    assert _mail(app) == []


def test_an_sms_only_member_gets_the_notice_by_sms(app, clock):
    start = _now(clock)
    _publish(app, start)
    member = _member(app, "smsonly1", email=None, phone="01012345678")
    _consent(app, member, start, marketing={"sms": True})
    clock.advance(731 * DAY)
    assert _notices(app, clock)["sent"] == 1
    mail = _mail(app)
    assert mail[0].channel == "sms" and mail[0].recipient == "01012345678"
    assert "수신동의" in mail[0].body


def test_a_notice_that_could_not_be_sent_is_tried_again(app, clock):
    start = _now(clock)
    _publish(app, start)
    member = _member(app, "optin001")
    _consent(app, member, start, marketing={"email": True})
    clock.advance(731 * DAY)

    class Down:
        def email(self, **_: Any) -> None:
            raise MessageNotSent("smtp down")

    assert _notices(app, clock, Down())["failed"] == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MarketingNotice)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "marketing.notice_failed")) == 1
    assert _notices(app, clock)["sent"] == 1


def test_a_concurrent_run_that_already_sent_is_skipped(app, clock):
    start = _now(clock)
    _publish(app, start)
    member = _member(app, "optin001")
    _consent(app, member, start, marketing={"email": True})
    clock.advance(731 * DAY)
    with app.app_context():  # what the other run found due, before this one records it
        due = pj.due_marketing_notices(db.session, now=_now(clock), period_days=730)
        (at, period), = due[0].channels.values()
        db.session.add(MarketingNotice(member_id=member, channel="email", consent_at=at,
                                       period=period, sent_at=_now(clock), sent_by="email"))
        db.session.commit()
        original = pj.due_marketing_notices
    try:
        pj.due_marketing_notices = lambda *a, **k: due  # type: ignore[assignment]
        with app.app_context():
            due[0].member = db.session.get(Member, member)
        assert _notices(app, clock)["skipped"] == 1
    finally:
        pj.due_marketing_notices = original  # type: ignore[assignment]
    assert _mail(app) == []


# -- purge ------------------------------------------------------------------------------------

def test_purge_counts_and_is_idempotent(app, rp, client, clock):
    rp.tokens(client)
    with app.app_context():
        now = clock.now()
        db.session.add(Token(client_id=rp.client_id, scope="", access_token_hash="a" * 64,
                             family_id="f", issued_at=int(now) - 100,
                             access_expires_at=int(now) - 10))
        db.session.add(DevMessage(channel="email", recipient="a@example.com", subject="old",
                                  body="x", created_at=_now(clock) - dt.timedelta(days=8)))
        db.session.add(DevMessage(channel="email", recipient="a@example.com", subject="new",
                                  body="x", created_at=_now(clock) - dt.timedelta(days=1)))
        db.session.commit()
        p = app.extensions["idp"]
        first = pj.purge(db.session, p.store, now=now, dev_messages_days=7)
        assert first["tokens"] == 1 and first["dev_messages"] == 1
        again = pj.purge(db.session, p.store, now=now, dev_messages_days=7)
        assert again["tokens"] == 0 and again["dev_messages"] == 0
        assert db.session.scalar(select(func.count()).select_from(Token)) == 1  # the live one
        # Months later everything issued today is dead.
        later = pj.purge(db.session, p.store, now=now + 90 * DAY, dev_messages_days=7)
        assert later["tokens"] == 1 and later["dev_messages"] == 1
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0


# -- the command ------------------------------------------------------------------------------

def _cli(args: list[str], database_url: str) -> Any:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": database_url}
    return CliRunner().invoke(main, args, env=env)


def test_jobs_run_once_json_summary_and_rerun(app, migrated):
    start = terms.utcnow() - dt.timedelta(days=800)
    _publish(app, start)
    member = _member(app, "optin001")
    _consent(app, member, start, marketing={"email": True})
    result = _cli(["jobs", "run", "--once", "--json"], migrated)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert list(summary) == ["backchannel", "mail", "reconsent", "marketing_notices", "purge",
                            "sns_inactive"]
    for name, counts in summary.items():
        assert isinstance(counts["duration_ms"], float | int), name
        assert all(isinstance(v, int | float) for v in counts.values()), name
    assert summary["reconsent"]["due"] == 1  # the consent is 800 days old
    assert summary["marketing_notices"]["sent"] == 1
    assert {"tokens", "authorization_codes", "dev_messages"} <= set(summary["purge"])
    # One progress line per job (on stderr beside --json).
    progress = [line for line in result.stderr.splitlines() if line]
    assert [line.split(":")[0] for line in progress] == list(summary)
    again = json.loads(_cli(["jobs", "run", "--once", "--json"], migrated).stdout)
    assert again["marketing_notices"]["sent"] == 0 and again["marketing_notices"]["due"] == 0
    human = _cli(["jobs", "run", "--once", "--only", "reconsent"], migrated)
    assert human.exit_code == 0
    assert human.stdout.startswith("reconsent: due 1, personal 1, company 0, members 1 (")


def test_a_failing_job_is_reported_and_the_others_run(app, migrated, monkeypatch):
    def broken(*_: Any, **__: Any) -> dict[str, int]:
        raise RuntimeError("boom")

    monkeypatch.setattr(pj, "reconsent_due", broken)
    result = _cli(["jobs", "run", "--once", "--json"], migrated)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["reconsent"]["error"] == "RuntimeError: boom"
    assert "error" not in summary["purge"]


@pytest.mark.parametrize("bad", [["--only", "nope"]])
def test_jobs_run_refuses_unknown_jobs(migrated, bad):
    assert _cli(["jobs", "run", "--once", *bad], migrated).exit_code == 2
