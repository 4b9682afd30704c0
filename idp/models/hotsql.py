"""Statements of the hottest protocol paths, run on the pool's raw DBAPI connection (issue 10).

The token, userinfo and introspection endpoints run one or two fixed statements per request.
Through the ORM session and Core's execution machinery, the bookkeeping around those
statements (session and transaction state, the compiled-cache lookup, result metadata, the
connection's events) cost several times the statements themselves. Here each statement is a
SQLAlchemy Core construct — the schema stays defined once, in the models — compiled once per
dialect; a call binds its parameters with the columns' own bind processors, runs it on a
DBAPI cursor and converts the row with the columns' own result processors, so what is read
and written is exactly what the ORM would read and write.

Each thread keeps one connection of its own for these statements (a server worker runs one
request thread, so one more connection per worker). It is opened by the engine (its connect
events, the SQLite pragmas, apply) but kept out of the pool: a checkout and its reset cost as
much as a userinfo's query. It is never lent with a transaction open: on PostgreSQL it stays
in autocommit, so a lone SELECT or INSERT is one round trip instead of BEGIN, statement,
COMMIT, and writes that must land together run inside `transaction()` (or are one statement);
with the setting token_commit = "async" its commits do not wait for the WAL flush
(config/default.toml says what that costs). On PostgreSQL a statement goes through psycopg's
libpq wrapper (`psycopg.pq`) rather than a cursor: prepared on the connection once, then
executed by name, its parameters dumped and its row loaded by psycopg's own adapters (the
connection's `Transformer`), so the bytes on the wire are those the cursor would send once it
had prepared the statement itself. The cursor's generators and wait loop around the same libpq
calls cost a quarter of a statement (userinfo's, in a process of its own: 96-99 us of CPU
through the cursor, 75 us here), and the call releases the GIL while it waits as the cursor's
does. SQLite's implicit
transaction is committed or rolled back before the request ends. After any error the
connection is closed and the next request opens a new one; it is also replaced after the
pool's `pool_recycle` seconds, and closed when the engine is disposed.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import namedtuple
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ClauseElement

_serials = itertools.count()
# psycopg's dialect compiles a bind as %(name)s and a literal % as %%.
_PYFORMAT = re.compile(r"%\(([^)]+)\)s|%%")


class Prepared:
    """One Core statement compiled for one dialect, with its bind and result processors."""

    def __init__(self, statement: ClauseElement, engine: Engine,
                 column_keys: list[str] | None = None) -> None:
        dialect = engine.dialect
        compiled: Any = statement.compile(dialect=dialect, column_keys=column_keys)
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._binds: dict[str, Any] = dict(compiled._bind_processors)
        # Values written into the statement itself (a LIMIT, a literal): bound like the rest.
        self._defaults: dict[str, Any] = {
            name: value for name, value in compiled.construct_params(_check=False).items()
            if value is not None}
        self.columns: tuple[str, ...] = tuple(c.keyname for c in compiled._result_columns)
        self._results: tuple[tuple[int, Any], ...] = tuple(
            (i, proc) for i, c in enumerate(compiled._result_columns)
            if (proc := c.type._cached_result_processor(dialect, None)) is not None)
        # A row as a named tuple: by position or by attribute, as SQLAlchemy's Row.
        self.record_type: Any = namedtuple(  # type: ignore[misc]
            "Record", self.columns, rename=True)
        if dialect.name == "postgresql" and not self.positional:
            self.serial = next(_serials)
            self.pq_query, self.pq_names = _numbered(self.sql)
            self.pq_formats: list[Any] = []  # psycopg's PyFormat.AUTO each, set on first use

    def pq_parameters(self, values: Mapping[str, Any]) -> list[Any]:
        """The parameters in the order of the $n of `pq_query`, bound as `parameters`."""
        named = self.parameters(values)
        return [named[name] for name in self.pq_names]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        binds = self._binds
        if self._defaults:
            values = {**self._defaults, **values}
        if self.positional:
            out: list[Any] = []
            for name in self.names:
                value = values[name]
                proc = binds.get(name)
                out.append(value if proc is None else proc(value))
            return out
        return {name: (value if (proc := binds.get(name)) is None else proc(value))
                for name, value in values.items()}

    def values(self, raw: tuple[Any, ...]) -> Any:
        if not self._results:
            return raw
        values = list(raw)
        for i, proc in self._results:
            if values[i] is not None:
                values[i] = proc(values[i])
        return values

    def row(self, raw: tuple[Any, ...] | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        return dict(zip(self.columns, self.values(raw), strict=True))

    def record(self, raw: tuple[Any, ...] | None) -> Any:
        return None if raw is None else self.record_type._make(self.values(raw))


class HotDb:
    """A connection per thread for the prepared statements of one engine."""

    def __init__(self, engine: Engine, *, async_commit: bool = False) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._async_commit = async_commit and self.postgres
        self._prepared: dict[Any, Prepared] = {}
        self._local = threading.local()
        self._open: set[HotConnection] = set()
        self._lock = threading.Lock()
        recycle = getattr(engine.pool, "_recycle", -1)
        self._recycle: float = recycle if recycle and recycle > 0 else float("inf")
        event.listen(engine, "engine_disposed", lambda _engine: self.close_all())

    def close_all(self) -> None:
        with self._lock:
            opened, self._open = self._open, set()
        for conn in opened:
            conn.close()

    def prepare(self, statement: ClauseElement, column_keys: list[str] | None = None
                ) -> Prepared:
        key = (statement, tuple(column_keys) if column_keys else None)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = Prepared(statement, self.engine, column_keys)
        return prepared

    def _connect(self) -> HotConnection:
        fairy: Any = self.engine.raw_connection()
        fairy.detach()  # ours alone: the pool neither counts it nor resets it
        dbapi: Any = fairy.dbapi_connection
        if self.postgres:
            dbapi.autocommit = True
            if self._async_commit:
                # This connection only issues tokens and reads: settings token_commit.
                dbapi.execute("SET synchronous_commit TO off")
        conn = PqConnection(dbapi) if self.postgres else HotConnection(dbapi, False)
        with self._lock:
            self._open.add(conn)
        return conn

    def _drop(self, conn: HotConnection) -> None:
        self._local.conn = None
        with self._lock:
            self._open.discard(conn)
        conn.close()

    @contextmanager
    def connection(self) -> Iterator[HotConnection]:
        conn: HotConnection | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.closed or time.monotonic() - conn.born > self._recycle):
            self._drop(conn)
            conn = None
        if conn is None:
            conn = self._local.conn = self._connect()
        try:
            yield conn
        except BaseException:
            self._drop(conn)  # whatever state it is in, nobody reuses it
            raise
        if not self.postgres and conn.dbapi.in_transaction:
            conn.dbapi.rollback()  # a handler that decided not to write after all


class HotConnection:
    def __init__(self, dbapi: Any, postgres: bool) -> None:
        self.dbapi = dbapi
        self.postgres = postgres
        self.born = time.monotonic()
        self.closed = False
        self.cursor = dbapi.cursor()  # one for every statement: a new one costs a third of one

    def close(self) -> None:
        self.closed = True
        with suppress(Exception):  # a connection that broke: nothing more to do with it
            self.dbapi.close()

    def one(self, prepared: Prepared, values: Mapping[str, Any]) -> dict[str, Any] | None:
        return prepared.row(self._first(prepared, values))

    def record(self, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        """The first row as a named tuple (Prepared.record_type), or None."""
        return prepared.record(self._first(prepared, values))

    def write(self, prepared: Prepared, values: Mapping[str, Any]) -> int:
        """Run a statement; the number of rows it changed."""
        cursor = self.cursor
        cursor.execute(prepared.sql, prepared.parameters(values))
        return int(cursor.rowcount)

    def _first(self, prepared: Prepared, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        cursor = self.cursor
        cursor.execute(prepared.sql, prepared.parameters(values))
        return cursor.fetchone()  # type: ignore[no-any-return]

    def commit(self) -> None:
        """SQLite's implicit transaction ends here; PostgreSQL is in autocommit."""
        if not self.postgres:
            self.dbapi.commit()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several statements that land together or not at all."""
        if self.postgres:
            with self.dbapi.transaction():
                yield
            return
        try:
            yield
        except BaseException:
            self.dbapi.rollback()
            raise
        self.dbapi.commit()


class PqConnection(HotConnection):
    """PostgreSQL in autocommit, a statement per libpq call (the module's docstring says why).

    Each statement is prepared on first use with the parameter types psycopg's dumpers gave
    it, as psycopg's own automatic preparation does (keyed by the statement and those types,
    so a NULL where a value was stays correct); an error result raises the exception psycopg
    would (`psycopg.errors`), and HotDb.connection then closes the connection.
    """

    def __init__(self, dbapi: Any) -> None:
        from psycopg import errors  # here: a worker on SQLite never imports psycopg
        from psycopg.adapt import PyFormat, Transformer
        from psycopg.pq import ConnStatus, ExecStatus

        super().__init__(dbapi, True)
        self._ok = (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK)
        self._connected = ConnStatus.OK
        self._errors = errors
        self._pq = dbapi.pgconn
        self._tx = Transformer(dbapi)
        self._encoding: str = dbapi.info.encoding
        self._auto = PyFormat.AUTO
        self._names: dict[tuple[int, tuple[int, ...]], bytes] = {}

    def write(self, prepared: Prepared, values: Mapping[str, Any]) -> int:
        return int(self._execute(prepared, values).command_tuples or 0)

    def _first(self, prepared: Prepared, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        result = self._execute(prepared, values)
        if not result.ntuples:
            return None
        self._tx.set_pgresult(result)
        return self._tx.load_row(0, tuple)  # type: ignore[no-any-return]

    def _execute(self, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        tx, pq = self._tx, self._pq
        if len(prepared.pq_formats) != len(prepared.pq_names):
            prepared.pq_formats = [self._auto] * len(prepared.pq_names)
        params = tx.dump_sequence(prepared.pq_parameters(values), prepared.pq_formats)
        key = (prepared.serial, tuple(tx.types or ()))
        name = self._names.get(key)
        if name is None:
            name = b"idp_hot_%d" % len(self._names)
            self._check(pq.prepare(name, prepared.pq_query, param_types=key[1]))
            self._names[key] = name
        return self._check(pq.exec_prepared(name, params, param_formats=tx.formats))

    def _check(self, result: Any) -> Any:
        if result.status in self._ok:
            return result
        if self._pq.status != self._connected:
            # The server went away (libpq's result has no SQLSTATE then): an OperationalError,
            # as the cursor raises, which idp/faults.py answers with 503.
            message = (result.error_message or b"").decode(self._encoding, "replace").strip()
            raise self._errors.OperationalError(f"the connection is lost: {message}")
        raise self._errors.error_from_result(result, encoding=self._encoding)


def _numbered(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """psycopg's dialect's %(name)s placeholders as libpq's $1, $2, ...; a name bound twice
    is one parameter."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PYFORMAT.sub(number, sql).encode(), tuple(names)
