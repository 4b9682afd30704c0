"""Request ids, structured logs and request metrics (issue 10).

`Observe` wraps the whole WSGI app (the lanes of idp/oidc/lanes.py and Flask), inside ProxyFix
so that the client address is the one our proxies forwarded:

- a request id per request: the X-Request-ID our own reverse proxy set, when there is one
  (`server.trusted_proxies` > 0) and it looks like an id (letters, digits, `.:_-`, at most 64);
  else a new random one. Never a client's header when no proxy is trusted. It is echoed in the
  response's X-Request-ID, set in `idp.services.telemetry.request_id` (so every log line of
  the request and every audit event carry it);
- one observation of `idp_http_request_duration_seconds{route, method, status}` (the route's
  template: Flask's url_rule, or the lane's path; "unmatched" for anything else);
- one access log line (logger `idp.access`) with method, path, status, duration_ms, ip.

`configure_logging` sets the format of every line: JSON (one object per line) or text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from multiprocessing import util as multiprocessing_util
from typing import Any

from idp.services import telemetry

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
ROUTE_KEY = "idp.route"
UNMATCHED = "unmatched"

access_log = logging.getLogger("idp.access")


class _RandomPool(threading.local):
    """os.urandom 256 request ids at a time: one system call per 256 requests, not one each."""

    data = b""
    at = 0


_pool = _RandomPool()
os.register_at_fork(after_in_child=lambda: setattr(_pool, "data", b""))  # no shared ids


def new_request_id() -> str:
    pool = _pool
    if pool.at >= len(pool.data):
        pool.data, pool.at = os.urandom(12 * 256), 0
    pool.at += 12
    return pool.data[pool.at - 12:pool.at].hex()


def sane_request_id(value: str | None) -> str | None:
    """`value` when it can be logged and stored as is, else None."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


# A response body of at most this many bytes (by its Content-Length) is handed to the server
# as one bytes object: granian sends a list's bytes in one call (response_bytes), but walks
# any other iterable chunk by chunk (response_iter), as Flask's pages are.
BUFFER_LIMIT = 256 * 1024


def _buffered(body: Iterable[bytes]) -> list[bytes]:
    """The whole body, read now; the iterable is closed as PEP 3333 requires."""
    try:
        return [b"".join(body)]
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


class Observe:
    def __init__(self, inner: Callable[..., Iterable[bytes]], *, trust_request_id: bool,
                 metrics: Any | None, lane_paths: Iterable[str] = (),
                 documents: Iterable[str] = ()) -> None:
        self._inner = inner
        self._trust = trust_request_id
        self._metrics = metrics
        self._lanes = frozenset(lane_paths)
        self._documents = frozenset(documents)

    def _document(self, environ: dict[str, Any], start_response: Callable[..., Any]
                  ) -> Iterable[bytes]:
        """GET of discovery or the JWKS: the same bytes for everyone from memory, some 30 µs
        of CPU. Timed and counted only: no request id, and an access log line only when it
        is not a 200 (an outage of the JWKS)."""
        start = time.perf_counter()
        status = ["500"]

        def starting(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = code[:3]
            return start_response(code, headers, exc_info)

        try:
            return self._inner(environ, starting)
        finally:
            seconds = time.perf_counter() - start
            if self._metrics is not None:
                self._metrics.observe(environ["PATH_INFO"], "GET", status[0], seconds)
            if status[0] != "200":
                self._log(environ, status[0], seconds)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self._documents and environ.get("REQUEST_METHOD") == "GET":
            return self._document(environ, start_response)
        start = time.perf_counter()
        rid = (sane_request_id(environ.get("HTTP_X_REQUEST_ID")) if self._trust else None) \
            or new_request_id()
        environ["idp.request_id"] = rid
        status = ["500"]
        length = [BUFFER_LIMIT + 1]

        def starting(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = code[:3]
            for name, value in headers:
                if name.lower() == "content-length" and value.isdigit():
                    length[0] = int(value)
            headers.append((REQUEST_ID_HEADER, rid))
            return start_response(code, headers, exc_info)

        token = telemetry.request_id.set(rid)
        try:
            body = self._inner(environ, starting)
            if isinstance(body, list) or length[0] > BUFFER_LIMIT:
                return body
            return _buffered(body)
        finally:
            self._done(environ, status[0], time.perf_counter() - start)
            telemetry.request_id.reset(token)

    def _done(self, environ: dict[str, Any], status: str, seconds: float) -> None:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if self._metrics is not None:
            route = environ.get(ROUTE_KEY) or (path if path in self._lanes else UNMATCHED)
            self._metrics.observe(route, method, status, seconds)
        self._log(environ, status, seconds)

    @staticmethod
    def _log(environ: dict[str, Any], status: str, seconds: float) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        fields = {"method": method, "path": path, "status": int(status),
                  "duration_ms": round(seconds * 1000, 2), "ip": environ.get("REMOTE_ADDR")}
        handler = _sole_json_handler()
        if handler is not None and _write_line(handler, fields):
            return
        # makeRecord + handle: logger.info would also walk the stack for the caller's file
        # and line (a third of the line's cost), which an access log line does not show.
        record = access_log.makeRecord(
            access_log.name, logging.INFO, "idp/observability.py", 0, "%s %s %s",
            (method, path, status), None, extra=fields)
        access_log.handle(record)


def _sole_json_handler() -> JsonLinesHandler | None:
    """The JSON handler of `configure_logging` when an access log line would reach it and
    nothing else: no handler or filter on the way up from `idp.access`, none but ours on the
    root logger. Looked at per line, so a handler added later (a test's caplog, an operator's
    own logging set-up) gets every line the standard way."""
    logger: logging.Logger | None = access_log
    while logger is not None and logger is not logging.root:
        if logger.handlers or logger.filters or not logger.propagate:
            return None
        logger = logger.parent
    root = logging.root
    if root.filters or len(root.handlers) != 1:
        return None
    handler = root.handlers[0]
    if not getattr(handler, "_idp", False) or handler.filters or handler.level > logging.INFO \
            or type(handler.formatter) is not JsonFormatter \
            or not isinstance(handler, JsonLinesHandler):
        return None
    return handler


def _write_line(handler: JsonLinesHandler, fields: dict[str, Any]) -> bool:
    """An access log line written as `handler` would write its record (issue 10: the record,
    its factory, the filters and the handlers' walk cost a third of a userinfo request);
    False when it could not be, and the standard way then reports the failure."""
    formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
    message = f"{fields['method']} {fields['path']} {fields['status']}"
    try:
        now = time.time()
        line = formatter.line(now, int((now - int(now)) * 1000), "INFO", access_log.name,
                              message, telemetry.request_id.get(), fields)
        handler.write_line(line)
    except Exception:
        return False
    return True


# At most this much of held access lines per process before they are written anyway.
HELD_BYTES_LIMIT = 64 * 1024
_holding_handlers: weakref.WeakSet[JsonLinesHandler] = weakref.WeakSet()


class JsonLinesHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our JSON handler: records are written as StreamHandler writes them, and the access
    log's lines (`write_line`) are held for up to `flush_seconds` and written together, as
    nginx's `access_log ... flush=` does.

    Issue 10: the access log line is 12-15% of a userinfo request's server CPU under load;
    writing the lines together instead of one write and flush each takes back 0-7% of the
    request (seven alternating pairs, docs/benchmarks.md); the rest is making the line.
    Order is kept: a record (a warning, an audit line) first writes the lines held before it.
    The held lines are written at exit, also where a worker leaves through `os._exit`
    (multiprocessing's finalizers: granian's workers). What it costs: a worker killed outright
    (SIGKILL, the OOM killer) loses the access lines of its last `flush_seconds` at most; the
    audit trail is in the database and the metrics count every request. 0: each line at once.
    """

    def __init__(self, stream: Any, flush_seconds: float = 0.0) -> None:
        super().__init__(stream)
        self.flush_seconds = flush_seconds
        self._held: list[str] = []
        self._held_bytes = 0
        self._flusher_running = False  # in this process (a forked child starts its own)
        self._closed = False
        self._at_exit: multiprocessing_util.Finalize | None = None
        _holding_handlers.add(self)

    def write_line(self, line: str) -> None:
        """One access log line: held, or written at once when nothing may be held."""
        with self.lock:  # type: ignore[union-attr]
            if self.flush_seconds <= 0 or self._closed:
                self.stream.write(line + self.terminator)
                self.stream.flush()
                return
            self._held.append(line)
            self._held_bytes += len(line) + 1
            if self._held_bytes >= HELD_BYTES_LIMIT:
                self._write_held()
            if not self._flusher_running:
                self._start_flusher()

    def _write_held(self) -> None:
        """Under the lock. The list is taken first: a failed write loses it once, and the
        caller's error goes the standard way (`handleError`) without writing anything twice."""
        if not self._held:
            return
        held, self._held, self._held_bytes = self._held, [], 0
        self.stream.write(self.terminator.join(held) + self.terminator)
        self.stream.flush()

    def _start_flusher(self) -> None:
        self._flusher_running = True
        threading.Thread(target=self._flush_every, name="idp-access-log-flush",
                         daemon=True).start()
        # granian's workers (multiprocessing) leave through os._exit, which runs no atexit
        # hook (logging.shutdown flushes every handler at a normal exit) but these finalizers.
        self._at_exit = multiprocessing_util.Finalize(self, self._flush_quietly, exitpriority=0)

    def _flush_quietly(self) -> None:
        # A stream gone away (closed, a full disk): the next record reports it the standard way.
        with contextlib.suppress(Exception):
            self.flush()

    def _flush_every(self) -> None:
        while not self._closed:
            time.sleep(self.flush_seconds)
            self._flush_quietly()

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle holds the lock: the lines held before this record come first.
        try:
            self._write_held()
        except Exception:
            self.handleError(record)
        super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.stream is not None:
                self._write_held()
        super().flush()

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._closed = True
        if self._at_exit is not None:
            self._at_exit.cancel()
        self.flush()
        super().close()

    def _forget_parents_lines(self) -> None:
        """In a forked child: the lines held are the parent's, which writes them itself."""
        self._held, self._held_bytes, self._flusher_running = [], 0, False


def _after_fork_in_child() -> None:
    for handler in list(_holding_handlers):
        handler._forget_parents_lines()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------------------------------
# Log lines

_REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "ip")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    the request's fields when the line is the access log's, and exc for a traceback."""

    # One encoder for every line (json.dumps with options builds one per call), and the
    # seconds of the timestamp formatted once per second: an access log line is written per
    # request, and these were half its cost.
    _encoder = json.JSONEncoder(ensure_ascii=False, default=str)
    _second: tuple[int, str] = (-1, "")

    def _seconds(self, created: float) -> str:
        second = int(created)
        if self._second[0] != second:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return self._second[1]

    def format(self, record: logging.LogRecord) -> str:
        fields = {field: value for field in _REQUEST_FIELDS
                  if (value := getattr(record, field, None)) is not None}
        return self.line(
            record.created, int(record.msecs), record.levelname, record.name, record.getMessage(),
            getattr(record, "request_id", None) or telemetry.request_id.get(), fields,
            self.formatException(record.exc_info) if record.exc_info else None)

    def line(self, created: float, msecs: int, level: str, logger: str, message: str,
             request_id: str | None, fields: dict[str, Any], exc: str | None = None) -> str:
        """One line; `fields` with None values are left out."""
        data: dict[str, Any] = {
            "time": f"{self._seconds(created)}.{msecs:03d}Z",
            "level": level,
            "logger": logger,
            "message": message,
            "request_id": request_id,
        }
        for field, value in fields.items():
            if value is not None:
                data[field] = value
        if exc:
            data["exc"] = exc
        return self._encoder.encode(data)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = telemetry.request_id.get() or "-"
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def log_format(settings: dict[str, Any]) -> str:
    return str(settings.get("log_format") or
               ("json" if settings.get("env", "production") == "production" else "text"))


def make_handler(settings: dict[str, Any], stream: Any = None) -> logging.Handler:
    handler: logging.StreamHandler[Any]
    if log_format(settings) == "json":
        handler = JsonLinesHandler(stream or sys.stderr,
                                   float(settings.get("access_log_flush_seconds", 0)))
        handler.setFormatter(JsonFormatter())
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.addFilter(_RequestIdFilter())  # "-" outside requests
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler._idp = True  # type: ignore[attr-defined]
    return handler


class _Factory:
    installed = False


def _stamp_request_id() -> None:
    """Every log record made during a request carries its id (as `record.request_id`), even
    when a handler formats it later or elsewhere."""
    if _Factory.installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = telemetry.request_id.get()
        return record

    logging.setLogRecordFactory(factory)
    _Factory.installed = True


def configure_logging(settings: dict[str, Any]) -> None:
    """The root logger's one handler of ours (replaced, never added twice) at `log_level`.

    Under the test suite (IDP_ENV=testing) pytest owns the handlers unless a log_format is
    set explicitly: then only levels are set.
    """
    _stamp_request_id()
    level = getattr(logging, str(settings.get("log_level", "INFO")), logging.INFO)
    logging.getLogger("idp").setLevel(level)
    access_log.setLevel(logging.INFO if settings.get("access_log", True) else logging.WARNING)
    if settings.get("env") == "testing" and not settings.get("log_format"):
        return
    # Nothing of ours shows the thread or process of a line: skip looking them up per line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_idp", False)]:
        root.removeHandler(old)
    root.addHandler(make_handler(settings))
    # Flask gives the app's logger ("idp", our package's name too) a handler of its own when
    # none is configured: every line of ours would be written twice, once as plain text.
    from flask.logging import default_handler

    logging.getLogger("idp").removeHandler(default_handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)


# ---------------------------------------------------------------------------------------------
# Multiprocess metric files (no prometheus_client import here: it picks its mode at import)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> str:
    """A fresh, empty directory for this start's metric files, in PROMETHEUS_MULTIPROC_DIR
    (set before any worker imports prometheus_client; it picks the mode at import).

    An operator's own PROMETHEUS_MULTIPROC_DIR is emptied of the last run's files (counters
    would otherwise carry on from dead processes); else a private temporary directory.
    Returns the directory; `remove_multiprocess_dir` deletes what we created.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, mode=0o700, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.unlink(os.path.join(given, name))
        return given
    path = tempfile.mkdtemp(prefix="idp-metrics-")
    os.environ[MULTIPROC_ENV] = path
    _OwnDir.path = path  # ours to delete at exit
    return path


class _OwnDir:
    path: str | None = None


def remove_multiprocess_dir() -> None:
    own = _OwnDir.path
    if own and os.environ.get(MULTIPROC_ENV) == own:
        shutil.rmtree(own, ignore_errors=True)
        _OwnDir.path = None



def start_exposition(settings: dict[str, Any]) -> Any:
    """`idp serve`: the metrics endpoint on `[metrics] bind`, in this (the main) process,
    over the workers' files; None when no bind is set. Call prepare_multiprocess_dir first."""
    bind = settings["metrics"]["bind"]
    if not bind:
        return None
    from idp.adapters.prometheus import (
        HealthCheck,
        MetricsApp,
        exposition_registry,
        start_metrics_server,
    )

    health = HealthCheck(settings["database_url"], settings["redis_url"])
    app = MetricsApp(exposition_registry(health.collect), settings["metrics"]["allow"],
                     settings["metrics"]["token"])
    return start_metrics_server(bind, app)


# ---------------------------------------------------------------------------------------------
# The app


def install(app: Any) -> None:
    """Wrap `app.wsgi_app` (after the lanes, before ProxyFix) and plug the metrics in."""
    from flask import request

    from idp.adapters.prometheus import PrometheusSink, RequestMetrics
    from idp.oidc import lanes

    settings = app.config["IDP_SETTINGS"]
    configure_logging(settings)
    metrics = RequestMetrics()
    telemetry.set_sink(PrometheusSink())
    lanes.METRICS = metrics

    def remember_route() -> None:
        rule = request.url_rule
        request.environ[ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED

    # First: before the CSRF check and the multipart refusal, which may answer at once.
    app.before_request_funcs.setdefault(None, []).insert(0, remember_route)
    app.wsgi_app = Observe(
        app.wsgi_app, trust_request_id=settings["server"]["trusted_proxies"] > 0,
        metrics=metrics, lane_paths=(*lanes.ROUTES, lanes.DISCOVERY_PATH, lanes.JWKS_PATH),
        documents=(lanes.DISCOVERY_PATH, lanes.JWKS_PATH))
