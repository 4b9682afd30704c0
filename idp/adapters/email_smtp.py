"""The Mailer port over SMTP (RFC 5321), with TLS: STARTTLS (RFC 3207) or implicit TLS
(RFC 8314 §3.3, port 465); login (RFC 4954) when a user name is configured.

Settings ([email] in config/default.toml): host, port, tls = "starttls" | "ssl" | "none",
username, password, from_address, reply_to, timeout, ca_file. "none" sends in clear text and
is refused in production unless the server is on a loopback address (a local relay).

Subjects and bodies are UTF-8 (RFC 2047 encoded-words in the Subject, a UTF-8 text/plain
part, an optional text/html alternative); Python's `email` package writes the MIME.

Memory (issue 10): every worker builds this adapter, few ever send. smtplib and the MIME
writer (email.headerregistry, email.policy: ~0.6 MB) are imported by the first message, and
the system CA store (~150 certificates parsed into OpenSSL: ~1-2 MB) is loaded by the first
connection; a configured ca_file is still loaded at start, so a wrong path refuses the start.
"""

from __future__ import annotations

import email.utils
import ssl
from typing import TYPE_CHECKING, Any

from idp.config import is_loopback
from idp.services.ports import EmailMessage, MessageNotSent

if TYPE_CHECKING:
    import smtplib
    from email.message import EmailMessage as MimeMessage

TLS_MODES = ("starttls", "ssl", "none")


class SmtpMailer:
    """Sends each message on its own connection (email here is rare: codes, notices)."""

    def __init__(self, *, host: str, port: int, tls: str, from_address: str,
                 username: str = "", password: str = "", reply_to: str = "",
                 timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"email.tls (IDP_EMAIL_TLS) = {tls!r}: choose one of "
                             f"{', '.join(TLS_MODES)}")
        if not from_address:
            raise ValueError("email.from_address (IDP_EMAIL_FROM_ADDRESS) is required")
        self.host, self.port, self.tls = host, port, tls
        self.from_address, self.reply_to = from_address, reply_to
        self.username, self.password = username, password
        self.timeout = timeout
        self._ssl_context = ssl_context

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The context given, else the system's default (its CA store, loaded on first use)."""
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SmtpMailer:
        section = settings["email"]
        if (section["tls"] == "none" and settings.get("env", "production") == "production"
                and not is_loopback(section["host"])):
            raise ValueError(
                "email.tls (IDP_EMAIL_TLS) = \"none\" sends mail and the SMTP password in clear "
                f"text to {section['host']!r}: refused in production; use \"starttls\" or "
                "\"ssl\" (clear text only to a relay on a loopback address)")
        context = (ssl.create_default_context(cafile=section["ca_file"])
                   if section["ca_file"] else None)  # None: the system's, on first use
        return cls(host=section["host"], port=section["port"], tls=section["tls"],
                   from_address=section["from_address"], reply_to=section["reply_to"],
                   username=section["username"], password=section["password"],
                   timeout=section["timeout"], ssl_context=context)

    def build(self, message: EmailMessage) -> MimeMessage:
        """The MIME message as it goes on the wire (UTF-8 subject and body)."""
        from email.message import EmailMessage as MimeMessage
        from email.policy import SMTP as SMTP_POLICY

        mime = MimeMessage(policy=SMTP_POLICY)
        mime["From"] = self.from_address
        mime["To"] = message.to
        if self.reply_to:
            mime["Reply-To"] = self.reply_to
        mime["Subject"] = message.subject
        mime["Date"] = email.utils.formatdate(localtime=False)
        domain = _domain(self.from_address)
        mime["Message-ID"] = email.utils.make_msgid(domain=domain or None)
        mime.set_content(message.text, charset="utf-8")
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html", charset="utf-8")
        return mime

    def _connect(self) -> smtplib.SMTP:
        import smtplib

        if self.tls == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=self.ssl_context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def send(self, message: EmailMessage) -> None:
        import smtplib

        mime = self.build(message)
        try:
            with self._connect() as smtp:
                smtp.ehlo()
                if self.tls == "starttls":
                    # A server that does not offer STARTTLS raises SMTPNotSupportedError:
                    # never fall back to clear text.
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(mime)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            # OSError covers refused connections, timeouts and TLS failures (ssl.SSLError).
            raise MessageNotSent(f"SMTP {self.host}:{self.port}: "
                                 f"{type(exc).__name__}: {exc}"[:500]) from exc
        if refused:  # some recipients refused (one recipient here: not reached)
            raise MessageNotSent(f"SMTP {self.host}:{self.port} refused {sorted(refused)}")


def _domain(address: str) -> str:
    from email.headerregistry import Address

    _name, addr = email.utils.parseaddr(address)
    try:
        return Address(addr_spec=addr).domain if addr else ""
    except (ValueError, IndexError):
        return ""
