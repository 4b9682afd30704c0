"""Issue 10: metrics, request ids and log lines for operators (in one process).

The multiprocess exposition of `idp serve` is tested in tests/integration/test_metrics_serve.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from werkzeug.test import Client

from idp.adapters.prometheus import MetricsApp, PrometheusSink, exposition_registry
from idp.config import ConfigError, load_settings
from idp.extensions import db
from idp.models import AuditEvent
from idp.observability import JsonFormatter, sane_request_id
from tests.conftest import make_app
from tests.helpers import TestRP


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_count(route: str, method: str, status: str) -> float:
    return sample("idp_http_request_duration_seconds_count", route=route, method=method,
                  status=status)


# ---------------------------------------------------------------------------------------------
# Counts move


def test_a_login_and_token_requests_are_counted(app: Any, client: Any, rp: TestRP) -> None:
    token_ok = requests_count("/token", "POST", "200")
    login_page = requests_count("/interaction/<uid>", "GET", "200")
    logins = sample("idp_logins_total", method="pwd", outcome="success")
    failures = sample("idp_logins_total", method="pwd", outcome="failure")
    code_grants = sample("idp_tokens_issued_total", grant_type="authorization_code")
    refresh_grants = sample("idp_tokens_issued_total", grant_type="refresh_token")
    events = sample("idp_audit_events_total", event="login.success")

    # One failed password first, on the same login page.
    resp = rp.authorize(client)
    location = resp.headers["Location"]
    assert rp.login(client, location, password="wrong-Password1!").status_code == 401
    resp = rp.login(client, location)
    assert resp.status_code == 303
    from tests.helpers import callback_params

    code = callback_params(resp.headers["Location"], rp.redirect_uri)["code"]
    tokens = rp.exchange(client, code).get_json()
    resp = client.post("/token", headers=rp.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 200

    assert sample("idp_logins_total", method="pwd", outcome="success") == logins + 1
    assert sample("idp_logins_total", method="pwd", outcome="failure") == failures + 1
    assert sample("idp_audit_events_total", event="login.success") == events + 1
    assert requests_count("/token", "POST", "200") == token_ok + 2
    assert requests_count("/interaction/<uid>", "GET", "200") >= login_page + 1
    assert sample("idp_tokens_issued_total", grant_type="authorization_code") == code_grants + 1
    assert sample("idp_tokens_issued_total", grant_type="refresh_token") == refresh_grants + 1
    # The route's template, never the raw path (bounded labels).
    assert not any("/interaction/" in str(s.labels.get("route")) and "<uid>" not in
                   str(s.labels.get("route"))
                   for m in REGISTRY.collect() for s in m.samples)


def test_a_refused_token_request_is_not_an_issued_token(client: Any, rp: TestRP) -> None:
    issued = sample("idp_tokens_issued_total", grant_type="refresh_token")
    refused = requests_count("/token", "POST", "400")
    resp = client.post("/token", headers=rp.auth_header(),
                       data={"grant_type": "refresh_token", "refresh_token": "nope"})
    assert resp.status_code == 400
    assert sample("idp_tokens_issued_total", grant_type="refresh_token") == issued
    assert requests_count("/token", "POST", "400") == refused + 1


def test_refresh_token_reuse_is_counted(client: Any, rp: TestRP) -> None:
    tokens = rp.tokens(client)
    reuse = sample("idp_refresh_token_reuse_total")
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert client.post("/token", headers=rp.auth_header(), data=data).status_code == 200
    assert client.post("/token", headers=rp.auth_header(), data=data).status_code == 400
    assert sample("idp_refresh_token_reuse_total") == reuse + 1


def test_unknown_paths_share_one_label(client: Any) -> None:
    before = requests_count("unmatched", "GET", "404")
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    assert requests_count("unmatched", "GET", "404") == before + 2


def test_invented_methods_share_one_label_and_one_cache_entry() -> None:
    from idp.adapters.prometheus import RequestMetrics

    metrics = RequestMetrics()
    before = requests_count("unmatched", "other", "405")
    for i in range(50):
        metrics.observe("unmatched", f"BREW{i}", "405", 0.001)
    assert requests_count("unmatched", "other", "405") == before + 50
    assert len(metrics._children) == 1


def test_security_events_map_to_their_counters() -> None:
    sink = PrometheusSink()
    locks = sample("idp_throttle_locks_total", key="ip")
    throttled = sample("idp_logins_total", method="pwd", outcome="throttled")
    simple = sample("idp_logins_total", method="simple", outcome="success")
    gave_up = sample("idp_backchannel_deliveries_total", outcome="gave_up")
    delivered = sample("idp_backchannel_deliveries_total", outcome="delivered")
    sink.event("login.locked", {"key": "ip"})
    sink.event("login.throttled", {"retry_after": 3})
    sink.event("login.success", {"method": "simple"})
    sink.event("backchannel.gave_up", {"attempt": 8})
    sink.delivery("delivered")
    assert sample("idp_throttle_locks_total", key="ip") == locks + 1
    assert sample("idp_logins_total", method="pwd", outcome="throttled") == throttled + 1
    assert sample("idp_logins_total", method="simple", outcome="success") == simple + 1
    assert sample("idp_backchannel_deliveries_total", outcome="gave_up") == gave_up + 1
    assert sample("idp_backchannel_deliveries_total", outcome="delivered") == delivered + 1


def test_a_lock_from_real_failures_is_counted(base_settings: dict[str, Any]) -> None:
    app = make_app(base_settings, throttle={"account_lock_after": 2, "account_delay_after": 5})
    try:
        rp = TestRP.create(app, login_id="lockme01")
        web = app.test_client()
        locks = sample("idp_throttle_locks_total", key="account")
        location = rp.authorize(web).headers["Location"]
        for _ in range(2):
            rp.login(web, location, password="wrong-Password1!")
        assert sample("idp_throttle_locks_total", key="account") == locks + 1
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["idp"].store.close()


# ---------------------------------------------------------------------------------------------
# The exposition refuses outsiders


def scrape(app: MetricsApp, addr: str, headers: dict[str, str] | None = None,
           path: str = "/metrics") -> Any:
    return Client(app).get(path, headers=headers or {}, environ_base={"REMOTE_ADDR": addr})


def test_metrics_are_refused_outside_the_allowed_networks() -> None:
    app = MetricsApp(exposition_registry(), ["127.0.0.0/8", "10.0.0.0/8"])
    assert scrape(app, "203.0.113.9").status_code == 403
    assert scrape(app, "192.168.1.2").status_code == 403
    assert scrape(app, "not-an-address").status_code == 403
    assert scrape(app, "").status_code == 403
    ok = scrape(app, "10.1.2.3")
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("text/plain; version=")
    assert b"idp_http_request_duration_seconds" in ok.data
    assert scrape(app, "::ffff:127.0.0.1").status_code == 200  # IPv4-mapped loopback
    assert scrape(app, "127.0.0.1", path="/other").status_code == 404


def test_metrics_need_the_bearer_token_when_one_is_set() -> None:
    app = MetricsApp(exposition_registry(), ["127.0.0.0/8"], token="s3cret-token")
    assert scrape(app, "127.0.0.1").status_code == 401
    assert scrape(app, "127.0.0.1").headers["WWW-Authenticate"].startswith("Bearer")
    assert scrape(app, "127.0.0.1", {"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(app, "127.0.0.1", {"Authorization": "Basic s3cret-token"}).status_code == 401
    assert scrape(app, "127.0.0.1", {"Authorization": "Bearer s3cret-token"}).status_code == 200
    # The network rule comes first: the token does not open it to everyone.
    assert scrape(app, "203.0.113.9",
                  {"Authorization": "Bearer s3cret-token"}).status_code == 403


def test_metrics_are_not_served_on_the_public_port(client: Any) -> None:
    assert client.get("/metrics").status_code == 404


def test_bad_metrics_and_log_settings_are_refused() -> None:
    env = {"IDP_ENV": "testing", "IDP_METRICS_ALLOW": "10.0.0.0/8,everyone",
           "IDP_LOG_FORMAT": "xml", "IDP_METRICS_BIND": "9100"}
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    text = str(info.value)
    assert "IDP_METRICS_ALLOW" in text and "IDP_LOG_FORMAT" in text
    assert "IDP_METRICS_BIND" in text


# ---------------------------------------------------------------------------------------------
# Request ids


def test_every_response_has_a_new_request_id(client: Any) -> None:
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    ids.add(client.get("/userinfo").headers["X-Request-ID"])  # a lane, refused
    ids.add(client.post("/token").headers["X-Request-ID"])
    assert len(ids) == 5
    assert all(sane_request_id(i) for i in ids)


def test_published_documents_are_counted_without_a_request_id(client: Any) -> None:
    before = requests_count("/jwks", "GET", "200")
    resp = client.get("/jwks")
    assert resp.status_code == 200 and "X-Request-ID" not in resp.headers
    assert "X-Request-ID" not in client.get("/.well-known/openid-configuration").headers
    assert requests_count("/jwks", "GET", "200") == before + 1


def test_a_client_request_id_is_not_trusted_without_a_proxy(client: Any) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": "chosen-by-client"})
    assert resp.headers["X-Request-ID"] != "chosen-by-client"


@pytest.fixture()
def proxied(base_settings: dict[str, Any]) -> Any:
    app = make_app(base_settings, server={"trusted_proxies": 1})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


@pytest.mark.parametrize("given", [
    "bad id", "x" * 65, "<script>", "id\r\nSet-Cookie: a=b", "ünïcode", "a/b", "",
])
def test_an_insane_request_id_from_the_proxy_is_replaced(proxied: Any, given: str) -> None:
    # Straight into the WSGI environ: a test client refuses to send a newline itself.
    resp = proxied.test_client().get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": given})
    got = resp.headers["X-Request-ID"]
    assert got != given and sane_request_id(got) == got


def test_the_proxy_request_id_reaches_the_audit_trail(proxied: Any) -> None:
    rp = TestRP.create(proxied, login_id="rid00001")
    web = proxied.test_client()
    location = rp.authorize(web).headers["Location"]
    # The login POST with the proxy's id.
    page = web.get(location)
    from tests.helpers import form_fields

    action, hidden = form_fields(page.get_data(as_text=True))
    resp = web.post(action, data={**hidden, "login_id": "rid00001", "password": "x-Wrong-1!"},
                    headers={"X-Request-ID": "edge-7f3a.1:2_3-4"})
    assert resp.headers["X-Request-ID"] == "edge-7f3a.1:2_3-4"
    with proxied.app_context():
        row = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "login.failure")
                                 .order_by(AuditEvent.id.desc())).first()
        assert row is not None and row.request_id == "edge-7f3a.1:2_3-4"


def test_a_made_up_request_id_reaches_the_audit_trail(client: Any, rp: TestRP) -> None:
    location = rp.authorize(client).headers["Location"]
    resp = rp.login(client, location)
    assert resp.status_code == 303
    with client.application.app_context():
        row = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "login.success")
                                 .order_by(AuditEvent.id.desc())).first()
        assert row is not None and row.request_id == resp.headers["X-Request-ID"]


def test_events_outside_requests_have_no_request_id(app: Any) -> None:
    from idp.services import audit

    with app.app_context():
        audit.record(db.session, "keys.rotated", kid="k", alg="RS256")
        db.session.commit()
        row = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert row is not None and row.event == "keys.rotated" and row.request_id is None


# ---------------------------------------------------------------------------------------------
# Log lines


def test_log_lines_are_json_with_the_request_id(client: Any, rp: TestRP,
                                                caplog: pytest.LogCaptureFixture) -> None:
    location = rp.authorize(client).headers["Location"]
    with caplog.at_level(logging.INFO, logger="idp"):
        resp = rp.login(client, location, password="wrong-Password1!")
    rid = resp.headers["X-Request-ID"]
    fmt = JsonFormatter()
    lines = [json.loads(fmt.format(r)) for r in caplog.records]
    mine = [line for line in lines if line["request_id"] == rid]
    access = [line for line in mine if line["logger"] == "idp.access"]
    assert len(access) == 1
    line = access[0]
    assert set(line) >= {"time", "level", "logger", "message", "request_id", "method", "path",
                         "status", "duration_ms", "ip"}
    assert line["method"] == "POST" and line["status"] == 401 and line["level"] == "INFO"
    assert line["path"].startswith("/interaction/") and line["ip"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("Z")
    # The audit trail's log line of the same request carries the same id.
    assert any(line["logger"] == "idp.audit" and "login.failure" in line["message"]
               for line in mine)


def test_a_log_line_is_one_line_even_with_a_traceback() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        record = logging.LogRecord("idp.x", logging.ERROR, __file__, 1, "failed: %s",
                                   ("a\nb",), sys.exc_info())
    out = JsonFormatter().format(record)
    assert "\n" not in out
    data = json.loads(out)
    assert data["message"] == "failed: a\nb" and "ValueError" in data["exc"]
    assert data["request_id"] is None


@contextmanager
def json_root() -> Iterator[io.StringIO]:
    """The root logger as `configure_logging` leaves it in production: our JSON handler alone
    (on a string buffer here); pytest's own handlers and the levels put back afterwards."""
    from idp.observability import access_log, make_handler

    root = logging.getLogger()
    saved = root.handlers[:], root.level, access_log.level
    stream = io.StringIO()
    root.handlers[:] = [make_handler({"log_format": "json"}, stream)]
    root.setLevel(logging.INFO)
    access_log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.handlers[:], level, access_level = saved
        root.setLevel(level)
        access_log.setLevel(access_level)


@pytest.mark.parametrize("environ", [
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/userinfo", "REMOTE_ADDR": "10.0.0.1"},
    {"REQUEST_METHOD": "POST", "PATH_INFO": '/a "b"\\c/회원\n', "REMOTE_ADDR": None},
])
def test_an_access_line_is_the_line_its_record_makes(environ: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The access log writes its line straight to our handler's stream when nothing else
    would see it: byte for byte the line of the standard way (the time aside)."""
    from idp import observability
    from idp.observability import Observe, _sole_json_handler

    with json_root() as stream:
        assert _sole_json_handler() is not None
        Observe._log(environ, "404", 0.012345)
        monkeypatch.setattr(observability, "_sole_json_handler", lambda: None)
        Observe._log(environ, "404", 0.012345)
    fast, slow = stream.getvalue().splitlines()
    assert fast.partition('"level"')[2] == slow.partition('"level"')[2]
    assert json.loads(fast)["path"] == environ["PATH_INFO"]
    assert abs(_seconds(json.loads(fast)["time"]) - _seconds(json.loads(slow)["time"])) < 2


def _seconds(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_handler_added_later_gets_every_access_line() -> None:
    from idp.observability import Observe, _sole_json_handler

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logging.getLogger("idp").addHandler(keep)
    try:
        with json_root() as stream:
            assert _sole_json_handler() is None
            Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/x"}, "200", 0.001)
    finally:
        logging.getLogger("idp").removeHandler(keep)
    assert [r.getMessage() for r in seen] == ["GET /x 200"]
    assert len(stream.getvalue().splitlines()) == 1  # and our handler once, as before


def _held_root(stream: Any, flush_seconds: float) -> Any:
    from idp.observability import access_log, make_handler

    handler = make_handler({"log_format": "json", "access_log_flush_seconds": flush_seconds},
                           stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level, access_log.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    access_log.setLevel(logging.INFO)

    def restore() -> None:
        root.handlers[:], level, access_level = saved
        root.setLevel(level)
        access_log.setLevel(access_level)
        handler.close()

    return handler, restore


def _paths(text: str) -> list[str]:
    return [json.loads(line).get("path") or json.loads(line)["message"]
            for line in text.splitlines()]


def test_access_lines_are_held_and_written_in_order() -> None:
    """Issue 10: a worker holds its access lines (access_log_flush_seconds) and writes them
    together; a record of any other kind writes the lines before it first, and a flush (the
    timer, the exit) writes the rest."""
    from idp.observability import Observe

    stream = io.StringIO()
    handler, restore = _held_root(stream, 3600)
    try:
        Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/a"}, "200", 0.001)
        Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/b"}, "200", 0.001)
        assert stream.getvalue() == ""  # held
        logging.getLogger("idp.audit").warning("between")
        Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/c"}, "200", 0.001)
        assert _paths(stream.getvalue()) == ["/a", "/b", "between"]
        handler.flush()
        assert _paths(stream.getvalue()) == ["/a", "/b", "between", "/c"]
    finally:
        restore()


def test_held_access_lines_are_written_by_the_timer_by_size_and_at_close() -> None:
    from idp.observability import HELD_BYTES_LIMIT, Observe

    # The timer: nobody flushes, the line appears.
    stream = io.StringIO()
    handler, restore = _held_root(stream, 0.05)
    try:
        Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/timer"}, "200", 0.001)
        deadline = time.monotonic() + 5
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _paths(stream.getvalue()) == ["/timer"]
    finally:
        restore()
    # The size: past HELD_BYTES_LIMIT the lines go without waiting; the close writes the rest.
    stream = io.StringIO()
    handler, restore = _held_root(stream, 3600)
    try:
        path = "/" + "x" * 1000
        n = 0
        while not stream.getvalue() and n < 1000:  # 1000 lines: far past the limit
            Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": path}, "200", 0.001)
            n += 1
        size = len(stream.getvalue())  # written as soon as they reach the limit
        assert size >= HELD_BYTES_LIMIT > size - len(stream.getvalue().splitlines()[-1]) - 1
        Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/last"}, "200", 0.001)
        written = len(stream.getvalue().splitlines())
        assert written == n
    finally:
        restore()
    assert _paths(stream.getvalue())[-1] == "/last" and len(stream.getvalue().splitlines()) == n + 1


def test_at_once_when_nothing_may_be_held() -> None:
    from idp.observability import Observe

    stream = io.StringIO()
    _, restore = _held_root(stream, 0)
    try:
        Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/now"}, "200", 0.001)
        assert _paths(stream.getvalue()) == ["/now"]
    finally:
        restore()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork: POSIX only")
def test_a_forked_child_does_not_write_its_parents_held_lines(tmp_path: Any) -> None:
    """granian forks its workers: the lines the parent held are the parent's to write."""
    from idp.observability import Observe

    path = tmp_path / "log"
    with open(path, "w", encoding="utf-8") as stream:
        handler, restore = _held_root(stream, 3600)
        try:
            Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/parent"}, "200", 0.001)
            pid = os.fork()
            if pid == 0:  # the child: its own line, then leave as a worker would
                try:
                    Observe._log({"REQUEST_METHOD": "GET", "PATH_INFO": "/child"}, "200", 0.001)
                    handler.flush()
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            handler.flush()
        finally:
            restore()
    assert sorted(_paths(path.read_text(encoding="utf-8"))) == ["/child", "/parent"]


def test_a_bounded_body_reaches_the_server_in_one_piece() -> None:
    """Observe hands the server a list for a body with a Content-Length up to BUFFER_LIMIT
    (granian then sends it in one call), and leaves larger or unsized bodies streaming."""
    from idp.observability import BUFFER_LIMIT, Observe

    closed: list[bool] = []

    class Body:
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks

        def __iter__(self) -> Any:
            return iter(self.chunks)

        def close(self) -> None:
            closed.append(True)

    def inner_for(chunks: list[bytes], sized: bool) -> Any:
        def inner(environ: dict[str, Any], start_response: Any) -> Any:
            headers = [("Content-Type", "text/html")]
            if sized:
                headers.append(("Content-Length", str(sum(map(len, chunks)))))
            start_response("200 OK", headers)
            return Body(chunks)
        return inner

    def call(chunks: list[bytes], sized: bool) -> Any:
        app = Observe(inner_for(chunks, sized), trust_request_id=False, metrics=None)
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/page"}
        return app(environ, lambda status, headers, exc_info=None: None)

    small = call([b"<p>", b"hello", b"</p>"], sized=True)
    assert small == [b"<p>hello</p>"] and closed == [True]  # read, and closed (PEP 3333)
    large = call([b"x" * BUFFER_LIMIT, b"y"], sized=True)
    assert isinstance(large, Body)
    unsized = call([b"a", b"b"], sized=False)
    assert isinstance(unsized, Body)
