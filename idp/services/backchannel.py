"""Back-channel logout deliveries (Back-Channel Logout 1.0 §2.5-2.8), outside any request.

Ending a session writes one outbox row per relying party to tell, in the same transaction
(`BackchannelOutbox.enqueue`). A worker (a thread of every server process, or
`idp jobs run`) claims due rows, signs a logout token, POSTs it through the
BackchannelSender port and deletes the row once delivered; a failure is recorded in the audit
trail and retried with exponential backoff until `max_attempts`. Rows stay in the database
until then, so a restart loses nothing.

Claims: a worker takes a row by an UPDATE that moves `next_attempt_at` past the claim's lease
only if the row is still due (PostgreSQL first skips rows another worker has locked:
`FOR UPDATE SKIP LOCKED`); the winner alone sends it, and its outcome is written only while
its claim still holds. So one delivery is never sent twice at once; a worker that died
mid-send leaves a claim that lapses after the lease, and the row is tried again.

Logout tokens are signed at send time, not at enqueue time: a token lives
`logout_token_ttl` (120 s) and relying parties refuse an old `iat` (§2.6 lets them; the demo
sites allow 300 s), while retries span minutes. A token signed at enqueue would expire in
the outbox during an RP's outage and every late retry would be refused. Each attempt
therefore carries a fresh `jti`; a retry follows only an attempt that was not acknowledged,
and a relying party that did act on it logs out an already-ended session, which is harmless.
No signed token is ever stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from idp.models import BackchannelLogout, OAuthClient
from idp.models.base import DbSession
from idp.services import audit, telemetry
from idp.services.outbox import Wakeup, claim_due
from idp.services.ports import BackchannelDelivery, BackchannelSender, Clock

log = logging.getLogger(__name__)

# Signs a logout token for (client, sub, sid); sid None means every session of sub (§2.4).
LogoutTokenSigner = Callable[[DbSession, OAuthClient, str, str | None], str]


@dataclass(frozen=True)
class OutboxSettings:
    max_attempts: int = 8
    retry_base: float = 5.0  # seconds before the first retry; doubles with each failure
    retry_max: float = 3600.0
    lease_seconds: float = 60.0  # a claim lapses after this (the sender's timeout is less)
    batch_size: int = 50
    max_workers: int = 4  # parallel POSTs: one hanging relying party does not delay others

    @classmethod
    def from_settings(cls, section: dict[str, Any]) -> OutboxSettings:
        return cls(
            max_attempts=int(section["max_attempts"]),
            retry_base=float(section["retry_base"]),
            retry_max=float(section["retry_max"]),
            lease_seconds=max(float(section["lease_seconds"]), 3 * float(section["timeout"])),
            max_workers=int(section["max_workers"]),
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return float(min(self.retry_max, self.retry_base * 2 ** max(0, attempts - 1)))


@dataclass
class DrainReport:
    delivered: int = 0
    retrying: int = 0
    gave_up: int = 0
    dropped: int = 0  # the client was removed or no longer has a back-channel URI

    @property
    def handled(self) -> int:
        return self.delivered + self.retrying + self.gave_up + self.dropped

    def add(self, other: DrainReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.gave_up += other.gave_up
        self.dropped += other.dropped


@dataclass(frozen=True)
class _Job:
    row_id: int
    claim: str
    client_id: str
    member_id: int | None
    sid: str | None
    attempts: int
    uri: str
    token: str | None  # None: it could not be signed (`error` says why)
    error: str | None = None


class BackchannelOutbox(Wakeup):
    """The queue of logout tokens to deliver, in the database, and how to drain it."""

    def __init__(self, sender: BackchannelSender, clock: Clock, settings: OutboxSettings):
        super().__init__()
        self.sender = sender
        self.clock = clock
        self.settings = settings

    # -- the producer side: in the transaction that ends a session ----------------------

    def enqueue(
        self, session: DbSession, *, client_ids: Iterable[str], member_id: int | None,
        sub: str, sid: str | None, reason: str,
    ) -> list[str]:
        """Queue a logout token for each client that registered a back-channel URI.

        Added to the caller's transaction; returns the client IDs queued.
        """
        wanted = sorted(set(client_ids))
        if not wanted:
            return []
        queued = list(session.scalars(
            select(OAuthClient.client_id).where(
                OAuthClient.client_id.in_(wanted),
                OAuthClient.backchannel_logout_uri.is_not(None),
            ).order_by(OAuthClient.client_id)
        ))
        now = self.clock.now()
        for client_id in queued:
            session.add(BackchannelLogout(
                client_id=client_id, member_id=member_id, sub=sub, sid=sid,
                reason=reason[:40], created_at=now, attempts=0, next_attempt_at=now,
            ))
        session.flush()
        return queued

    # -- the consumer side: the worker, outside any request -----------------------------

    def drain(self, session: DbSession, sign: LogoutTokenSigner) -> DrainReport:
        """Deliver every row due now, batch after batch (a failed row waits for its retry)."""
        report = DrainReport()
        while True:
            batch = self.deliver_due(session, sign)
            report.add(batch)
            if batch.handled == 0:
                return report

    def deliver_due(self, session: DbSession, sign: LogoutTokenSigner) -> DrainReport:
        """Claim up to one batch of due rows, send them in parallel, record the outcomes."""
        claimed = self._claim(session)
        if not claimed:
            return DrainReport()
        report = DrainReport()
        jobs = self._prepare(session, claimed, sign, report)
        session.commit()  # no transaction (and no SQLite lock) is held while we wait on RPs
        results = self._send(jobs)
        for job, result in zip(jobs, results, strict=True):
            self._record(session, job, result, report)
        session.commit()
        return report

    def _claim(self, session: DbSession) -> list[tuple[int, str]]:
        return claim_due(session, BackchannelLogout, now=self.clock.now(),
                         lease_seconds=self.settings.lease_seconds,
                         batch_size=self.settings.batch_size)

    def _prepare(self, session: DbSession, claimed: list[tuple[int, str]],
                 sign: LogoutTokenSigner, report: DrainReport) -> list[_Job]:
        claims = dict(claimed)
        rows = session.scalars(
            select(BackchannelLogout).where(BackchannelLogout.id.in_(list(claims)))
            .order_by(BackchannelLogout.id)
        ).all()
        clients = {c.client_id: c for c in session.scalars(
            select(OAuthClient).where(OAuthClient.client_id.in_({r.client_id for r in rows}))
        )}
        jobs = []
        for row in rows:
            client = clients.get(row.client_id)
            if client is None or not client.backchannel_logout_uri:
                self._finish(session, row.id, claims[row.id])
                report.dropped += 1
                continue
            token, error = None, None
            try:
                token = sign(session, client, row.sub, row.sid)
            except Exception as exc:  # noqa: BLE001 — e.g. no key for the alg: retry later
                log.exception("signing a logout token failed")
                error = f"signing failed: {type(exc).__name__}: {exc}"[:500]
            jobs.append(_Job(
                row_id=row.id, claim=claims[row.id], client_id=row.client_id,
                member_id=row.member_id, sid=row.sid, attempts=row.attempts,
                uri=client.backchannel_logout_uri, token=token, error=error,
            ))
        return jobs

    def _send(self, jobs: list[_Job]) -> list[BackchannelDelivery]:
        def one(job: _Job) -> BackchannelDelivery:
            if job.token is None:
                return BackchannelDelivery(False, None, job.error)
            try:
                return self.sender.send(job.uri, job.token)
            except Exception as exc:  # noqa: BLE001 — an adapter's bug must not lose the row
                log.exception("back-channel sender failed")
                return BackchannelDelivery(False, None, f"{type(exc).__name__}: {exc}"[:500])

        if len(jobs) <= 1:
            return [one(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(len(jobs), self.settings.max_workers)) as pool:
            return list(pool.map(one, jobs))

    def _finish(self, session: DbSession, row_id: int, claim: str) -> bool:
        result = session.execute(delete(BackchannelLogout).where(
            BackchannelLogout.id == row_id, BackchannelLogout.claim == claim))
        return getattr(result, "rowcount", 0) == 1

    def _record(self, session: DbSession, job: _Job, result: BackchannelDelivery,
                report: DrainReport) -> None:
        if result.delivered:
            self._finish(session, job.row_id, job.claim)
            report.delivered += 1
            telemetry.delivery("delivered")  # failures are counted from their audit events
            log.info("back-channel logout delivered to %s (attempt %d)", job.client_id,
                     job.attempts)
            return
        detail: dict[str, Any] = {"sid": job.sid, "attempt": job.attempts, "status": result.status,
                  "error": result.error}
        if job.attempts >= self.settings.max_attempts:
            if self._finish(session, job.row_id, job.claim):
                audit.record(session, "backchannel.gave_up", member_id=job.member_id,
                             client_id=job.client_id, **detail)
                report.gave_up += 1
            return
        retry_in = self.settings.backoff(job.attempts)
        result_row = session.execute(
            update(BackchannelLogout)
            .where(BackchannelLogout.id == job.row_id, BackchannelLogout.claim == job.claim)
            .values(claim=None, next_attempt_at=self.clock.now() + retry_in,
                    last_error=(result.error or "")[:500])
        )
        if getattr(result_row, "rowcount", 0) == 1:  # else our claim lapsed: not ours to log
            audit.record(session, "backchannel.failed", member_id=job.member_id,
                         client_id=job.client_id, retry_in=retry_in, **detail)
            report.retrying += 1
