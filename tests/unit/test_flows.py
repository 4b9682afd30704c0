"""Multi-step flow state (idp/services/flows.py): bound to the browser, short-lived on the
Clock port, single use even when two consumes race. Each test runs over the database store
(SQLite, or PostgreSQL with IDP_DATABASE_URL) and over the store the app is configured with
(Redis with IDP_REDIS_URL, else the database again)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from idp.adapters.clock import FakeClock
from idp.extensions import db
from idp.services.flows import FlowKind, Flows
from idp.stores import DatabaseStore

SIGNUP = FlowKind("signup", ttl=600)
SNS = FlowKind("sns", ttl=60)
BROWSER = "browser-a"


def _store(app: Any, which: str) -> Any:
    """Inside an app context: the database store, or the app's configured store."""
    return DatabaseStore(lambda: db.session) if which == "database" else app.extensions[
        "idp"].store


@pytest.fixture(params=["database", "configured"])
def which(request):
    return request.param


@pytest.fixture()
def store(app, which):
    with app.app_context():
        yield _store(app, which)
        db.session.rollback()


@pytest.fixture()
def clock():
    return FakeClock(start=1_900_000_000.0)


@pytest.fixture()
def flows(store, clock):
    return Flows(store, clock)


def test_a_flow_keeps_its_data_between_steps(flows):
    flow = flows.start(SIGNUP, {"terms": ["tos"]}, browser=BROWSER)
    again = flows.get(SIGNUP, flow.id, browser=BROWSER)
    assert again is not None and again.data == {"terms": ["tos"]}
    flows.update(again, {"terms": ["tos"], "name": "홍길동"})
    assert flows.get(SIGNUP, flow.id, browser=BROWSER).data == {"terms": ["tos"],
                                                                "name": "홍길동"}


def test_another_browser_cannot_read_or_consume_a_flow(flows, store):
    flow = flows.start(SIGNUP, {"step": 1}, browser=BROWSER)
    for browser in ("browser-b", "", None):
        assert flows.get(SIGNUP, flow.id, browser=browser) is None
        assert flows.consume(SIGNUP, flow.id, browser=browser) is None
    # The store never holds the browser id itself, only its hash.
    assert BROWSER not in str(store.get(f"flow:{flow.id}"))
    assert flows.consume(SIGNUP, flow.id, browser=BROWSER) is not None  # still the owner's


def test_a_flow_is_only_read_as_its_own_kind(flows):
    flow = flows.start(SNS, {"state": "s"}, browser=BROWSER)
    assert flows.get(SIGNUP, flow.id, browser=BROWSER) is None
    assert flows.consume(SIGNUP, flow.id, browser=BROWSER) is None
    assert flows.consume(SNS, flow.id, browser=BROWSER).data == {"state": "s"}


def test_a_flow_expires_after_its_kinds_ttl(flows, clock):
    short = flows.start(SNS, {}, browser=BROWSER)
    long = flows.start(SIGNUP, {}, browser=BROWSER)
    clock.advance(SNS.ttl - 1)
    assert flows.get(SNS, short.id, browser=BROWSER) is not None
    clock.advance(1)
    assert flows.get(SNS, short.id, browser=BROWSER) is None
    assert flows.consume(SNS, short.id, browser=BROWSER) is None
    assert flows.get(SIGNUP, long.id, browser=BROWSER) is not None  # 600 s kind still alive
    clock.advance(SIGNUP.ttl)
    assert flows.consume(SIGNUP, long.id, browser=BROWSER) is None


def test_an_update_does_not_extend_the_deadline(flows, clock):
    flow = flows.start(SNS, {}, browser=BROWSER)
    clock.advance(SNS.ttl - 5)
    flows.update(flow, {"more": True})
    clock.advance(5)
    assert flows.get(SNS, flow.id, browser=BROWSER) is None


def test_a_flow_is_consumed_once(flows):
    flow = flows.start(SIGNUP, {"step": 3}, browser=BROWSER)
    first = flows.consume(SIGNUP, flow.id, browser=BROWSER)
    assert first is not None and first.data == {"step": 3}
    assert flows.consume(SIGNUP, flow.id, browser=BROWSER) is None
    assert flows.get(SIGNUP, flow.id, browser=BROWSER) is None


def test_a_consumed_flow_written_back_by_a_late_update_stays_used(flows):
    flow = flows.start(SIGNUP, {"step": 1}, browser=BROWSER)
    stale = flows.get(SIGNUP, flow.id, browser=BROWSER)
    assert flows.consume(SIGNUP, flow.id, browser=BROWSER) is not None
    flows.update(stale, {"step": 2})  # a concurrent step that read the flow before
    assert flows.get(SIGNUP, flow.id, browser=BROWSER) is None
    assert flows.consume(SIGNUP, flow.id, browser=BROWSER) is None


def test_discarded_and_unknown_flows_are_none(flows):
    flow = flows.start(SIGNUP, {}, browser=BROWSER)
    flows.discard(flow.id)
    assert flows.get(SIGNUP, flow.id, browser=BROWSER) is None
    assert flows.consume(SIGNUP, "no-such-flow", browser=BROWSER) is None
    assert flows.get(SIGNUP, "", browser=BROWSER) is None


def test_a_flow_needs_a_browser_and_a_sane_kind(flows):
    with pytest.raises(ValueError):
        flows.start(SIGNUP, {}, browser="")
    with pytest.raises(ValueError):
        FlowKind("sign:up", ttl=60)
    with pytest.raises(ValueError):
        FlowKind("signup", ttl=0)


class _RaceStore:
    """The app's store, but `add` waits until both consumers have read the flow."""

    def __init__(self, store: Any, barrier: threading.Barrier) -> None:
        self._store, self._barrier = store, barrier

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        self._barrier.wait(timeout=10)
        return bool(self._store.add(key, value, ttl))


def test_two_concurrent_consumes_one_wins(app, clock, which):
    with app.app_context():
        flow = Flows(_store(app, which), clock).start(SIGNUP, {"step": 3}, browser=BROWSER)
        db.session.commit()
    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with app.app_context():  # its own database session and transaction
                race = Flows(_RaceStore(_store(app, which), barrier), clock)
                results.append(race.consume(SIGNUP, flow.id, browser=BROWSER))
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    winners = [r for r in results if r is not None]
    assert len(results) == 2 and len(winners) == 1
    assert winners[0].data == {"step": 3}
