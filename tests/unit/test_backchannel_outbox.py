"""The back-channel logout outbox: retries with backoff, giving up, restarts, claims.

The fake sender (idp.adapters.backchannel.RecordingBackchannelSender) and a FakeClock make
every round deterministic: nothing sleeps, the worker's rounds are `drain_backchannel` calls.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from idp.adapters.backchannel import RecordingBackchannelSender
from idp.adapters.clock import FakeClock
from idp.extensions import db
from idp.models import AuditEvent, BackchannelLogout
from idp.oidc.logout import drain_backchannel, start_backchannel_worker
from idp.services.ports import BackchannelDelivery
from idp.wiring import build_backchannel_sender
from tests.conftest import make_app
from tests.helpers import TestRP

URI = "https://rp.example/backchannel"


@pytest.fixture()
def outbox(app: Any) -> tuple[RecordingBackchannelSender, FakeClock]:
    """The app's outbox with the fake sender and a clock the test moves."""
    p = app.extensions["idp"]
    sender, clock = RecordingBackchannelSender(), FakeClock()
    p.outbox.sender, p.outbox.clock = sender, clock
    return sender, clock


def _sign_in_and_log_out(app: Any, client: Any, uri: str = URI) -> TestRP:
    site = TestRP.create(app, backchannel_logout_uri=uri)
    tokens = site.tokens(client)
    resp = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert resp.status_code == 200  # logged out (no redirect asked)
    return site


def _events(app: Any, name: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)
                                  .order_by(AuditEvent.id)).all()
        # Tolerates the double-encoded `detail` of issue 11 finding 9 until that fix lands.
        return [json.loads(r.detail) if isinstance(r.detail, str) else r.detail for r in rows]


def _queued(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(BackchannelLogout)))


def test_a_failed_delivery_is_retried_with_exponential_backoff(app, client, outbox):
    sender, clock = outbox
    sender.answer(URI, 503)
    _sign_in_and_log_out(app, client)
    assert drain_backchannel(app).retrying == 1
    assert len(sender.sent) == 1
    assert drain_backchannel(app).handled == 0  # not due yet: no hammering
    clock.advance(4.9)
    assert drain_backchannel(app).handled == 0 and len(sender.sent) == 1
    clock.advance(0.1)  # retry_base = 5 s after the first failure
    assert drain_backchannel(app).retrying == 1 and len(sender.sent) == 2
    clock.advance(9.9)  # then 10 s
    assert drain_backchannel(app).handled == 0
    clock.advance(0.1)
    sender.answer(URI, 200)  # the relying party is back
    assert drain_backchannel(app).delivered == 1 and len(sender.sent) == 3
    assert _queued(app) == 0
    failures = _events(app, "backchannel.failed")
    assert [(f["attempt"], f["status"], f["retry_in"]) for f in failures] == [
        (1, 503, 5.0), (2, 503, 10.0)]
    # Each attempt is signed when it is sent: a fresh token, never one that aged in the queue.
    jwks = KeySet.import_key_set(client.get("/jwks").get_json())
    jtis = {jwt.decode(s.logout_token, jwks).claims["jti"] for s in sender.sent}
    assert len(jtis) == 3


def test_a_delivery_is_given_up_after_max_attempts_and_audited(app, client, outbox):
    sender, clock = outbox
    sender.answer(URI, None)  # unreachable
    site = _sign_in_and_log_out(app, client)
    max_attempts = app.extensions["idp"].outbox.settings.max_attempts
    for _ in range(max_attempts):
        drain_backchannel(app)
        clock.advance(3600)
    assert len(sender.sent) == max_attempts
    assert _queued(app) == 0
    gave_up = _events(app, "backchannel.gave_up")
    assert len(gave_up) == 1 and gave_up[0]["attempt"] == max_attempts
    assert len(_events(app, "backchannel.failed")) == max_attempts - 1
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "backchannel.gave_up")).one()
        assert event.client_id == site.client_id


def test_queued_logouts_survive_a_restart(app, base_settings, client, outbox):
    sender, _clock = outbox
    _sign_in_and_log_out(app, client)  # queued; this process "dies" before its worker runs
    assert sender.sent == []
    restarted = make_app(base_settings, backchannel_logout={"sender": "recording"})
    try:
        report = drain_backchannel(restarted)
        assert report.delivered == 1
        assert len(restarted.extensions["idp"].outbox.sender.sent) == 1
    finally:
        with restarted.app_context():
            db.session.remove()
            db.engine.dispose()
        restarted.extensions["idp"].store.close()
    assert _queued(app) == 0


def test_a_delivery_being_sent_is_not_taken_by_another_worker(app, base_settings, client,
                                                               outbox):
    """Two workers (two processes) drain at once: the row one has claimed is not sent twice."""
    _sender, clock = outbox
    other = make_app(base_settings, backchannel_logout={"sender": "recording"})
    other_outbox = other.extensions["idp"].outbox
    other_outbox.clock = clock
    seen_by_other: list[int] = []

    class SlowSender(RecordingBackchannelSender):
        def send(self, uri: str, logout_token: str) -> BackchannelDelivery:
            # While this worker waits on the relying party, the other one runs a round.
            seen_by_other.append(drain_backchannel(other).handled)
            return super().send(uri, logout_token)

    app.extensions["idp"].outbox.sender = slow = SlowSender()
    try:
        _sign_in_and_log_out(app, client)
        assert drain_backchannel(app).delivered == 1
        assert seen_by_other == [0] and len(slow.sent) == 1
        assert other_outbox.sender.sent == []
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
        other.extensions["idp"].store.close()


def test_a_claim_of_a_worker_that_died_mid_send_lapses_and_is_retried(app, client, outbox):
    sender, clock = outbox

    class Dies(RecordingBackchannelSender):
        def send(self, uri: str, logout_token: str) -> BackchannelDelivery:
            raise SystemExit("the process was killed while sending")

    p = app.extensions["idp"]
    p.outbox.sender = Dies()
    _sign_in_and_log_out(app, client)
    with pytest.raises(SystemExit):
        drain_backchannel(app)
    p.outbox.sender = sender
    assert drain_backchannel(app).handled == 0  # still claimed by the dead worker
    clock.advance(p.outbox.settings.lease_seconds)
    assert drain_backchannel(app).delivered == 1 and len(sender.sent) == 1
    assert _queued(app) == 0


def test_a_removed_client_is_not_told(app, client, outbox):
    sender, _clock = outbox
    site = _sign_in_and_log_out(app, client)
    with app.app_context():
        from idp.services.clients import remove_client

        assert remove_client(db.session, site.client_id)
        db.session.commit()
    assert drain_backchannel(app).dropped == 1
    assert sender.sent == [] and _queued(app) == 0


def test_the_fake_sender_is_refused_outside_the_tests():
    section = {"sender": "recording", "timeout": 3}
    assert isinstance(build_backchannel_sender({"backchannel_logout": section,
                                                "env": "testing"}),
                      RecordingBackchannelSender)
    for env in ("production", "development"):
        with pytest.raises(RuntimeError, match="backchannel_logout.sender"):
            build_backchannel_sender({"backchannel_logout": section, "env": env})


def test_parallel_workers_send_each_delivery_exactly_once(app, outbox):
    """Four workers drain one queue at once (SKIP LOCKED on PostgreSQL, the claim UPDATE on
    SQLite): every row is sent, none twice."""
    sender, _clock = outbox
    site = TestRP.create(app, backchannel_logout_uri=URI, member=False)
    with app.app_context():
        for n in range(40):
            app.extensions["idp"].outbox.enqueue(
                db.session, client_ids=[site.client_id], member_id=None, sub=f"sub-{n}",
                sid=f"sid-{n}", reason="test")
        db.session.commit()
    start = threading.Barrier(4)
    reports: list[int] = []

    def worker() -> None:
        start.wait()
        reports.append(drain_backchannel(app).delivered)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(reports) == 40 and len(sender.sent) == 40
    assert _queued(app) == 0


def test_the_worker_thread_survives_a_failed_round_and_delivers_later(app, client, outbox,
                                                                      monkeypatch):
    """A round that fails (the database cut off) is logged; the rows wait for the next one."""
    sender, _clock = outbox
    p = app.extensions["idp"]
    p.settings["backchannel_logout"]["poll_seconds"] = 0.05
    real_drain = p.outbox.drain
    failures = []

    def flaky_drain(session: Any, sign: Any) -> Any:
        if not failures:
            failures.append(1)
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return real_drain(session, sign)

    monkeypatch.setattr(p.outbox, "drain", flaky_drain)
    _sign_in_and_log_out(app, client)
    worker = start_backchannel_worker(app)
    assert worker is not None
    try:
        deadline = time.monotonic() + 10
        while not sender.sent and time.monotonic() < deadline:
            time.sleep(0.02)
        assert failures == [1] and len(sender.sent) == 1
        assert worker.is_alive()
    finally:
        worker.stop(timeout=10)
