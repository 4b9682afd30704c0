"""Email and SMS to members through the Mailer and SmsSender ports (issue 6).

    provider.notify.email(to=member.email, subject="...", text="...")
    provider.notify.sms(to="01012345678", text="[KOTRA] 인증번호 123456")

Both raise MessageNotSent when the server or gateway refuses; a caller for whom the message is
the point (an SMS code) shows "잠시 후 다시 시도해 주세요"; a caller for whom it is a courtesy (a
notice after a password reset) records it in the audit trail and goes on.
"""

from __future__ import annotations

from idp.services.ports import EmailMessage, Mailer, SmsMessage, SmsSender


class Notifier:
    def __init__(self, mailer: Mailer, sms: SmsSender) -> None:
        self.mailer = mailer
        self.sms_sender = sms

    def email(self, *, to: str, subject: str, text: str, html: str | None = None) -> None:
        self.mailer.send(EmailMessage(to=to, subject=subject, text=text, html=html))

    def sms(self, *, to: str, text: str) -> None:
        self.sms_sender.send(SmsMessage(to=to, text=text))
