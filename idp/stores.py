"""Short-lived server-side state: SSO sessions, interactions, throttle counters.

Two implementations of one small interface, chosen by `redis_url` in wiring.py:
`DatabaseStore` (embedded mode: a table in the main database, written inside the caller's
transaction) and `RedisStore` (scale-out mode: shared by every provider process).
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import redis
from sqlalchemy import delete, select

from idp.models import KeyValue


class Store(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None: ...

    def delete(self, key: str) -> None: ...

    def ping(self) -> bool: ...


class DatabaseStore:
    """Rows of `kv_store`; the caller's service commits them with its own changes."""

    def __init__(self, session_factory: Any) -> None:
        self._session = session_factory

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._session().get(KeyValue, key)
        if row is None or row.expires_at <= time.time():
            return None
        value: dict[str, Any] = json.loads(row.value)
        return value

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        session = self._session()
        payload = json.dumps(value, separators=(",", ":"))
        row = session.get(KeyValue, key)
        if row is None:
            session.add(KeyValue(key=key, value=payload, expires_at=time.time() + ttl))
        else:
            row.value = payload
            row.expires_at = time.time() + ttl

    def delete(self, key: str) -> None:
        session = self._session()
        row = session.get(KeyValue, key)
        if row is not None:
            session.delete(row)

    def purge_expired(self) -> int:
        session = self._session()
        result = session.execute(delete(KeyValue).where(KeyValue.expires_at <= time.time()))
        return int(getattr(result, "rowcount", 0) or 0)

    def ping(self) -> bool:
        self._session().execute(select(1))
        return True


class RedisStore:
    def __init__(self, url: str, prefix: str = "idp:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._redis.get(self._prefix + key)
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)  # type: ignore[arg-type]
        return value

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        self._redis.set(
            self._prefix + key, json.dumps(value, separators=(",", ":")), ex=max(1, int(ttl))
        )

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def ping(self) -> bool:
        return bool(self._redis.ping())
