"""The development outbox: email and SMS 'sent' in development and testing are rows of
`dev_messages`, listed newest first at /dev/outbox (never in production: an emulator)."""

from __future__ import annotations

from collections.abc import Callable

from idp.models.base import DbSession
from idp.models.identity import DevMessage
from idp.services.ports import EmailMessage, SmsMessage


class DevOutbox:
    """Both a Mailer and an SmsSender. Rows commit with the caller's transaction."""

    emulator = True

    def __init__(self, session: Callable[[], DbSession]) -> None:
        self._session = session

    def send(self, message: EmailMessage | SmsMessage) -> None:
        s = self._session()
        if isinstance(message, EmailMessage):
            s.add(DevMessage(channel="email", recipient=message.to, subject=message.subject,
                             body=message.text))
        else:
            s.add(DevMessage(channel="sms", recipient=message.to, subject=None,
                             body=message.text))
        s.flush()
