"""Short-lived server-side state: SSO sessions, interactions, throttle counters.

One small interface, `Store`, with three implementations that pass one contract test suite
(tests/integration/test_store_contract.py):

- `DatabaseStore` (embedded mode): rows of `kv_store` and `kv_set` in the main database,
  written inside the caller's transaction (its service commits);
- `RedisStore` (scale-out mode): shared by every provider process; a plain Redis URL or a
  Sentinel URL (`redis+sentinel://…`, see `redis_client`);
- `MemoryStore`: one process, thread-safe; the complete fake the unit tests use.

Every operation that concurrent requests share is atomic in each of them, across processes:
a counter is incremented by one statement (INSERT … ON CONFLICT DO UPDATE … RETURNING, or
Redis MULTI/EXEC), a set member is added or removed by one statement (a row of `kv_set`, or
a Redis sorted set scored by expiry, updated by a Lua script) — never read, modified in
Python and written back.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import Integer, Table, Text, bindparam, case, select, text
from sqlalchemy import cast as sql_cast
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idp.models import KeyValue, KeyValueSetMember
from idp.services.ports import Clock

if TYPE_CHECKING:
    import redis


class Store(Protocol):
    """Keys hold one of three kinds of thing: a JSON object (`put`/`add`/`get`), a counter
    (`incr`/`count`) or a set of strings (`set_*`). A key is used for one kind only.

    TTLs are seconds (fractions allowed); an expired key reads as absent."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        """`get` of each key, in the keys' order, in one round trip."""
        ...

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None: ...

    def delete(self, key: str) -> None:
        """Remove whatever the key holds (an object, a counter or a set)."""
        ...

    def add(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        """Store only if absent (atomically); True when this call stored it."""
        ...

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        """Add `amount` to the counter (0 when absent or expired) atomically and return the
        new value; the counter then lives `ttl` seconds from now (each change renews it)."""
        ...

    def incr_many(self, counts: list[tuple[str, float, int]]) -> list[int]:
        """`incr(key, ttl, amount)` of each (key, ttl, amount), in one round trip; the new
        values in the same order. The keys must differ."""
        ...

    def count(self, key: str) -> int:
        """The counter's value; 0 when absent or expired."""
        ...

    def set_add(self, key: str, member: str, ttl: float) -> None:
        """Add `member` to the set (atomically); the member lives `ttl` seconds from now
        (adding it again renews it); the set lives as long as its longest-lived member."""
        ...

    def set_remove(self, key: str, member: str) -> None: ...

    def set_members(self, key: str) -> set[str]:
        """The members that have not expired (an empty set when there are none)."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Writes made inside the block (`put`, `delete`, `set_add`, `set_remove`) reach the
        store together, in one round trip, at the end of the block — also when the block
        raises — or before the first call inside it that returns something (a read, `add`,
        `incr`), so that call sees them. Other clients see all of them or none. A batch
        inside a batch is part of it. The database and the in-process store write at once:
        their writes cost no round trip of their own (the database's land with its commit)."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None:
        """Release connections (end of a process or of a test)."""
        ...


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


class _SystemTime:
    def now(self) -> float:
        return time.time()


# --------------------------------------------------------------------------------------------
# Embedded mode: the main database
# --------------------------------------------------------------------------------------------


class DatabaseStore:
    """Rows of `kv_store` and `kv_set`, written in the caller's transaction (its service
    commits). A counter or set member being changed is row-locked until that commit (on
    SQLite the whole database is), so callers commit before slow work such as a hash.

    Core statements rather than the ORM: these run several times per login.
    """

    _table = cast(Table, KeyValue.__table__)
    _sets = cast(Table, KeyValueSetMember.__table__)
    _select = select(_table.c.value, _table.c.expires_at).where(
        _table.c.key == bindparam("k")
    )
    _delete = sql_delete(_table).where(_table.c.key == bindparam("k"))
    _delete_set = sql_delete(_sets).where(_sets.c.key == bindparam("k"))

    def __init__(self, session_factory: Any, clock: Clock | None = None) -> None:
        self._session = session_factory
        self._clock = clock or _SystemTime()

    def _conn(self) -> Any:
        return self._session().connection()

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()  # the writes wait for the caller's commit already

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn().execute(self._select, {"k": key}).first()
        if row is None or row.expires_at <= self._clock.now():
            return None
        value: dict[str, Any] = json.loads(row.value)
        return value

    # One statement per number of keys, built once: `key IN (:k0, :k1, …)` (an "expanding"
    # IN would rewrite the SQL at every execution, costing more than the statement it saves).
    _select_manys: dict[int, Any] = {}

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        stmt = self._select_manys.get(len(keys))
        if stmt is None:
            stmt = self._select_manys[len(keys)] = select(
                self._table.c.key, self._table.c.value, self._table.c.expires_at
            ).where(self._table.c.key.in_([bindparam(f"k{i}") for i in range(len(keys))]))
        now = self._clock.now()
        found = {row.key: row.value for row in self._conn().execute(
            stmt, {f"k{i}": k for i, k in enumerate(keys)}) if row.expires_at > now}
        return [json.loads(found[k]) if k in found else None for k in keys]

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

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        conn = self._conn()
        conn.execute(self._upserts[conn.dialect.name], {
            "key": key, "value": _dumps(value), "expires_at": self._clock.now() + ttl,
        })

    def delete(self, key: str) -> None:
        # A key holds one kind of thing: a set's rows are looked for only when no object or
        # counter row was there (one statement for the objects deleted on every login).
        conn = self._conn()
        if not conn.execute(self._delete, {"k": key}).rowcount:
            conn.execute(self._delete_set, {"k": key})

    # RETURNING tells whether the row went in (rowcount of an INSERT is -1 with psycopg 3
    # under SQLAlchemy 2.1).
    _inserts = {
        "sqlite": sqlite_insert(_table).on_conflict_do_nothing().returning(_table.c.key),
        "postgresql": pg_insert(_table).on_conflict_do_nothing().returning(_table.c.key),
    }
    _delete_expired = sql_delete(_table).where(
        _table.c.key == bindparam("k"), _table.c.expires_at <= bindparam("now")
    )

    def add(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        # A concurrent transaction holding the same key makes this INSERT wait for it, so
        # callers that add, work and delete in one transaction run one after the other.
        conn = self._conn()
        now = self._clock.now()
        conn.execute(self._delete_expired, {"k": key, "now": now})
        stored = conn.execute(self._inserts[conn.dialect.name], {
            "key": key, "value": _dumps(value), "expires_at": now + ttl,
        }).first()
        return stored is not None

    @staticmethod
    def _build_incr(insert_fn: Any, table: Table) -> Any:
        # One statement: insert the first value, or add to the live one (an expired counter
        # starts again); the conflicting row is locked until the transaction ends, so
        # concurrent increments queue instead of losing counts.
        stmt = insert_fn(table).values(
            key=bindparam("key"), value=bindparam("first"), expires_at=bindparam("expires_at")
        )
        return stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "value": case(
                    (table.c.expires_at <= bindparam("now"), bindparam("first")),
                    else_=sql_cast(
                        sql_cast(table.c.value, Integer) + bindparam("amount", type_=Integer),
                        Text,
                    ),
                ),
                "expires_at": stmt.excluded.expires_at,
            },
        ).returning(table.c.value)

    _incrs = {"sqlite": _build_incr(sqlite_insert, _table),
              "postgresql": _build_incr(pg_insert, _table)}

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        conn = self._conn()
        now = self._clock.now()
        value = conn.execute(self._incrs[conn.dialect.name], {
            "key": key, "first": str(amount), "amount": amount, "now": now,
            "expires_at": now + ttl,
        }).scalar_one()
        return int(value)

    @staticmethod
    def _build_incr_many(n: int) -> Any:
        # `incr` for n counters in one statement, each row's amount being its first value too.
        # Text, built once per n: SQLAlchemy does not cache a multi-row INSERT's compiled
        # form, and compiling it cost more than the statement saved. The same SQL runs on
        # SQLite (3.35+ for RETURNING) and PostgreSQL.
        rows = ", ".join(f"(:k{i}, :v{i}, :e{i})" for i in range(n))
        return text(
            f'INSERT INTO kv_store ("key", value, expires_at) VALUES {rows} '  # noqa: S608 — placeholders only
            'ON CONFLICT ("key") DO UPDATE SET '
            "value = CASE WHEN kv_store.expires_at <= :now THEN excluded.value ELSE "
            "CAST(CAST(kv_store.value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT) "
            'END, expires_at = excluded.expires_at RETURNING "key", value'
        )

    _incr_manys: dict[int, Any] = {}

    def incr_many(self, counts: list[tuple[str, float, int]]) -> list[int]:
        if not counts:
            return []
        conn = self._conn()
        stmt = self._incr_manys.get(len(counts))
        if stmt is None:
            stmt = self._incr_manys[len(counts)] = self._build_incr_many(len(counts))
        now = self._clock.now()
        params: dict[str, Any] = {"now": now}
        for i, (key, ttl, amount) in enumerate(counts):
            params.update({f"k{i}": key, f"v{i}": str(amount), f"e{i}": now + ttl})
        values = {row.key: int(row.value) for row in conn.execute(stmt, params)}
        return [values[key] for key, _, _ in counts]

    def count(self, key: str) -> int:
        row = self._conn().execute(self._select, {"k": key}).first()
        if row is None or row.expires_at <= self._clock.now():
            return 0
        return int(row.value)

    @staticmethod
    def _build_set_add(insert_fn: Any, table: Table) -> Any:
        stmt = insert_fn(table)
        return stmt.on_conflict_do_update(
            index_elements=[table.c.key, table.c.member],
            set_={"expires_at": stmt.excluded.expires_at},
        )

    _set_adds = {"sqlite": _build_set_add(sqlite_insert, _sets),
                 "postgresql": _build_set_add(pg_insert, _sets)}
    _set_remove = sql_delete(_sets).where(
        _sets.c.key == bindparam("k"), _sets.c.member == bindparam("m")
    )
    _set_members = select(_sets.c.member).where(
        _sets.c.key == bindparam("k"), _sets.c.expires_at > bindparam("now")
    )

    def set_add(self, key: str, member: str, ttl: float) -> None:
        conn = self._conn()
        conn.execute(self._set_adds[conn.dialect.name], {
            "key": key, "member": member, "expires_at": self._clock.now() + ttl,
        })

    def set_remove(self, key: str, member: str) -> None:
        self._conn().execute(self._set_remove, {"k": key, "m": member})

    def set_members(self, key: str) -> set[str]:
        rows = self._conn().execute(self._set_members, {"k": key, "now": self._clock.now()})
        return {row.member for row in rows}

    def purge_expired(self) -> int:
        conn = self._conn()
        now = self._clock.now()
        values = conn.execute(sql_delete(self._table).where(self._table.c.expires_at <= now))
        members = conn.execute(sql_delete(self._sets).where(self._sets.c.expires_at <= now))
        return int(values.rowcount or 0) + int(members.rowcount or 0)

    def ping(self) -> bool:
        self._conn().execute(select(1))
        return True

    def close(self) -> None:
        pass  # the database session is closed with the app context


# --------------------------------------------------------------------------------------------
# Scale-out mode: Redis (standalone or behind Sentinel)
# --------------------------------------------------------------------------------------------

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379
_TIMEOUTS: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 2}


def parse_sentinel_url(url: str) -> dict[str, Any]:
    """Split a Sentinel URL into its parts.

    Syntax (one or more Sentinels, comma-separated; the port defaults to 26379):

        redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/SERVICE[/DB][?OPTIONS]

    SERVICE is the master's name in the Sentinel configuration (`sentinel monitor SERVICE …`),
    DB the database number (0 when absent). USER and PASSWORD authenticate to the Redis
    master and replicas; `?sentinel_password=…` (and `sentinel_username=…`) to the Sentinels
    when they require it. `rediss+sentinel://` uses TLS to the master.
    """
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL (expected {' or '.join(SENTINEL_SCHEMES)}://)")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, password = None, None
    if userinfo:
        user, _, pwd = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(pwd) or None
    sentinels = []
    for item in hostlist.split(","):
        host, port = item.strip(), DEFAULT_SENTINEL_PORT
        if host.startswith("["):  # [IPv6]:port
            closing = host.index("]")
            rest, host = host[closing + 1:], host[1:closing]
            if rest.startswith(":"):
                port = int(rest[1:])
        elif host.count(":") == 1:
            host, _, port_text = host.partition(":")
            port = int(port_text)
        if not host:
            raise ValueError("a Sentinel URL needs at least one HOST[:PORT]")
        sentinels.append((host, port))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("a Sentinel URL names the master: …/SERVICE or …/SERVICE/DB")
    service = unquote(path[0])
    db = int(path[1]) if len(path) == 2 else 0
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"sentinel_password", "sentinel_username"}
    if unknown:
        raise ValueError(f"unknown Sentinel URL option(s): {', '.join(sorted(unknown))}")
    return {
        "sentinels": sentinels, "service": service, "db": db, "username": username,
        "password": password, "ssl": parts.scheme == "rediss+sentinel",
        "sentinel_password": query.get("sentinel_password"),
        "sentinel_username": query.get("sentinel_username"),
    }


def redis_client(url: str) -> redis.Redis:
    """A client for `redis://`, `rediss://`, `unix://` or a Sentinel URL.

    Through Sentinel the client asks the Sentinels for the current master at connection
    time and again after a connection error, so a failover is followed without a restart.
    redis is imported here, not with the module: a provider on its database never loads it
    (issue 10, memory).
    """
    import redis
    import redis.sentinel

    if urlsplit(url).scheme not in SENTINEL_SCHEMES:
        return redis.Redis.from_url(url, **_TIMEOUTS)
    spec = parse_sentinel_url(url)
    sentinel_kwargs = {
        k: v for k, v in {
            "password": spec["sentinel_password"], "username": spec["sentinel_username"],
            **_TIMEOUTS,
        }.items() if v is not None
    }
    sentinel = redis.sentinel.Sentinel(
        spec["sentinels"], sentinel_kwargs=sentinel_kwargs, **_TIMEOUTS
    )
    master_kwargs: dict[str, Any] = {"db": spec["db"], **_TIMEOUTS}
    if spec["password"] is not None:
        master_kwargs["password"] = spec["password"]
    if spec["username"] is not None:
        master_kwargs["username"] = spec["username"]
    if spec["ssl"]:
        master_kwargs["ssl"] = True
    client: redis.Redis = sentinel.master_for(spec["service"], **master_kwargs)
    client._idp_sentinel = sentinel  # type: ignore[attr-defined]  # closed with the client
    return client


# A set is a sorted set scored by each member's expiry (milliseconds, Redis server time), so
# members expire one by one; the key itself expires with its longest-lived member.
_SET_ADD = """
redis.replicate_commands()  -- writes after TIME: replicate effects (default from Redis 5)
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1
"""
_SET_MEMBERS = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisStore:
    def __init__(self, url: str, prefix: str = "idp:") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix
        self._set_add = self._redis.register_script(_SET_ADD)
        self._set_members = self._redis.register_script(_SET_MEMBERS)
        self._local = threading.local()  # the open batch of this thread (a request)

    @contextmanager
    def batch(self) -> Iterator[None]:
        if getattr(self._local, "pipe", None) is not None:
            yield  # the outer batch sends
            return
        # MULTI … EXEC: other clients see all of the batch or none of it.
        self._local.pipe = self._redis.pipeline(transaction=True)
        try:
            yield
        except BaseException:
            with suppress(Exception):  # the block's own error is the one to report
                self._flush()
            raise
        finally:
            pending = self._local.pipe
            self._local.pipe = None
        if pending.command_stack:
            pending.execute()

    def _writer(self) -> Any:
        """The open batch's pipeline, else the client."""
        pipe = getattr(self._local, "pipe", None)
        return self._redis if pipe is None else pipe

    def _flush(self) -> None:
        """Send the open batch's writes before a call that returns something."""
        pipe = getattr(self._local, "pipe", None)
        if pipe is not None and pipe.command_stack:
            pipe.execute()

    def get(self, key: str) -> dict[str, Any] | None:
        self._flush()
        raw = self._redis.get(self._prefix + key)
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        self._flush()
        return [None if raw is None else json.loads(raw)
                for raw in self._redis.mget([self._prefix + k for k in keys])]

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self._writer().set(self._prefix + key, _dumps(value), px=_ms(ttl))

    def delete(self, key: str) -> None:
        self._writer().delete(self._prefix + key)

    def add(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        self._flush()
        return bool(self._redis.set(self._prefix + key, _dumps(value), px=_ms(ttl), nx=True))

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        self._flush()
        pipe = self._redis.pipeline(transaction=True)  # MULTI … EXEC: one atomic step
        pipe.incrby(self._prefix + key, amount)
        pipe.pexpire(self._prefix + key, _ms(ttl))
        value, _ = pipe.execute()
        return int(value)

    def incr_many(self, counts: list[tuple[str, float, int]]) -> list[int]:
        if not counts:
            return []
        self._flush()
        pipe = self._redis.pipeline(transaction=True)
        for key, ttl, amount in counts:
            pipe.incrby(self._prefix + key, amount)
            pipe.pexpire(self._prefix + key, _ms(ttl))
        return [int(value) for value in pipe.execute()[::2]]

    def count(self, key: str) -> int:
        self._flush()
        raw = self._redis.get(self._prefix + key)
        return 0 if raw is None else int(raw)

    def set_add(self, key: str, member: str, ttl: float) -> None:
        pipe = getattr(self._local, "pipe", None)
        if pipe is None:
            self._set_add(keys=[self._prefix + key], args=[member, _ms(ttl)])
        else:
            # EVAL, not the script's EVALSHA: a pipeline that runs a registered script asks
            # the server whether it has it first (SCRIPT EXISTS), a round trip of its own.
            pipe.eval(_SET_ADD, 1, self._prefix + key, member, _ms(ttl))

    def set_remove(self, key: str, member: str) -> None:
        self._writer().zrem(self._prefix + key, member)

    def set_members(self, key: str) -> set[str]:
        self._flush()
        members = self._set_members(keys=[self._prefix + key])
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()
        sentinel = getattr(self._redis, "_idp_sentinel", None)
        if sentinel is not None:
            for s in sentinel.sentinels:
                s.close()
        self._redis.connection_pool.disconnect()


# --------------------------------------------------------------------------------------------
# One process: the fake for tests (complete, thread-safe)
# --------------------------------------------------------------------------------------------


class MemoryStore:
    """The whole Store in a dict behind a lock: the fake the unit tests use.

    Values are copied in and out (like a real store, a caller cannot change what is stored by
    mutating what it read). Expiry follows the clock given (a FakeClock in tests).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or _SystemTime()
        self._lock = threading.Lock()
        self._values: dict[str, tuple[Any, float]] = {}
        self._sets: dict[str, dict[str, float]] = {}

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()  # in-process: a write costs no round trip

    def _live(self, key: str) -> Any:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock.now():
            del self._values[key]
            return None
        return entry[0]

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            value = self._live(key)
            return copy.deepcopy(value) if isinstance(value, dict) else None

    def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        return [self.get(k) for k in keys]

    def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        with self._lock:
            self._values[key] = (json.loads(_dumps(value)), self._clock.now() + ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)
            self._sets.pop(key, None)

    def add(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._values[key] = (json.loads(_dumps(value)), self._clock.now() + ttl)
            return True

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        with self._lock:
            value = int(self._live(key) or 0) + amount
            self._values[key] = (value, self._clock.now() + ttl)
            return value

    def incr_many(self, counts: list[tuple[str, float, int]]) -> list[int]:
        return [self.incr(key, ttl, amount) for key, ttl, amount in counts]

    def count(self, key: str) -> int:
        with self._lock:
            return int(self._live(key) or 0)

    def set_add(self, key: str, member: str, ttl: float) -> None:
        with self._lock:
            self._sets.setdefault(key, {})[member] = self._clock.now() + ttl

    def set_remove(self, key: str, member: str) -> None:
        with self._lock:
            self._sets.get(key, {}).pop(member, None)

    def set_members(self, key: str) -> set[str]:
        with self._lock:
            now = self._clock.now()
            members = self._sets.get(key, {})
            for member in [m for m, exp in members.items() if exp <= now]:
                del members[member]
            if not members:
                self._sets.pop(key, None)
            return set(members)

    def purge_expired(self) -> int:
        with self._lock:
            now = self._clock.now()
            expired = [k for k, (_, exp) in self._values.items() if exp <= now]
            for k in expired:
                del self._values[k]
            return len(expired)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass
