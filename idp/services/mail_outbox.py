"""Emails sent outside the request that asked for them.

아이디 찾기 by email (idp/web/find_id.py) answers with the same page whether or not the name and
address are a member's, so that nobody learns who is one. It must answer in the same time too:
sending the result inside the request made the page as slow as the mail server for a member's
address only, and the response time told what the page did not. The request now queues the
email in its own transaction (nothing is sent then; nothing is lost if the process dies) and a
worker sends it: a thread of every server process (idp/mail_worker.py), woken at once by a
request of its own process, or `idp jobs run`.

The other emails a request sends take the same way (`FAILURE_EVENTS`): the notices of a
changed email address or password and of a password reset (idp/services/my_account.py,
password_reset.py) and an operator's decision on a company's application (company_review.py).
Sent inside the request, they held a worker (one request thread each, `[server] threads`) for
as long as the mail server took to answer, up to the SMTP adapter's timeout per operation; a
hung mail server stalled sign-ins too; and a refused notice was gone for good. Queued, each is
written in the transaction of the change it tells of (a change that rolls back tells
nobody) and retried until the mail server takes it.

The notices `idp jobs run` sends (the marketing re-confirmation, policy_jobs.py; the
inactivity notice before a simple member's deletion, sns_inactivity.py) do not come here, on
purpose: no request waits on them, they fall back to SMS, and each is recorded only once the
mail server or the SMS gateway took it. That record is the proof that the law's two-yearly
notice went out, and the deletion `notice_days` later is counted from it: it must not stand
for an email this outbox could still give up on.

    p.mail.enqueue(session, purpose="find_id", to=address, subject=subject, text=text)
    session.commit(); p.mail.wake()

As the back-channel logout outbox (idp/services/backchannel.py), with the same claims
(idp/services/outbox.py): a worker claims due rows with a lease, sends them with no
transaction open, and records each outcome only while its claim holds, so an email is never
sent twice at once; a failure is retried with exponential backoff and audited with its
purpose's event (with `gave_up` after the last attempt), the member and the detail it was
queued with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from idp.models import QueuedEmail
from idp.models.base import DbSession
from idp.services import audit
from idp.services.notify import Notifier
from idp.services.outbox import Wakeup, claim_due
from idp.services.ports import Clock

log = logging.getLogger(__name__)

# Why an email is sent -> the audit event of each failed attempt.
FAILURE_EVENTS = {
    "find_id": "find_id.email_failed",
    "member_notice": "member.notice_failed",
    "password_reset": "password_reset.notice_failed",
    "company_decision": "company.decision_notice_failed",
}
# A purpose this version does not know (queued by a newer one during a rolling upgrade).
OTHER_FAILURE_EVENT = "mail.email_failed"


@dataclass
class MailReport:
    sent: int = 0
    retrying: int = 0
    gave_up: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.gave_up

    def add(self, other: MailReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.gave_up += other.gave_up


class MailOutbox(Wakeup):
    def __init__(self, notify: Notifier, clock: Clock, *, max_attempts: int = 6,
                 retry_base: float = 30.0, retry_max: float = 3600.0,
                 lease_seconds: float = 120.0, batch_size: int = 20) -> None:
        super().__init__()
        self.notify = notify
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_max = retry_max
        # Longer than a send can take (the SMTP adapter's timeout is 10 s per operation).
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size

    # -- the producer side: in the transaction of the request -----------------------------

    def enqueue(self, session: DbSession, *, purpose: str, to: str, subject: str,
                text: str, member_id: int | None = None, **detail: Any) -> None:
        """Queue an email in the caller's transaction (commit, then `wake`). Its failures are
        audited as FAILURE_EVENTS[purpose] with `member_id` and `detail` (JSON values)."""
        if purpose not in FAILURE_EVENTS:
            raise ValueError(f"no audit event for the failures of {purpose!r} emails")
        now = self.clock.now()
        session.add(QueuedEmail(purpose=purpose, recipient=to, subject=subject, body=text,
                                member_id=member_id, detail=detail or None,
                                created_at=now, attempts=0, next_attempt_at=now))

    # -- the consumer side: the worker, outside any request -------------------------------

    def drain(self, session: DbSession) -> MailReport:
        """Send every email due now, batch after batch (a failed one waits for its retry)."""
        report = MailReport()
        while True:
            batch = self.deliver_due(session)
            report.add(batch)
            if batch.handled == 0:
                return report

    def deliver_due(self, session: DbSession) -> MailReport:
        """Claim up to one batch of due emails, send them, record the outcomes."""
        claims = dict(self._claim(session))
        if not claims:
            return MailReport()
        rows = [_Claimed(row.id, claims[row.id], row.purpose, row.recipient, row.subject,
                         row.body, row.attempts, row.member_id, dict(row.detail or {}))
                for row in session.scalars(select(QueuedEmail).where(
                    QueuedEmail.id.in_(list(claims))).order_by(QueuedEmail.id))]
        session.commit()  # no transaction (and no SQLite lock) is held while the server talks
        report = MailReport()
        for row in rows:
            error = self._send(row.to, row.subject, row.body)
            self._record(session, row, error, report)
            session.commit()
        return report

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return float(min(self.retry_max, self.retry_base * 2 ** max(0, attempts - 1)))

    def _claim(self, session: DbSession) -> list[tuple[int, str]]:
        return claim_due(session, QueuedEmail, now=self.clock.now(),
                         lease_seconds=self.lease_seconds, batch_size=self.batch_size)

    def _send(self, to: str, subject: str, body: str) -> str | None:
        """None when sent, else why not."""
        try:
            self.notify.email(to=to, subject=subject, text=body)
        except Exception as exc:  # noqa: BLE001 — MessageNotSent, or an adapter's bug: retried
            log.warning("email to the mail server failed: %s: %s", type(exc).__name__, exc)
            return f"{type(exc).__name__}: {exc}"[:500]
        return None

    def _record(self, session: DbSession, row: _Claimed, error: str | None,
                report: MailReport) -> None:
        ours = (QueuedEmail.id == row.id, QueuedEmail.claim == row.claim)
        if error is None:
            session.execute(delete(QueuedEmail).where(*ours))
            report.sent += 1
            return
        event = FAILURE_EVENTS.get(row.purpose)
        detail: dict[str, Any] = {**row.detail, "attempt": row.attempts, "error": error}
        if event is None:
            event, detail["purpose"] = OTHER_FAILURE_EVENT, row.purpose
        if row.attempts >= self.max_attempts:
            if getattr(session.execute(delete(QueuedEmail).where(*ours)), "rowcount", 0) == 1:
                audit.record(session, event, member_id=row.member_id, gave_up=True, **detail)
                report.gave_up += 1
            return
        retry_in = self.backoff(row.attempts)
        result = session.execute(update(QueuedEmail).where(*ours).values(
            claim=None, next_attempt_at=self.clock.now() + retry_in, last_error=error))
        if getattr(result, "rowcount", 0) == 1:  # else our claim lapsed: not ours to log
            audit.record(session, event, member_id=row.member_id, retry_in=retry_in, **detail)
            report.retrying += 1


@dataclass(frozen=True)
class _Claimed:
    """A queued email as the worker read it under its claim."""

    id: int
    claim: str
    purpose: str
    to: str
    subject: str
    body: str
    attempts: int
    member_id: int | None
    detail: dict[str, Any]
