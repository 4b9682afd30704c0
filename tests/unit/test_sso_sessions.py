"""SSO sessions on the in-memory store: the member index, relying parties, expiry by the clock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from idp.adapters.clock import FakeClock
from idp.services.sessions import SsoSessions
from idp.stores import MemoryStore

TTL = 3600


def _sessions():
    clock = FakeClock(1_000_000.0)
    return SsoSessions(MemoryStore(clock), TTL, clock), clock


def _sids(sessions):
    return sorted(s.sid for s in sessions)


def test_for_member_lists_the_members_sessions_only():
    sessions, _ = _sessions()
    _, a1 = sessions.create(member_id=1, acr="1", amr=["pwd"])
    _, a2 = sessions.create(member_id=1, acr="1", amr=["pwd"])
    sessions.create(member_id=2, acr="1", amr=["pwd"])
    assert _sids(sessions.for_member(1)) == sorted([a1.sid, a2.sid])
    assert sessions.for_member(3) == []


def test_end_removes_the_session_from_the_index():
    sessions, _ = _sessions()
    h1, a1 = sessions.create(member_id=1, acr="1", amr=["pwd"])
    _, a2 = sessions.create(member_id=1, acr="1", amr=["pwd"])
    sessions.end(a1)
    assert sessions.get(h1) is None and sessions.by_sid(a1.sid) is None
    assert _sids(sessions.for_member(1)) == [a2.sid]


def test_rotation_at_login_keeps_one_index_entry_and_the_relying_parties():
    sessions, clock = _sessions()
    old_handle, sess = sessions.create(member_id=1, acr="1", amr=["pwd"])
    sessions.add_client(sess, "rp-a")
    clock.advance(60)
    new_handle, rotated = sessions.login(sess, member_id=1, acr="1", amr=["pwd"])
    assert sessions.get(old_handle) is None
    found = sessions.for_member(1)
    assert [s.handle_hash for s in found] == [rotated.handle_hash]
    assert found[0].sid == sess.sid and found[0].clients == ["rp-a"]
    assert sessions.get(new_handle).auth_time == int(clock.now())


def test_sessions_expire_with_the_clock_and_leave_the_index():
    sessions, clock = _sessions()
    handle, _ = sessions.create(member_id=1, acr="1", amr=["pwd"])
    clock.advance(TTL - 1)
    assert sessions.get(handle) is not None
    _, later = sessions.create(member_id=1, acr="1", amr=["pwd"])
    clock.advance(2)
    assert sessions.get(handle) is None
    assert _sids(sessions.for_member(1)) == [later.sid]


def test_parallel_add_client_remembers_every_relying_party():
    """Finding 3: eight sign-ins at once, each with its own copy of the session."""
    sessions, _ = _sessions()
    handle, _ = sessions.create(member_id=1, acr="1", amr=["pwd"])
    copies = [sessions.get(handle) for _ in range(8)]  # read before anyone writes
    barrier = threading.Barrier(8)

    def sign_in(i):
        barrier.wait()
        sessions.add_client(copies[i], f"rp-{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sign_in, range(8)))
    assert sessions.get(handle).clients == sorted(f"rp-{i}" for i in range(8))


def test_end_reports_relying_parties_that_joined_after_the_session_was_read():
    sessions, _ = _sessions()
    handle, _ = sessions.create(member_id=1, acr="1", amr=["pwd"])
    stale = sessions.get(handle)
    sessions.add_client(sessions.get(handle), "late-rp")
    sessions.end(stale)
    assert stale.clients == ["late-rp"]
