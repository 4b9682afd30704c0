"""The thread that sends the queued emails (idp/services/mail_outbox.py) in the background of a
server process, and the one round of it that `idp jobs run` and the tests call."""

from __future__ import annotations

import logging
import threading
from typing import Any

from idp.services.mail_outbox import MailReport

log = logging.getLogger(__name__)

# Seconds between rounds when nothing wakes the worker: emails queued by another process.
POLL_SECONDS = 5.0


def drain_mail(app: Any) -> MailReport:
    """Send every queued email due now."""
    from idp.extensions import db

    with app.app_context():
        try:
            return app.extensions["idp"].mail.drain(db.session)
        finally:
            db.session.remove()


class MailWorker(threading.Thread):
    """A daemon thread: wakes at once for emails queued in this process and every
    POLL_SECONDS for the rest; a database that is down only delays it (the rows wait)."""

    def __init__(self, app: Any) -> None:
        super().__init__(name="mail-outbox", daemon=True)
        self._app = app
        self._stopping = threading.Event()
        self._outbox = app.extensions["idp"].mail

    def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                drain_mail(self._app)
                failures = 0
            except Exception:  # noqa: BLE001 — keep the worker alive; the rows stay queued
                failures += 1
                log.exception("mail worker: round failed")
            # After failures (database down), back off up to a minute between rounds.
            self._outbox.wait(min(60.0, POLL_SECONDS * 2 ** min(failures, 4)))

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self._outbox.wake()
        self.join(timeout)


def start_mail_worker(app: Any) -> MailWorker:
    worker = MailWorker(app)
    worker.start()
    app.extensions["idp.mail_worker"] = worker
    return worker
