"""What the two outboxes share (idp/services/backchannel.py: logout tokens;
idp/services/mail_outbox.py: emails): how a worker claims due rows, and how a request wakes
the worker of its own process.

A row has `id`, `attempts`, `next_attempt_at` (the retry time, or the end of a claim) and
`claim`. A worker takes a row by an UPDATE that moves `next_attempt_at` past the claim's lease
only if the row is still due (PostgreSQL first skips rows another worker has locked: `FOR
UPDATE SKIP LOCKED`; SQLite ignores it, its writes are serialised and the UPDATE decides); the
winner alone sends it, and its outcome is written only while its claim still holds. A worker
that died mid-send leaves a claim that lapses after the lease.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from sqlalchemy import select, update

from idp.models.base import DbSession


def claim_due(session: DbSession, model: Any, *, now: float, lease_seconds: float,
              batch_size: int) -> list[tuple[int, str]]:
    """Claim up to `batch_size` rows of `model` due at `now`: [(row id, claim)]. Commits."""
    try:
        ids = list(session.scalars(
            select(model.id).where(model.next_attempt_at <= now)
            .order_by(model.next_attempt_at, model.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ))
        claimed = []
        for row_id in ids:
            claim = secrets.token_hex(16)
            result = session.execute(
                update(model)
                .where(model.id == row_id, model.next_attempt_at <= now)
                .values(claim=claim, attempts=model.attempts + 1,
                        next_attempt_at=now + lease_seconds)
            )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append((row_id, claim))
        session.commit()
    except Exception:
        session.rollback()
        raise
    return claimed


class Wakeup:
    """A request tells its process's worker that rows were committed (no waiting for its
    poll); the worker pauses between rounds until then or its timeout."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()
