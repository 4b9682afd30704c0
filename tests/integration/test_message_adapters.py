"""The real email and SMS adapters against real local servers: an SMTP server (aiosmtpd) with
STARTTLS, implicit TLS and login, and an HTTP server standing in for the SMS gateway."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.adapters.email_smtp import SmtpMailer
from idp.adapters.sms_http import HttpSmsSender, message_type
from idp.services.ports import EmailMessage, MessageNotSent, SmsMessage
from tests.conftest import free_port

USER, SECRET = "mailer", "s3cret!pw"


# --- a self-signed certificate for 127.0.0.1 (made with `cryptography`) ----------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    return ctx


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


class Inbox:
    """The aiosmtpd handler: keeps every envelope, and who logged in."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and \
            auth_data.password == SECRET.encode()
        self.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok)

    def parsed(self, i: int = -1) -> Any:
        return email.message_from_bytes(self.envelopes[i].content, policy=email.policy.default)


def _controller(inbox: Inbox, **kwargs: Any) -> Controller:
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port,
                     authenticator=inbox.authenticator, **kwargs)
    ctl.start()
    return ctl


@pytest.fixture()
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    ctl = _controller(inbox, tls_context=server_context(certificate), require_starttls=True,
                      auth_required=True)
    yield inbox, ctl.port
    ctl.stop()


@pytest.fixture()
def implicit_tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    # (aiosmtpd only knows STARTTLS as TLS: the whole connection is TLS here)
    ctl = _controller(inbox, ssl_context=server_context(certificate), auth_require_tls=False)
    yield inbox, ctl.port
    ctl.stop()


@pytest.fixture()
def plain_server() -> Iterator[tuple[Inbox, int]]:
    """No TLS offered at all (and, without TLS, no login)."""
    inbox = Inbox()
    ctl = _controller(inbox)
    yield inbox, ctl.port
    ctl.stop()


def mailer(port: int, tls: str, ctx: ssl.SSLContext | None = None, **kw: Any) -> SmtpMailer:
    options: dict[str, Any] = {"username": USER, "password": SECRET, "timeout": 5.0}
    options.update(kw)
    return SmtpMailer(host="127.0.0.1", port=port, tls=tls,
                      from_address="KOTRA 통합로그인 <noreply@kotra.example>",
                      reply_to="help@kotra.example", ssl_context=ctx, **options)


MESSAGE = EmailMessage(to="hong@example.com", subject="[KOTRA] 아이디 찾기 결과 안내",
                       text="홍길동 님의 아이디는 hon***** 입니다.\n가입일자 2022-12-12 13:29:28")


def test_starttls_login_and_utf8_message_reach_the_server(starttls_server, certificate):
    inbox, port = starttls_server
    mailer(port, "starttls", client_context(certificate)).send(MESSAGE)
    assert inbox.logins == [(USER, True)]
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "noreply@kotra.example"
    assert envelope.rcpt_tos == ["hong@example.com"]
    msg = inbox.parsed()
    assert msg["Subject"] == "[KOTRA] 아이디 찾기 결과 안내"
    assert msg["From"].addresses[0].display_name == "KOTRA 통합로그인"
    assert msg["Reply-To"] == "help@kotra.example"
    assert msg["Message-ID"].endswith("@kotra.example>")
    assert msg.get_content_charset() == "utf-8"
    assert "hon*****" in msg.get_content()
    # the raw header is RFC 2047 encoded: ASCII on the wire
    raw_subject = [line for line in envelope.content.split(b"\r\n")
                   if line.startswith(b"Subject:")][0]
    assert raw_subject.isascii() and b"=?utf-8?" in raw_subject.lower()


def test_implicit_tls_with_an_html_alternative(implicit_tls_server, certificate):
    inbox, port = implicit_tls_server
    mailer(port, "ssl", client_context(certificate)).send(EmailMessage(
        to="kim@example.com", subject="안내", text="본문", html="<p>본문</p>"))
    assert inbox.logins == [(USER, True)]
    msg = inbox.parsed()
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("html",)).get_content().strip() == "<p>본문</p>"
    assert msg.get_body(("plain",)).get_content().strip() == "본문"


def test_a_certificate_nobody_vouches_for_is_refused(starttls_server):
    _inbox, port = starttls_server
    with pytest.raises(MessageNotSent, match="SSL|certificate"):
        mailer(port, "starttls", ssl.create_default_context()).send(MESSAGE)


def test_a_wrong_password_is_not_sent(starttls_server, certificate):
    inbox, port = starttls_server
    with pytest.raises(MessageNotSent):
        mailer(port, "starttls", client_context(certificate), password="wrong",
               timeout=1.0).send(MESSAGE)
    assert inbox.logins and not any(ok for _user, ok in inbox.logins)
    assert inbox.envelopes == []


def test_starttls_never_falls_back_to_clear_text(plain_server, certificate):
    inbox, port = plain_server
    with pytest.raises(MessageNotSent, match="STARTTLS"):
        mailer(port, "starttls", client_context(certificate)).send(MESSAGE)
    assert inbox.envelopes == []


def test_clear_text_to_a_local_relay_without_login(plain_server):
    inbox, port = plain_server
    mailer(port, "none", username="").send(MESSAGE)
    assert inbox.parsed()["To"] == "hong@example.com"


def test_a_closed_port_is_message_not_sent():
    with pytest.raises(MessageNotSent, match="ConnectionRefused"):
        mailer(free_port(), "starttls").send(MESSAGE)


def test_a_server_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection, never says 220
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(MessageNotSent, match="timed out|Timeout"):
            mailer(port, "starttls", timeout=0.5).send(MESSAGE)
        assert time.monotonic() - started < 3


def _settings(**email_settings: Any) -> dict[str, Any]:
    base = {"host": "mail.example.com", "port": 587, "tls": "starttls", "username": "",
            "password": "", "from_address": "KOTRA <noreply@kotra.or.kr>", "reply_to": "",
            "timeout": 10.0, "ca_file": ""}
    return {"env": email_settings.pop("env", "production"), "email": {**base, **email_settings}}


def test_clear_text_is_refused_in_production_unless_loopback():
    with pytest.raises(ValueError, match="IDP_EMAIL_TLS"):
        SmtpMailer.from_settings(_settings(tls="none"))
    assert SmtpMailer.from_settings(_settings(tls="none", host="127.0.0.1")).tls == "none"
    assert SmtpMailer.from_settings(_settings(tls="none", env="development")).tls == "none"
    assert SmtpMailer.from_settings(_settings()).tls == "starttls"


def test_from_settings_trusts_the_configured_ca(starttls_server, certificate):
    inbox, port = starttls_server
    mailer_ = SmtpMailer.from_settings(_settings(
        host="127.0.0.1", port=port, username=USER, password=SECRET,
        ca_file=str(certificate[0]), from_address="noreply@kotra.example"))
    mailer_.send(MESSAGE)
    assert len(inbox.envelopes) == 1


# --- the HTTP SMS gateway ---------------------------------------------------------------------

class Gateway:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        self.delay = 0.0


@pytest.fixture()
def gateway() -> Iterator[tuple[Gateway, str]]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((dict(self.headers), json.loads(body)))
            time.sleep(state.delay)
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"result": "ok"}' if state.status < 300 else b'{"error": "x"}')
            except OSError:
                pass  # the client gave up (the timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def sms_sender(url: str, **kw: Any) -> HttpSmsSender:
    options: dict[str, Any] = {"api_key": "key-123", "sender": "1544-7070", "timeout": 2.0}
    options.update(kw)
    return HttpSmsSender(url=url, **options)


def test_the_gateway_gets_the_documented_json_with_the_key(gateway):
    state, url = gateway
    sms_sender(url).send(SmsMessage(to="010-1234-5678", text="[KOTRA] 인증번호 [123456]"))
    headers, body = state.requests[0]
    assert headers["X-API-Key"] == "key-123"
    assert headers["Content-Type"].startswith("application/json")
    assert body == {"from": "15447070", "to": "01012345678", "text": "[KOTRA] 인증번호 [123456]",
                    "type": "SMS"}


def test_the_key_header_is_configurable(gateway):
    state, url = gateway
    settings = {"sms": {"url": url, "api_key": "Bearer abc", "api_key_header": "Authorization",
                        "sender": "0212345678", "timeout": 2.0}}
    HttpSmsSender.from_settings(settings).send(SmsMessage(to="01000000000", text="x"))
    assert state.requests[0][0]["Authorization"] == "Bearer abc"


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503, 302])
def test_a_non_2xx_answer_is_message_not_sent(gateway, status):
    state, url = gateway
    state.status = status
    with pytest.raises(MessageNotSent, match=str(status)):
        sms_sender(url).send(SmsMessage(to="01012345678", text="x"))


def test_202_accepted_is_sent(gateway):
    state, url = gateway
    state.status = 202
    sms_sender(url).send(SmsMessage(to="01012345678", text="x"))


def test_a_slow_gateway_times_out(gateway):
    state, url = gateway
    state.delay = 1.5
    with pytest.raises(MessageNotSent, match="Timeout"):
        sms_sender(url, timeout=0.3).send(SmsMessage(to="01012345678", text="x"))


def test_an_unreachable_gateway_or_no_url_is_message_not_sent():
    with pytest.raises(MessageNotSent):
        sms_sender(f"http://127.0.0.1:{free_port()}/sms").send(SmsMessage(to="0", text="x"))
    with pytest.raises(MessageNotSent, match="IDP_SMS_URL"):
        sms_sender("").send(SmsMessage(to="0", text="x"))


def test_long_korean_texts_go_as_lms():
    text = "[KOTRA] 아이디 찾기 인증번호는 [123456]입니다. 3분 이내에 입력해 주세요."
    assert message_type(text) == "SMS"
    assert message_type("가" * 45) == "SMS"  # 90 bytes of EUC-KR
    assert message_type("가" * 46) == "LMS"
