"""Emails sent outside the request that asked for them.

아이디 찾기 by email (idp/web/find_id.py) answers with the same page whether or not the name and
address are a member's, so that nobody learns who is one. It must answer in the same time too:
sending the result inside the request made the page as slow as the mail server for a member's
address only, and the response time told what the page did not. The request now queues the
email in its own transaction (nothing is sent then; nothing is lost if the process dies) and a
worker sends it: a thread of every server process (idp/mail_worker.py), woken at once by a
request of its own process, or `idp jobs run`.

    p.mail.enqueue(session, purpose="find_id", to=address, subject=subject, text=text)
    session.commit(); p.mail.wake()

As the back-channel logout outbox (idp/services/backchannel.py), with the same claims
(idp/services/outbox.py): a worker claims due rows with a lease, sends them with no
transaction open, and records each outcome only while its claim holds, so an email is never
sent twice at once; a failure is retried with exponential backoff and audited as
"<purpose>.email_failed" (with `gave_up` after the last attempt).
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
                text: str) -> None:
        """Queue an email in the caller's transaction (commit, then `wake`)."""
        if f"{purpose}.email_failed" not in audit.EVENTS:
            raise ValueError(f"no audit event for the failures of {purpose!r} emails")
        now = self.clock.now()
        session.add(QueuedEmail(purpose=purpose, recipient=to, subject=subject, body=text,
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
        rows = [(row.id, row.purpose, row.recipient, row.subject, row.body, row.attempts)
                for row in session.scalars(select(QueuedEmail).where(
                    QueuedEmail.id.in_(list(claims))).order_by(QueuedEmail.id))]
        session.commit()  # no transaction (and no SQLite lock) is held while the server talks
        report = MailReport()
        for row_id, purpose, to, subject, body, attempts in rows:
            error = self._send(to, subject, body)
            self._record(session, row_id, claims[row_id], purpose, attempts, error, report)
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

    def _record(self, session: DbSession, row_id: int, claim: str, purpose: str,
                attempts: int, error: str | None, report: MailReport) -> None:
        ours = (QueuedEmail.id == row_id, QueuedEmail.claim == claim)
        if error is None:
            session.execute(delete(QueuedEmail).where(*ours))
            report.sent += 1
            return
        detail: dict[str, Any] = {"attempt": attempts, "error": error}
        if attempts >= self.max_attempts:
            if getattr(session.execute(delete(QueuedEmail).where(*ours)), "rowcount", 0) == 1:
                audit.record(session, f"{purpose}.email_failed", gave_up=True, **detail)
                report.gave_up += 1
            return
        retry_in = self.backoff(attempts)
        result = session.execute(update(QueuedEmail).where(*ours).values(
            claim=None, next_attempt_at=self.clock.now() + retry_in, last_error=error))
        if getattr(result, "rowcount", 0) == 1:  # else our claim lapsed: not ours to log
            audit.record(session, f"{purpose}.email_failed", retry_in=retry_in, **detail)
            report.retrying += 1
