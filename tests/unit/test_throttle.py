"""The throttle on the in-memory store, its time moved by a FakeClock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from idp.adapters.clock import FakeClock
from idp.errors import LoginThrottled
from idp.services.throttle import Throttle, ThrottleRule, ip_bucket
from idp.stores import MemoryStore

RULE = ThrottleRule(delay_after=2, delay_base=1, delay_max=8, lock_after=5,
                    lock_seconds=100, window_seconds=300)
NO_DELAY = ThrottleRule(delay_after=5, delay_base=0, delay_max=0, lock_after=5,
                        lock_seconds=100, window_seconds=300)
IP_RULE = ThrottleRule(delay_after=50, delay_base=0, delay_max=0, lock_after=50,
                       lock_seconds=100, window_seconds=300)


def _throttle(rule=RULE, ip_rule=IP_RULE):
    clock = FakeClock(1_000_000.0)
    return Throttle(MemoryStore(clock), {"account": rule, "ip": ip_rule}, clock), clock


def _fail(throttle, **keys):
    return throttle.failed(throttle.reserve(**keys))


def test_throttle_delays_then_locks_then_forgives():
    throttle, clock = _throttle()
    for _ in range(2):
        _fail(throttle, account="a")
    with pytest.raises(LoginThrottled) as early:
        throttle.reserve(account="a")
    assert not early.value.locked and early.value.retry_after >= 1
    assert throttle.failures("account", "a") == 2  # a refused attempt is not counted
    clock.advance(1.5)
    _fail(throttle, account="a")
    for _ in range(2):
        clock.advance(10)
        locked = _fail(throttle, account="a")
    assert locked == ["account"]
    with pytest.raises(LoginThrottled) as lock:
        throttle.reserve(account="a")
    assert lock.value.locked and lock.value.retry_after == 101
    clock.advance(101)
    # A served lock starts a fresh count: the next two failures bring no delay.
    for _ in range(2):
        _fail(throttle, account="a")
    assert throttle.failures("account", "a") == 2


def test_delay_doubles_with_each_failure_up_to_the_maximum():
    throttle, clock = _throttle(ThrottleRule(delay_after=1, delay_base=1, delay_max=4,
                                             lock_after=50, lock_seconds=100,
                                             window_seconds=300))
    _fail(throttle, account="a")
    waits = []
    for _ in range(5):
        with pytest.raises(LoginThrottled) as exc:
            throttle.reserve(account="a")
        waits.append(exc.value.retry_after)
        clock.advance(exc.value.retry_after)
        _fail(throttle, account="a")
    assert waits == [2, 3, 5, 5, 5]  # int(delay) + 1 for delays 1, 2, 4, 4, 4


def test_parallel_attempts_are_counted_before_verification():
    """12 guesses at once: only the lock threshold's worth may be verified, all counted."""
    throttle, _ = _throttle(NO_DELAY)
    barrier = threading.Barrier(12)

    def guess(_):
        barrier.wait()
        try:
            return throttle.reserve(account="a", ip="192.0.2.1")
        except LoginThrottled:
            return None

    with ThreadPoolExecutor(12) as pool:
        attempts = [a for a in pool.map(guess, range(12)) if a is not None]
    assert len(attempts) == NO_DELAY.lock_after
    assert throttle.attempts("account", "a") == NO_DELAY.lock_after
    assert throttle.attempts("ip", "192.0.2.1") == NO_DELAY.lock_after  # refusals give back
    locked = [kind for a in attempts for kind in throttle.failed(a)]
    assert locked == ["account"]  # exactly once
    assert throttle.failures("ip", "192.0.2.1") == NO_DELAY.lock_after
    with pytest.raises(LoginThrottled) as exc:
        throttle.reserve(account="a", ip="192.0.2.1")
    assert exc.value.locked


def test_attempts_without_failures_run_at_once_and_give_their_count_back():
    """Members sharing an account sign in from several places at the same moment."""
    throttle, _ = _throttle()
    attempts = [throttle.reserve(account="a", ip="192.0.2.1") for _ in range(RULE.lock_after)]
    for attempt in attempts:
        throttle.succeeded(attempt)
    assert throttle.attempts("account", "a") == 0 and throttle.attempts("ip", "192.0.2.1") == 0


def test_past_the_delay_threshold_attempts_run_one_at_a_time():
    throttle, clock = _throttle()
    for _ in range(2):
        _fail(throttle, account="a")
    clock.advance(60)
    first = throttle.reserve(account="a")
    with pytest.raises(LoginThrottled):
        throttle.reserve(account="a")  # the first is still being verified
    throttle.failed(first)
    clock.advance(60)
    throttle.reserve(account="a")  # its turn, after the delay


def test_success_forgives_the_account_and_gives_the_ip_its_attempt_back():
    throttle, _ = _throttle()
    _fail(throttle, account="a", ip="192.0.2.1")
    throttle.succeeded(throttle.reserve(account="a", ip="192.0.2.1"))
    assert throttle.failures("account", "a") == 0 and throttle.attempts("account", "a") == 0
    assert throttle.failures("ip", "192.0.2.1") == 1 and throttle.attempts("ip", "192.0.2.1") == 1


def test_reset_lifts_a_lock_and_starts_afresh():
    throttle, _ = _throttle(NO_DELAY)
    for _ in range(NO_DELAY.lock_after):
        _fail(throttle, account="a")
    assert throttle.locked_until("account", "a") is not None
    throttle.reset(account="a")
    assert throttle.locked_until("account", "a") is None
    assert throttle.failures("account", "a") == 0
    throttle.reserve(account="a")


def test_keys_are_independent():
    throttle, _ = _throttle(NO_DELAY)
    for _ in range(NO_DELAY.lock_after):
        _fail(throttle, account="a")
    throttle.reserve(account="b")


@pytest.mark.parametrize(("ip", "bucket"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("not-an-address", "not-an-address"),
])
def test_ip_bucket_is_the_address_or_the_ipv6_slash_64(ip, bucket):
    assert ip_bucket(ip) == bucket


def test_one_ipv6_prefix_is_one_key():
    throttle, _ = _throttle(ip_rule=NO_DELAY)
    for i in range(NO_DELAY.lock_after):
        _fail(throttle, ip=ip_bucket(f"2001:db8:1:2::{i + 1:x}"))
    with pytest.raises(LoginThrottled):
        throttle.reserve(ip=ip_bucket("2001:db8:1:2:aaaa::1"))
    throttle.reserve(ip=ip_bucket("2001:db8:1:3::1"))  # the next /64 is someone else


def test_success_forgives_a_kind_whose_rule_has_no_delay():
    throttle, _ = _throttle(NO_DELAY)
    _fail(throttle, account="a")
    throttle.succeeded(throttle.reserve(account="a"))
    assert throttle.failures("account", "a") == 0
