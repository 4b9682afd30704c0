"""Brute-force protection for every secret a person types.

Per key (an account, a client IP, later a company): after `delay_after` failures each further
attempt must wait a delay that doubles with each failure; after `lock_after` failures the key is
locked for `lock_seconds`. Keys are counted whether or not the account exists, so the
throttle itself reveals nothing. No sleeping in the server: a refused attempt is answered at
once with the time to wait.

Two counters per key, each changed by one atomic increment (`Store.incr`; an attempt's
counters on all its keys by one `Store.incr_many`), never read and written back:

- *attempts*, counted before the secret is verified: attempt number n is refused when n
  exceeds `lock_after`, so however many guesses arrive at once, at most `lock_after` are ever
  verified per period and none goes uncounted. A failure keeps its attempt; a success gives it
  back, so members sharing an account sign in at once without holding each other up;
- *failures*, counted when a verification fails: the delays and the lock follow them, and
  exactly one failure — the `lock_after`-th — locks the key.

Past `delay_after` failures the attempts on a key also run one at a time (`Store.add`). A lock,
an operator's reset and a success after failures start a new *period* of the key: fresh
counters, while attempts still in flight from the old period settle in the old counters.

The store's own expiry only collects garbage: whether a lock or a delay still applies is
decided from the times kept in the values and the Clock, so tests move a FakeClock.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass, field
from typing import Any

from idp.errors import LoginThrottled
from idp.services.ports import Clock
from idp.stores import Store

# How long a claim to verify "the one attempt in flight" outlives a process that died
# holding it (an attempt takes a few hundred milliseconds).
IN_FLIGHT_SECONDS = 10


@dataclass(frozen=True)
class ThrottleRule:
    delay_after: int
    delay_base: float
    delay_max: float
    lock_after: int
    lock_seconds: int
    window_seconds: int

    def delay(self, failures: int) -> float:
        """Seconds the attempt after `failures` failures must wait after the last one."""
        if not self.delay_base or failures < self.delay_after:
            return 0.0
        return float(min(self.delay_max, self.delay_base * 2 ** (failures - self.delay_after)))


def ip_bucket(ip: str) -> str:
    """The key an address is throttled under: an IPv4 address itself, an IPv6 address's /64
    (one subscriber's prefix: RFC 6177 §3 / RFC 7934 hand each site or host at least a /64,
    so counting single IPv6 addresses lets one attacker rotate through 2^64 of them)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64)))
    return str(addr)


@dataclass
class _Reservation:
    kind: str
    base: str  # the key's prefix in the store
    period: str  # the key's current period: its counters' suffix
    number: int = 0  # this attempt's number among the period's attempts
    failures: int = 0  # failures of the period when the attempt began
    in_flight: bool = False  # holds the key's one-attempt-at-a-time claim

    def key(self, counter: str) -> str:
        return f"{self.base}:{counter}:{self.period}"


@dataclass
class Attempt:
    """An attempt counted in advance; end it with `Throttle.failed` or `Throttle.succeeded`."""

    reservations: list[_Reservation] = field(default_factory=list)


class Throttle:
    def __init__(self, store: Store, rules: dict[str, ThrottleRule], clock: Clock) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock

    @staticmethod
    def _base(kind: str, value: str) -> str:
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return f"throttle:{kind}:{digest}"

    def _period(self, base: str) -> tuple[str, float]:
        """The key's current period and when its lock ends (0: no lock)."""
        return self._period_of(self._store.get(f"{base}:period"))

    @staticmethod
    def _period_of(period: dict[str, Any] | None) -> tuple[str, float]:
        if period is None:
            return "0", 0.0
        return str(period["id"]), float(period["until"])

    def _new_period(self, res: _Reservation, until: float) -> None:
        rule = self._rules[res.kind]
        # Kept a window past the lock, longer than the counters it replaces.
        self._store.put(f"{res.base}:period", {"id": secrets.token_hex(8), "until": until},
                        rule.lock_seconds + rule.window_seconds)

    def reserve(self, **keys: str) -> Attempt:
        """Count an attempt for each key (kind=value) before verifying it; raise
        LoginThrottled (counting nothing) if any key is locked or must wait."""
        now = self._clock.now()
        attempt = Attempt()
        bases = {kind: self._base(kind, value) for kind, value in keys.items()}
        # Every key's period in one read (one round trip for the account and the IP).
        periods = self._store.get_many([f"{base}:period" for base in bases.values()])
        for (kind, base), stored in zip(bases.items(), periods, strict=True):
            period, until = self._period_of(stored)
            if until > now:
                raise LoginThrottled(int(until - now) + 1, locked=True)
            attempt.reservations.append(_Reservation(kind, base, period))
        # Every key's attempt counted in one round trip; a refusal gives them all back.
        numbers = self._store.incr_many([
            (res.key("attempts"), self._rules[res.kind].window_seconds, 1)
            for res in attempt.reservations])
        try:
            for res, number in zip(attempt.reservations, numbers, strict=True):
                res.number = number
                rule = self._rules[res.kind]
                if res.number > rule.lock_after:
                    # Earlier attempts are still being verified; should they all fail, the
                    # last of them locks the key.
                    raise LoginThrottled(1, locked=False)
                if rule.delay_base:  # (a rule without delays needs no count here)
                    res.failures = self._store.count(res.key("failures"))
                    if rule.delay(res.failures):
                        self._wait_turn(res, rule, now)
        except LoginThrottled:
            self._give_back(attempt.reservations)
            raise
        return attempt

    def _wait_turn(self, res: _Reservation, rule: ThrottleRule, now: float) -> None:
        """Past `delay_after`: one attempt at a time, each `delay` after the last failure."""
        if not self._store.add(f"{res.base}:in-flight", {"t": now}, IN_FLIGHT_SECONDS):
            raise LoginThrottled(1, locked=False)
        res.in_flight = True
        last = self._store.get(res.key("last"))
        if last:
            wait = float(last["t"]) + rule.delay(res.failures) - now
            if wait > 0:
                raise LoginThrottled(int(wait) + 1, locked=False)

    def failed(self, attempt: Attempt) -> list[str]:
        """The attempt failed: it stays counted, as a failure. Return the kinds it locked."""
        now = self._clock.now()
        newly_locked = []
        for res in attempt.reservations:
            rule = self._rules[res.kind]
            self._store.put(res.key("last"), {"t": now}, rule.window_seconds)
            failures = self._store.incr(res.key("failures"), rule.window_seconds)
            if failures == rule.lock_after:
                self._new_period(res, now + rule.lock_seconds)
                newly_locked.append(res.kind)
        self._release(attempt.reservations)
        return newly_locked

    def succeeded(self, attempt: Attempt, *, forgive: tuple[str, ...] = ("account",)) -> None:
        """The attempt succeeded: it gives its attempt back; the kinds in `forgive` that had
        failures start a new period (a success is no reason to forgive a shared IP)."""
        for res in attempt.reservations:
            if res.kind not in forgive:
                continue
            failures = res.failures if self._rules[res.kind].delay_base else self._store.count(
                res.key("failures"))
            if failures:
                self._new_period(res, 0.0)
        self._give_back(attempt.reservations)

    def _give_back(self, reservations: list[_Reservation]) -> None:
        self._store.incr_many([(res.key("attempts"), self._rules[res.kind].window_seconds, -1)
                               for res in reservations])
        self._release(reservations)

    def _release(self, reservations: list[_Reservation]) -> None:
        for res in reservations:
            if res.in_flight:
                self._store.delete(f"{res.base}:in-flight")
                res.in_flight = False

    def failures(self, kind: str, value: str) -> int:
        """Failures counted against the key in its current period."""
        base = self._base(kind, value)
        period, _ = self._period(base)
        return self._store.count(f"{base}:failures:{period}")

    def attempts(self, kind: str, value: str) -> int:
        """Attempts counted against the key in its current period (failures and attempts
        being verified)."""
        base = self._base(kind, value)
        period, _ = self._period(base)
        return self._store.count(f"{base}:attempts:{period}")

    def locked_until(self, kind: str, value: str) -> float | None:
        """When the key's lock ends, if it is locked now."""
        _, until = self._period(self._base(kind, value))
        return until if until > self._clock.now() else None

    def reset(self, **keys: str) -> None:
        """Forget the keys' failures and lift their locks (an operator's unlock)."""
        for kind, value in keys.items():
            res = _Reservation(kind, self._base(kind, value), "")
            self._new_period(res, 0.0)
            self._store.delete(f"{res.base}:in-flight")
