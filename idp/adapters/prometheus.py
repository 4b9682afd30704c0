"""Prometheus metrics (issue 10): what is counted, and the exposition operators scrape.

Every `idp serve` worker counts into prometheus_client's multiprocess files
(PROMETHEUS_MULTIPROC_DIR, a fresh directory per start made by `idp serve`, see
`idp.observability.prepare_multiprocess_dir`); the exposition, served by the `idp serve` main
process on its own address (`[metrics] bind`), adds them up across the workers. Without
that directory (a single process: tests, the CLI) the counts stay in the process.

The list of metrics and the dashboard's queries: docs/metrics.md. Labels are bounded: the
route's template (never the raw path), a known method, the status code, a known grant type.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Requests: the histogram's _count is the request counter (one observation per request).
REQUEST_SECONDS = Histogram(
    "idp_http_request_duration_seconds",
    "HTTP requests by route template, method and status: latency (and, as _count, the count)",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LOGINS = Counter("idp_logins_total", "Sign-in attempts by method and outcome",
                 ["method", "outcome"])
THROTTLE_LOCKS = Counter("idp_throttle_locks_total",
                         "Temporary locks set by login throttling, by key (account, ip)",
                         ["key"])
TOKENS_ISSUED = Counter("idp_tokens_issued_total", "Tokens issued at /token by grant type",
                        ["grant_type"])
REFRESH_REUSE = Counter("idp_refresh_token_reuse_total",
                        "Rotated refresh tokens presented again (the family is revoked)")
BACKCHANNEL = Counter("idp_backchannel_deliveries_total",
                      "Back-channel logout deliveries: delivered, failed (retried), gave_up",
                      ["outcome"])
AUDIT_EVENTS = Counter("idp_audit_events_total", "Security events of the audit trail", ["event"])

METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
_LOGIN_OUTCOMES = {"login.success": "success", "login.failure": "failure",
                   "login.throttled": "throttled"}
_DELIVERIES = {"backchannel.failed": "failed", "backchannel.gave_up": "gave_up"}


class PrometheusSink:
    """The TelemetrySink of idp/services/telemetry.py: security events become counters."""

    def event(self, name: str, detail: Mapping[str, Any]) -> None:
        AUDIT_EVENTS.labels(name).inc()
        outcome = _LOGIN_OUTCOMES.get(name)
        if outcome is not None:
            # Password sign-ins record no method on failure; other methods name theirs.
            LOGINS.labels(str(detail.get("method") or "pwd")[:20], outcome).inc()
        elif name == "login.locked":
            THROTTLE_LOCKS.labels(str(detail.get("key") or "account")[:20]).inc()
        elif name == "token.refresh_reuse":
            REFRESH_REUSE.inc()
        elif name in _DELIVERIES:
            BACKCHANNEL.labels(_DELIVERIES[name]).inc()

    def delivery(self, outcome: str) -> None:
        BACKCHANNEL.labels(outcome).inc()


class RequestMetrics:
    """One histogram observation per request; the label children are looked up once."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, str], Any] = {}

    def observe(self, route: str, method: str, status: str, seconds: float) -> None:
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            if method not in METHODS:  # any client may invent methods: one label, one entry
                method = "other"
                key = (route, method, status)
                child = self._children.get(key)
            if child is None:
                child = self._children[key] = REQUEST_SECONDS.labels(route, method, status)
        child.observe(seconds)

    @staticmethod
    def token_issued(grant_type: str | None) -> None:
        TOKENS_ISSUED.labels(grant_type if grant_type in GRANT_TYPES else "other").inc()


# ---------------------------------------------------------------------------------------------
# Multiprocess files


def exposition_registry(health: Callable[[], Iterable[Metric]] | None = None
                        ) -> CollectorRegistry:
    """What a scrape sees: every worker's files added up (multiprocess), or this process's
    own registry; plus the health of the dependencies when `health` is given."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry = CollectorRegistry()
        registry.register(_Delegate(REGISTRY.collect))
    if health is not None:
        registry.register(_Delegate(health))
    return registry


class _Delegate:
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


# ---------------------------------------------------------------------------------------------
# Health of the database and the store, checked at each scrape (in the process serving them)


class HealthCheck:
    """`idp_dependency_up{dependency}` (1/0) and the check's duration, for the database and
    the store (Redis, or the database in embedded mode), and the back-channel outbox's
    length. Each check has a short timeout: a scrape never hangs on a dead dependency."""

    TIMEOUT = 2

    def __init__(self, database_url: str, redis_url: str) -> None:
        self._database_url, self._redis_url = database_url, redis_url
        self._engine: Any = None
        self._redis: Any = None
        self._lock = threading.Lock()

    def _db_engine(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            args: dict[str, Any] = ({"timeout": self.TIMEOUT}
                                    if self._database_url.startswith("sqlite")
                                    else {"connect_timeout": self.TIMEOUT})
            self._engine = create_engine(self._database_url, poolclass=NullPool,
                                         connect_args=args)
        return self._engine

    def _check_database(self) -> tuple[int, int] | None:
        """(logout tokens, emails) waiting in the outboxes; None before the schema exists."""
        from sqlalchemy import text

        with self._db_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                row = conn.execute(text(
                    "SELECT (SELECT count(*) FROM backchannel_outbox), "
                    "(SELECT count(*) FROM mail_outbox)")).one()
                return int(row[0]), int(row[1])
            except Exception:  # noqa: BLE001 — no schema yet: the database still answers
                return None

    def _check_store(self) -> None:
        if not self._redis_url:
            return  # the store is the database (embedded mode)
        if self._redis is None:
            from idp.stores import RedisStore

            self._redis = RedisStore(self._redis_url)
        self._redis.ping()

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # one check at a time, whatever the number of scrapers
            up = GaugeMetricFamily("idp_dependency_up",
                                   "1 when the dependency answered the scrape's check",
                                   labels=["dependency"])
            took = GaugeMetricFamily("idp_dependency_check_seconds",
                                     "How long the scrape's check of the dependency took",
                                     labels=["dependency"])
            pending: tuple[int, int] | None = None
            for name, check in (("database", self._check_database),
                                ("store", self._check_store)):
                start = time.perf_counter()
                try:
                    result = check()
                    ok = 1.0
                    if name == "database":
                        pending = result
                except Exception as exc:  # noqa: BLE001 — a probe reports, never raises
                    log.warning("metrics: %s check failed: %s", name, type(exc).__name__)
                    ok = 0.0
                up.add_metric([name], ok)
                took.add_metric([name], time.perf_counter() - start)
            yield up
            yield took
            if pending is not None:
                yield GaugeMetricFamily("idp_backchannel_outbox_pending",
                                        "Back-channel logout tokens waiting for delivery",
                                        value=pending[0])
                yield GaugeMetricFamily("idp_mail_outbox_pending",
                                        "Emails waiting to be sent (idp/services/mail_outbox.py)",
                                        value=pending[1])


# ---------------------------------------------------------------------------------------------
# The exposition: its own address, allowed networks, optional bearer token


class MetricsApp:
    """WSGI app answering GET /metrics: 403 outside `allow`, 401 without the token when one
    is set, 404 for any other path."""

    def __init__(self, registry: CollectorRegistry, allow: Iterable[str], token: str = "") -> None:
        self._registry = registry
        self._allow = [ipaddress.ip_network(n, strict=False) for n in allow]
        self._token = token.encode()

    def _allowed(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._allow)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> list[bytes]:
        def answer(status: str, body: bytes, ctype: str = "text/plain; charset=utf-8",
                   extra: list[tuple[str, str]] | None = None) -> list[bytes]:
            start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                                    ("Cache-Control", "no-store"), *(extra or [])])
            return [body]

        if not self._allowed(environ.get("REMOTE_ADDR", "")):
            return answer("403 Forbidden", b"forbidden\n")
        if self._token:
            given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, b"Bearer " + self._token):
                return answer("401 Unauthorized", b"unauthorized\n",
                              extra=[("WWW-Authenticate", 'Bearer realm="metrics"')])
        if environ.get("PATH_INFO") not in ("/metrics", "/"):
            return answer("404 Not Found", b"not found\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return answer("405 Method Not Allowed", b"method not allowed\n",
                          extra=[("Allow", "GET, HEAD")])
        return answer("200 OK", generate_latest(self._registry), CONTENT_TYPE_LATEST)


def start_metrics_server(bind: str, app: MetricsApp) -> Any:
    """Serve `app` on `bind` from a daemon thread of this (the main `idp serve`) process.

    Workers forked later close their copy of the listening socket: only this process
    answers scrapes. Returns the server (its `server_port`; `shutdown()` stops it).
    """
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    class Server(WSGIServer):
        address_family = 0  # set below from the host

    import socket

    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = make_server(host, int(port), app, server_class=Server, handler_class=Quiet)
    os.register_at_fork(after_in_child=server.socket.close)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s/metrics", bind)
    return server
