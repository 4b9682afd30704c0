"""The thread that sends the queued emails (idp/services/mail_outbox.py) in the background of a
server process (idp/outbox_worker.py), and the one round of it that `idp jobs run` and the
tests call."""

from __future__ import annotations

from typing import Any

from idp.outbox_worker import OutboxWorker
from idp.services.mail_outbox import MailReport

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


class MailWorker(OutboxWorker):
    """Sends the queued emails in the background of a server process (a daemon thread)."""

    def __init__(self, app: Any) -> None:
        super().__init__("mail-outbox", lambda: drain_mail(app), app.extensions["idp"].mail,
                         POLL_SECONDS)


def start_mail_worker(app: Any) -> MailWorker:
    worker = MailWorker(app)
    worker.start()
    app.extensions["idp.mail_worker"] = worker
    return worker
