"""The mail outbox (idp/services/mail_outbox.py): emails queued in a request's transaction and
sent by a worker — retries with backoff, giving up, claims, the worker thread, `idp jobs run`.

A recording mailer and a FakeClock make each round deterministic; the rounds are `drain_mail`
calls, except in the test of the thread itself."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from idp.adapters.clock import FakeClock
from idp.cli import main
from idp.extensions import db
from idp.mail_worker import drain_mail, start_mail_worker
from idp.models import AuditEvent, QueuedEmail
from idp.services.ports import EmailMessage, MessageNotSent


class Mailer:
    """Records what it sends; refuses while `down`."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.down = False
        self.lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        if self.down:
            raise MessageNotSent("451 try again later")
        with self.lock:
            self.sent.append(message)


@pytest.fixture()
def mailer(app: Any) -> tuple[Mailer, FakeClock]:
    p = app.extensions["idp"]
    mailer, clock = Mailer(), FakeClock()
    p.notify.mailer, p.mail.clock = mailer, clock
    return mailer, clock


def _queue(app: Any, n: int = 1) -> None:
    with app.app_context():
        for i in range(n):
            app.extensions["idp"].mail.enqueue(
                db.session, purpose="find_id", to=f"m{i}@example.com", subject="[KOTRA] 안내",
                text=f"본문 {i}")
        db.session.commit()


def _queued(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(QueuedEmail)))


def _failures(app: Any) -> list[dict[str, Any]]:
    with app.app_context():
        return [e.detail for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "find_id.email_failed").order_by(AuditEvent.id))]


def test_sent_once_then_gone(app, mailer) -> None:
    sender, _clock = mailer
    _queue(app, 3)
    report = drain_mail(app)
    assert (report.sent, report.retrying, report.gave_up) == (3, 0, 0)
    assert sorted(m.to for m in sender.sent) == ["m0@example.com", "m1@example.com",
                                                 "m2@example.com"]
    assert sender.sent[0].subject == "[KOTRA] 안내"
    assert _queued(app) == 0 and drain_mail(app).handled == 0  # nothing sent twice


def test_retried_with_backoff_then_given_up(app, mailer) -> None:
    sender, clock = mailer
    outbox = app.extensions["idp"].mail
    sender.down = True
    _queue(app)
    waits = []
    for attempt in range(1, outbox.max_attempts + 1):
        report = drain_mail(app)
        assert report.handled == 1, attempt
        assert drain_mail(app).handled == 0  # not before its retry time
        if attempt < outbox.max_attempts:
            waits.append(outbox.backoff(attempt))
            clock.advance(outbox.backoff(attempt))
    assert waits == [30.0, 60.0, 120.0, 240.0, 480.0]
    assert _queued(app) == 0 and sender.sent == []
    failures = _failures(app)
    assert [f["attempt"] for f in failures] == [1, 2, 3, 4, 5, 6]
    assert failures[-1]["gave_up"] is True and "451" in failures[-1]["error"]
    assert all("retry_in" in f for f in failures[:-1])


def test_a_claim_is_not_taken_twice_and_lapses_after_its_lease(app, mailer) -> None:
    sender, clock = mailer
    outbox = app.extensions["idp"].mail
    _queue(app)
    with app.app_context():
        first = outbox._claim(db.session)
        assert len(first) == 1
        assert outbox._claim(db.session) == []  # another worker's round finds nothing due
        clock.advance(outbox.lease_seconds + 1)  # the first worker died mid-send
        second = outbox._claim(db.session)
        assert len(second) == 1 and second[0][1] != first[0][1]
        db.session.remove()
    # The dead worker's late outcome no longer applies: the row is the new claimant's.
    assert drain_mail(app).handled == 0
    assert _queued(app) == 1


def test_rolled_back_with_the_request(app, mailer) -> None:
    with app.app_context():
        app.extensions["idp"].mail.enqueue(db.session, purpose="find_id", to="x@example.com",
                                           subject="s", text="t")
        db.session.rollback()
    assert _queued(app) == 0


def test_unknown_purpose_is_refused(app) -> None:
    with app.app_context(), pytest.raises(ValueError, match="no audit event"):
        app.extensions["idp"].mail.enqueue(db.session, purpose="newsletter", to="x@example.com",
                                           subject="s", text="t")


def test_each_purpose_has_its_failure_event_with_the_member_and_detail(app, mailer) -> None:
    from idp.services import audit
    from idp.services.mail_outbox import FAILURE_EVENTS, OTHER_FAILURE_EVENT

    assert {*FAILURE_EVENTS.values(), OTHER_FAILURE_EVENT} <= audit.EVENTS
    sender, _clock = mailer
    sender.down = True
    with app.app_context():
        mail = app.extensions["idp"].mail
        mail.enqueue(db.session, purpose="password_reset", to="a@example.com", subject="s",
                     text="t", member_id=7)
        mail.enqueue(db.session, purpose="company_decision", to="b@example.com", subject="s",
                     text="t", request_id=3, company_id=4)
        # Queued by a newer version during a rolling upgrade: still audited.
        db.session.add(QueuedEmail(purpose="newsletter", recipient="c@example.com",
                                   subject="s", body="t", created_at=0.0, attempts=0,
                                   next_attempt_at=0.0))
        db.session.commit()
    assert drain_mail(app).retrying == 3
    with app.app_context():
        rows = {e.event: (e.member_id, e.detail) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event.like("%_failed")))}
    assert rows["password_reset.notice_failed"][0] == 7
    assert rows["company.decision_notice_failed"][1]["request_id"] == 3
    assert rows["company.decision_notice_failed"][1]["company_id"] == 4
    assert rows["mail.email_failed"][1]["purpose"] == "newsletter"
    assert all(detail["attempt"] == 1 and "451" in detail["error"]
               for _member, detail in rows.values())


def test_the_worker_thread_sends_when_woken(app, mailer) -> None:
    sender, _clock = mailer
    worker = start_mail_worker(app)
    try:
        _queue(app)
        app.extensions["idp"].mail.wake()
        deadline = time.monotonic() + 10
        while not sender.sent and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [m.to for m in sender.sent] == ["m0@example.com"]
    finally:
        worker.stop(timeout=10)
    assert not worker.is_alive()


def test_jobs_run_sends_what_is_queued(app, migrated) -> None:
    _queue(app, 2)
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": migrated}
    result = CliRunner().invoke(main, ["jobs", "run", "--once", "--only", "mail", "--json"],
                                env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["mail"]["sent"] == 2 and summary["mail"]["gave_up"] == 0
    assert _queued(app) == 0
