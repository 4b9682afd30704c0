"""The background thread of each outbox in every server process (`idp jobs run` runs the same
rounds): logout tokens (idp/oidc/logout.BackchannelWorker) and emails
(idp/mail_worker.MailWorker)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from idp.services.outbox import Wakeup

log = logging.getLogger(__name__)


class OutboxWorker(threading.Thread):
    """A daemon thread that runs `drain` round after round: at once when a request of this
    process wakes `outbox`, else every `poll_seconds` (rows another process queued). A
    database that is down only delays it: the rows wait, and after failures the pause grows
    up to a minute."""

    def __init__(self, name: str, drain: Callable[[], object], outbox: Wakeup,
                 poll_seconds: float) -> None:
        super().__init__(name=name, daemon=True)
        self._drain = drain
        self._outbox = outbox
        self._poll = poll_seconds
        self._stopping = threading.Event()

    def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self._drain()
                failures = 0
            except Exception:  # noqa: BLE001 — keep the worker alive; the rows stay queued
                failures += 1
                log.exception("%s worker: round failed", self.name)
            self._outbox.wait(min(60.0, self._poll * 2 ** min(failures, 6)))

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self._outbox.wake()
        self.join(timeout)
