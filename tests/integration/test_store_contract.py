"""The Store contract, run against every implementation: the in-memory fake, the database
(SQLite, or PostgreSQL when IDP_DATABASE_URL names one) and Redis (IDP_REDIS_URL).

The fake cannot drift from the real stores without one of these failing. The concurrency tests
run each operation in its own thread and, for the database, its own committed transaction —
as concurrent requests do.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

from idp.adapters.clock import FakeClock
from idp.models import KeyValue, KeyValueSetMember
from idp.stores import DatabaseStore, MemoryStore, RedisStore, Store
from tests.conftest import require_service

THREADS = 16


@dataclass
class Subject:
    store: Store
    advance: Callable[[float], None]  # let time pass (a fake clock, or real time for Redis)
    commit: Callable[[], None]  # end the unit of work (the database commits; others: nothing)

    def run(self, fn: Callable[[Store], Any]) -> Any:
        """One unit of work, as a request does it: the operation, then the commit."""
        try:
            result = fn(self.store)
            self.commit()
            return result
        finally:
            self.release()

    release: Callable[[], None] = lambda: None  # noqa: E731 — thread-local cleanup


def _memory() -> Iterator[Subject]:
    clock = FakeClock()
    yield Subject(MemoryStore(clock), clock.advance, lambda: None)


def _database(url: str) -> Iterator[Subject]:
    engine = create_engine(url, connect_args={"timeout": 15} if url.startswith("sqlite") else {})
    sessions = scoped_session(sessionmaker(engine))
    clock = FakeClock()
    with engine.begin() as conn:
        conn.execute(KeyValue.__table__.delete())
        conn.execute(KeyValueSetMember.__table__.delete())
    subject = Subject(DatabaseStore(sessions, clock), clock.advance,
                      lambda: sessions().commit())
    subject.release = sessions.remove
    try:
        yield subject
    finally:
        sessions.remove()
        engine.dispose()


def _redis() -> Iterator[Subject]:
    url = os.environ.get("IDP_REDIS_URL", "")
    require_service("Redis", bool(url), "set IDP_REDIS_URL=redis://127.0.0.1:6379/<n>")
    store = RedisStore(url, prefix=f"idp:contract:{os.getpid()}:")
    try:
        store.ping()
    except Exception as exc:  # noqa: BLE001 — any failure means "not available"
        store.close()
        require_service("Redis", False, f"{url}: {type(exc).__name__}: {exc}")
    try:
        yield Subject(store, time.sleep, lambda: None)  # Redis keeps time itself: real time
    finally:
        for key in store._redis.scan_iter(f"idp:contract:{os.getpid()}:*"):
            store._redis.delete(key)
        store.close()


@pytest.fixture(params=["memory", "database", pytest.param("redis", marks=pytest.mark.scaleout)])
def subject(request: pytest.FixtureRequest, migrated: str) -> Iterator[Subject]:
    if request.param == "memory":
        yield from _memory()
    elif request.param == "database":
        yield from _database(migrated)
    else:
        yield from _redis()


# Short lifetimes so that the Redis runs wait little real time.
TTL = 0.4
PAST_TTL = 0.6


def test_put_get_delete(subject):
    s = subject
    assert s.run(lambda st: st.get("k")) is None
    s.run(lambda st: st.put("k", {"a": 1, "b": ["x"]}, 60))
    assert s.run(lambda st: st.get("k")) == {"a": 1, "b": ["x"]}
    s.run(lambda st: st.put("k", {"a": 2}, 60))
    assert s.run(lambda st: st.get("k")) == {"a": 2}
    s.run(lambda st: st.delete("k"))
    assert s.run(lambda st: st.get("k")) is None
    s.run(lambda st: st.delete("never-there"))  # deleting nothing is not an error


def test_get_many_reads_each_key_in_order(subject):
    s = subject
    s.run(lambda st: st.put("a", {"v": 1}, 60))
    s.run(lambda st: st.put("b", {"v": 2}, TTL))
    s.run(lambda st: st.put("c", {"v": 3}, 60))
    assert s.run(lambda st: st.get_many(["c", "missing", "a", "b"])) == [
        {"v": 3}, None, {"v": 1}, {"v": 2}]
    s.advance(PAST_TTL)
    assert s.run(lambda st: st.get_many(["b", "a"])) == [None, {"v": 1}]  # "b" expired
    assert s.run(lambda st: st.get_many(["a", "a"])) == [{"v": 1}, {"v": 1}]


def test_delete_removes_an_object_and_leaves_other_keys(subject):
    s = subject
    s.run(lambda st: st.put("k", {"a": 1}, 60))
    s.run(lambda st: st.set_add("other", "m", 60))
    s.run(lambda st: st.incr("n", 60))
    s.run(lambda st: st.delete("k"))
    assert s.run(lambda st: st.get("k")) is None
    assert s.run(lambda st: st.set_members("other")) == {"m"}
    assert s.run(lambda st: st.count("n")) == 1


def test_values_are_copies(subject):
    s = subject
    s.run(lambda st: st.put("k", {"list": [1]}, 60))
    value = s.run(lambda st: st.get("k"))
    value["list"].append(2)
    assert s.run(lambda st: st.get("k")) == {"list": [1]}


def test_values_expire(subject):
    s = subject
    s.run(lambda st: st.put("k", {"a": 1}, TTL))
    s.run(lambda st: st.put("long", {"a": 1}, 60))
    s.advance(PAST_TTL)
    assert s.run(lambda st: st.get("k")) is None
    assert s.run(lambda st: st.get("long")) == {"a": 1}


def test_add_only_when_absent_or_expired(subject):
    s = subject
    assert s.run(lambda st: st.add("k", {"n": 1}, TTL)) is True
    assert s.run(lambda st: st.add("k", {"n": 2}, TTL)) is False
    assert s.run(lambda st: st.get("k")) == {"n": 1}
    s.advance(PAST_TTL)
    assert s.run(lambda st: st.add("k", {"n": 3}, 60)) is True
    assert s.run(lambda st: st.get("k")) == {"n": 3}


def test_counter_increments_and_reads(subject):
    s = subject
    assert s.run(lambda st: st.count("c")) == 0
    assert s.run(lambda st: st.incr("c", 60)) == 1
    assert s.run(lambda st: st.incr("c", 60)) == 2
    assert s.run(lambda st: st.incr("c", 60, 5)) == 7
    assert s.run(lambda st: st.incr("c", 60, -1)) == 6
    assert s.run(lambda st: st.count("c")) == 6
    s.run(lambda st: st.delete("c"))
    assert s.run(lambda st: st.count("c")) == 0
    assert s.run(lambda st: st.incr("c", 60, -1)) == -1  # a refund may go below zero


def test_incr_many_increments_each_counter(subject):
    s = subject
    assert s.run(lambda st: st.incr_many([])) == []
    s.run(lambda st: st.incr("b", 60, 5))
    assert s.run(lambda st: st.incr_many([("a", 60, 1), ("b", 60, -1), ("c", TTL, 3)])) == [
        1, 4, 3]
    assert s.run(lambda st: st.incr_many([("c", 60, 1), ("a", 60, 2)])) == [4, 3]
    assert [s.run(lambda st, k=k: st.count(k)) for k in "abc"] == [3, 4, 4]
    s.run(lambda st: st.incr_many([("c", TTL, -1)]))
    s.advance(PAST_TTL)
    assert s.run(lambda st: st.incr_many([("c", 60, 1), ("a", 60, 1)])) == [1, 4]  # c expired


def test_counter_expires_and_each_change_renews_it(subject):
    s = subject
    s.run(lambda st: st.incr("c", TTL))
    s.advance(TTL * 0.6)
    s.run(lambda st: st.incr("c", TTL))  # renewed: lives TTL from now
    s.advance(TTL * 0.6)
    assert s.run(lambda st: st.count("c")) == 2
    s.advance(PAST_TTL)
    assert s.run(lambda st: st.count("c")) == 0
    assert s.run(lambda st: st.incr("c", 60)) == 1  # an expired counter starts again


def test_set_add_remove_members(subject):
    s = subject
    assert s.run(lambda st: st.set_members("s")) == set()
    s.run(lambda st: st.set_add("s", "a", 60))
    s.run(lambda st: st.set_add("s", "b", 60))
    s.run(lambda st: st.set_add("s", "a", 60))  # a set: no duplicates
    assert s.run(lambda st: st.set_members("s")) == {"a", "b"}
    s.run(lambda st: st.set_remove("s", "a"))
    s.run(lambda st: st.set_remove("s", "never-there"))
    assert s.run(lambda st: st.set_members("s")) == {"b"}
    assert s.run(lambda st: st.set_members("other")) == set()
    s.run(lambda st: st.delete("s"))
    assert s.run(lambda st: st.set_members("s")) == set()


def test_set_members_expire_one_by_one_and_re_adding_renews(subject):
    s = subject
    s.run(lambda st: st.set_add("s", "short", TTL))
    s.run(lambda st: st.set_add("s", "renewed", TTL))
    s.run(lambda st: st.set_add("s", "long", 60))
    s.advance(TTL * 0.6)
    s.run(lambda st: st.set_add("s", "renewed", TTL))
    s.advance(TTL * 0.6)
    assert s.run(lambda st: st.set_members("s")) == {"renewed", "long"}
    s.advance(PAST_TTL)
    assert s.run(lambda st: st.set_members("s")) == {"long"}


def test_unusual_members_and_keys(subject):
    s = subject
    members = {"client:with:colons", "한글", "a b", "%_*", "x" * 150}
    for m in members:
        s.run(lambda st, m=m: st.set_add("set:한글 %_", m, 60))
    assert s.run(lambda st: st.set_members("set:한글 %_")) == members
    assert s.run(lambda st: st.set_members("set:한글 %")) == set()  # no prefix matching


def _parallel(fn: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    barrier = threading.Barrier(n)

    def start(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(start, range(n)))


def test_concurrent_increments_are_all_counted(subject):
    s = subject
    per_thread = 10

    def work(_: int) -> list[int]:
        return [s.run(lambda st: st.incr("c", 60)) for _ in range(per_thread)]

    seen = [v for values in _parallel(work) for v in values]
    # Every increment saw a distinct value: none lost, none doubled.
    assert sorted(seen) == list(range(1, THREADS * per_thread + 1))
    assert s.run(lambda st: st.count("c")) == THREADS * per_thread


def test_concurrent_incr_manys_are_all_counted(subject):
    s = subject
    per_thread = 10

    def work(_: int) -> list[list[int]]:
        return [s.run(lambda st: st.incr_many([("a", 60, 1), ("b", 60, 2)]))
                for _ in range(per_thread)]

    seen = [v for values in _parallel(work) for v in values]
    total = THREADS * per_thread
    assert sorted(a for a, _ in seen) == list(range(1, total + 1))
    assert sorted(b for _, b in seen) == list(range(2, 2 * total + 1, 2))
    assert (s.run(lambda st: st.count("a")), s.run(lambda st: st.count("b"))) == (
        total, 2 * total)


def test_concurrent_adds_of_one_key_store_it_once(subject):
    s = subject
    won = _parallel(lambda i: s.run(lambda st: st.add("k", {"i": i}, 60)))
    assert won.count(True) == 1
    assert s.run(lambda st: st.get("k")) == {"i": won.index(True)}


def test_concurrent_set_adds_and_removes_are_all_kept(subject):
    s = subject
    for i in range(THREADS):
        s.run(lambda st, i=i: st.set_add("s", f"old{i}", 60))

    def work(i: int) -> None:
        s.run(lambda st: st.set_add("s", f"new{i}", 60))
        s.run(lambda st: st.set_remove("s", f"old{i}"))

    _parallel(work)
    assert s.run(lambda st: st.set_members("s")) == {f"new{i}" for i in range(THREADS)}


def test_a_batch_writes_everything_and_a_read_inside_it_sees_what_came_before(subject):
    s = subject
    s.run(lambda st: st.put("gone", {"v": 0}, 60))
    s.run(lambda st: st.set_add("s", "old", 60))

    def work(st: Store) -> tuple[Any, ...]:
        with st.batch():
            st.put("one", {"v": 1}, 60)
            st.delete("gone")
            st.set_add("s", "new", 60)
            st.set_remove("s", "old")
            seen = (st.get("one"), st.get("gone"), st.set_members("s"))
            st.put("two", {"v": 2}, 60)
            with st.batch():  # a batch inside a batch is part of it
                st.set_add("s", "inner", 60)
            assert st.incr("n", 60) == 1  # a call that answers sees every write before it
            st.put("three", {"v": 3}, 60)
        return seen

    assert s.run(work) == ({"v": 1}, None, {"new"})
    assert s.run(lambda st: (st.get("one"), st.get("two"), st.get("three"), st.get("gone"),
                             st.set_members("s"), st.count("n"))) == \
        ({"v": 1}, {"v": 2}, {"v": 3}, None, {"new", "inner"}, 1)


def test_a_batch_whose_block_raises_still_writes_what_it_made(subject):
    def work(st: Store) -> None:
        with suppress(RuntimeError), st.batch():
            st.put("made", {"v": 1}, 60)
            st.set_add("s", "m", 60)
            raise RuntimeError("the request failed after the writes")

    subject.run(work)  # the caller commits (the database's writes are in its transaction)
    assert subject.run(lambda st: (st.get("made"), st.set_members("s"))) == ({"v": 1}, {"m"})


@pytest.mark.scaleout
def test_a_redis_batch_is_one_round_trip_that_others_see_whole(monkeypatch):
    """RedisStore.batch: nothing reaches Redis until the block ends, then one MULTI … EXEC
    (SET, SET, the set's script as EVAL, DEL: no SCRIPT EXISTS first)."""
    import redis.client

    subject = next(gen := _redis())
    try:
        st, other = subject.store, _redis_store_like(subject.store)
        st.put("gone", {"v": 0}, 60)
        sent: list[list[str]] = []
        original = redis.client.Pipeline.execute

        def counted(pipe: Any, *args: Any, **kw: Any) -> Any:
            sent.append([str(c[0][0]) for c in pipe.command_stack])
            return original(pipe, *args, **kw)

        monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
        monkeypatch.setattr(redis.client.Redis, "execute_command", _no_single_commands)
        with st.batch():
            st.put("one", {"v": 1}, 60)
            st.put("two", {"v": 2}, 60)
            st.set_add("s", "x", 60)
            st.delete("gone")
            monkeypatch.undo()  # the other client reads as usual
            assert (other.get("one"), other.get("gone")) == (None, {"v": 0})
            monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
            monkeypatch.setattr(redis.client.Redis, "execute_command", _no_single_commands)
        monkeypatch.undo()
        assert sent == [["SET", "SET", "EVAL", "DEL"]]
        assert (other.get("one"), other.get("two"), other.get("gone"),
                other.set_members("s")) == ({"v": 1}, {"v": 2}, None, {"x"})
        other.close()
    finally:
        next(gen, None)


def _redis_store_like(store: RedisStore) -> RedisStore:
    """A second client (another process's) on the same Redis and prefix."""
    return RedisStore(os.environ["IDP_REDIS_URL"], prefix=store._prefix)


def _no_single_commands(*args: Any, **kw: Any) -> Any:
    raise AssertionError(f"a command outside the batch: {args[1:2]}")


def test_ping(subject):
    assert subject.run(lambda st: st.ping()) is True
