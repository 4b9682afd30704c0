"""Which exceptions mean "a dependency is down" (the database or the session store).

An outage is not a bug: the request is answered 503 with Retry-After (a page, or JSON on the
protocol endpoints), never 500, and the transaction is rolled back so that nothing is half
written. The pool discards the broken connections, so the first request after the dependency
is back succeeds. The mapping to responses lives at the edges (idp/web/unavailable.py, the
Flask error handler registered in idp/__init__.py, for pages and /authorize; idp/oidc/lanes.py
for the protocol endpoints and the JWKS); the classification lives here, once.

No Flask here: the classification is pure and usable from services and the CLI.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from typing import Any, Literal

import sqlalchemy.exc

log = logging.getLogger(__name__)

Dependency = Literal["database", "store"]

# What a client is told to wait (RFC 9110 §10.2.3). Short: the measured outages recovered as
# soon as the dependency was back, and a browser user retries by hand anyway.
RETRY_AFTER_SECONDS = 5

# The exception types worth classifying: Flask's error handlers are registered for these.
# The drivers' own types are looked up only when the driver is loaded (issue 10, memory: a
# worker on SQLite without Redis never imports psycopg or redis, about 15 MB); a driver that
# was never imported raised nothing. SQLAlchemy imports psycopg when it creates the engine and
# idp.stores imports redis when it builds a RedisStore, both before the app registers its
# handlers (idp/__init__.py).
_BASE_OUTAGE_TYPES: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DBAPIError,  # OperationalError, InterfaceError, ... (classified below)
    sqlalchemy.exc.TimeoutError,  # the pool waited for a connection that never came back
    sqlite3.OperationalError,
)


def _redis_outages() -> tuple[type[Exception], ...]:
    exceptions = sys.modules.get("redis.exceptions")
    if exceptions is None:
        return ()
    return (
        exceptions.ConnectionError,  # refused, reset, Sentinel finds no master, loading
        exceptions.TimeoutError,
        exceptions.ReadOnlyError,  # a replica that has not been promoted yet (failover)
    )


def _psycopg_outages() -> tuple[type[Exception], ...]:
    psycopg = sys.modules.get("psycopg")
    return (psycopg.OperationalError,) if psycopg is not None else ()


def outage_types() -> tuple[type[Exception], ...]:
    """The exception types that may report an outage, for the drivers loaded so far."""
    return _BASE_OUTAGE_TYPES + _redis_outages() + _psycopg_outages()


# SQLite errors that are the embedded database being unavailable, not a bug (a missing table
# or a syntax error is a bug, and stays a 500).
_SQLITE_OUTAGES = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
    "attempt to write a readonly database",
    "database or disk is full",
)


def _classify_one(exc: BaseException) -> Dependency | None:
    if isinstance(exc, _redis_outages()):
        return "store"
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return "database"
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:  # SQLAlchemy recognised a disconnect
            return "database"
        return _classify_one(exc.orig) if exc.orig is not None else None
    if isinstance(exc, _psycopg_outages()):
        # Connection refused or lost (SQLSTATE class 08), too many connections (53), server
        # shutting down or statement cancelled (57), deadlock or serialization failure (40),
        # lock timeout (55P03): all "try again later".
        return "database"
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return "database" if message.startswith(_SQLITE_OUTAGES) else None
    return None


def unavailable_dependency(exc: BaseException) -> Dependency | None:
    """The dependency whose outage `exc` reports, or None when `exc` is something else.

    Follows the chain of causes and contexts: a library may wrap the driver's error in its
    own, and a clean-up (a rollback, releasing a lock in Redis) may fail in turn while the
    outage is being handled.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _classify_one(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def remove_session(session: Any) -> None:
    """End a request's database session (its app context's teardown).

    Closing rolls back what is left open. When the connection broke after the response was
    made (the database went down in between), that rollback fails: the answer already given
    stands, so the failure is logged and the broken connection, invalidated by now, is
    dropped, instead of turning a finished request into a 500.
    """
    try:
        session.remove()
    except Exception as exc:
        if unavailable_dependency(exc) is None:
            raise
        log.warning("database connection lost at the end of a request: %s", type(exc).__name__)
        session.remove()
