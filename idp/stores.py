"""Short-lived server-side state: SSO sessions, interactions, throttle counters.

Two implementations of one small interface, chosen by `redis_url` in wiring.py:
`DatabaseStore` (embedded mode: a table in the main database, written inside the caller's
transaction) and `RedisStore` (scale-out mode: shared by every provider process).
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol, cast

import redis
from sqlalchemy import Table, bindparam, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idp.models import KeyValue


class Store(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None: ...

    def delete(self, key: str) -> None: ...

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Store only if absent (atomically); True when this call stored it."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None:
        """Release connections (end of a process or of a test)."""
        ...


class DatabaseStore:
    """Rows of `kv_store`, written in the caller's transaction (its service commits).

    Core statements rather than the ORM: these run several times per login.
    """

    _table = cast(Table, KeyValue.__table__)
    _select = select(_table.c.value, _table.c.expires_at).where(
        _table.c.key == bindparam("k")
    )
    _delete = sql_delete(_table).where(_table.c.key == bindparam("k"))

    def __init__(self, session_factory: Any) -> None:
        self._session = session_factory

    def _conn(self) -> Any:
        return self._session().connection()

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn().execute(self._select, {"k": key}).first()
        if row is None or row.expires_at <= time.time():
            return None
        value: dict[str, Any] = json.loads(row.value)
        return value

    @staticmethod
    def _build_upsert(insert_fn: Any, table: Table) -> Any:
        stmt = insert_fn(table)
        return stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at},
        )

    # INSERT … ON CONFLICT DO UPDATE, built once per dialect (SQLite and PostgreSQL).
    _upserts = {"sqlite": _build_upsert(sqlite_insert, _table),
                "postgresql": _build_upsert(pg_insert, _table)}

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        conn = self._conn()
        conn.execute(self._upserts[conn.dialect.name], {
            "key": key, "value": json.dumps(value, separators=(",", ":")),
            "expires_at": time.time() + ttl,
        })

    def delete(self, key: str) -> None:
        self._conn().execute(self._delete, {"k": key})

    # preserve_rowcount: SQLAlchemy keeps an INSERT's rowcount only when asked (psycopg
    # answered -1 without it, so `add` was always False on PostgreSQL).
    _inserts = {
        "sqlite": sqlite_insert(_table).on_conflict_do_nothing()
        .execution_options(preserve_rowcount=True),
        "postgresql": pg_insert(_table).on_conflict_do_nothing()
        .execution_options(preserve_rowcount=True),
    }
    _delete_expired = sql_delete(_table).where(
        _table.c.key == bindparam("k"), _table.c.expires_at <= bindparam("now")
    )

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        # A concurrent transaction holding the same key makes this INSERT wait for it, so
        # callers that add, work and delete in one transaction run one after the other.
        conn = self._conn()
        now = time.time()
        conn.execute(self._delete_expired, {"k": key, "now": now})
        result = conn.execute(self._inserts[conn.dialect.name], {
            "key": key, "value": json.dumps(value, separators=(",", ":")),
            "expires_at": now + ttl,
        })
        return bool(result.rowcount == 1)

    def purge_expired(self) -> int:
        result = self._conn().execute(
            sql_delete(self._table).where(self._table.c.expires_at <= time.time())
        )
        return int(result.rowcount or 0)

    def ping(self) -> bool:
        self._conn().execute(select(1))
        return True

    def close(self) -> None:
        pass  # the database session is closed with the app context


class RedisStore:
    def __init__(self, url: str, prefix: str = "idp:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._redis.get(self._prefix + key)
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        self._redis.set(
            self._prefix + key, json.dumps(value, separators=(",", ":")), ex=max(1, int(ttl))
        )

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        return bool(self._redis.set(self._prefix + key, json.dumps(value), ex=max(1, int(ttl)),
                                    nx=True))

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()
