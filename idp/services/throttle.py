"""Brute-force protection for every secret a person types.

Per key (an account, a client IP, later a company): after `delay_after` failures each further
attempt must wait a delay that doubles with each failure; after `lock_after` failures the key is
locked for `lock_seconds`. Keys are counted whether or not the account exists, so the
throttle itself reveals nothing. No sleeping in the server: a refused attempt is answered at
once with the time to wait.

Attempts are counted *before* the secret is verified, with one atomic increment per key
(`Store.incr`): attempt number n is refused when n exceeds `lock_after`, so however many
guesses arrive at once, at most `lock_after` of them are ever verified per lock period, and
no count is lost. A failure keeps its reservation; a success gives it back (or forgives the
key). Past `delay_after`, attempts on a key also run one at a time (`Store.add`), each after
the delay since the previous failure.

The store's own expiry only collects garbage: whether a lock or a delay still applies is
decided from the times kept in the values and the Clock, so tests move a FakeClock.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

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
    epoch: str  # a served lock starts a fresh count: counters are per lock epoch
    number: int = 0  # this attempt's number in the count
    in_flight: bool = False  # holds the key's one-attempt-at-a-time claim


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

    def _epoch(self, base: str) -> tuple[str, float]:
        lock = self._store.get(f"{base}:lock")
        until = float(lock["until"]) if lock else 0.0
        return (f"{until:.6f}" if lock else "0"), until

    def reserve(self, **keys: str) -> Attempt:
        """Count an attempt for each key (kind=value) before verifying it; raise
        LoginThrottled (counting nothing) if any key is locked or must wait."""
        now = self._clock.now()
        attempt = Attempt()
        for kind, value in keys.items():
            base = self._base(kind, value)
            epoch, until = self._epoch(base)
            if until > now:
                raise LoginThrottled(int(until - now) + 1, locked=True)
            attempt.reservations.append(_Reservation(kind, base, epoch))
        done: list[_Reservation] = []
        try:
            for res in attempt.reservations:
                rule = self._rules[res.kind]
                res.number = self._store.incr(self._count_key(res), rule.window_seconds)
                done.append(res)
                if res.number > rule.lock_after:
                    # The earlier attempts are still being verified: the last of them locks
                    # the key if it fails.
                    raise LoginThrottled(1, locked=False)
                if rule.delay(res.number - 1):
                    self._wait_turn(res, rule, now)
        except LoginThrottled:
            self._give_back(done)
            raise
        return attempt

    def _wait_turn(self, res: _Reservation, rule: ThrottleRule, now: float) -> None:
        """Past `delay_after`: one attempt at a time, each `delay` after the last failure."""
        if not self._store.add(f"{res.base}:in-flight", {"t": now}, IN_FLIGHT_SECONDS):
            raise LoginThrottled(1, locked=False)
        res.in_flight = True
        last = self._store.get(self._last_key(res))
        if last:
            wait = float(last["t"]) + rule.delay(res.number - 1) - now
            if wait > 0:
                raise LoginThrottled(int(wait) + 1, locked=False)

    def failed(self, attempt: Attempt) -> list[str]:
        """The attempt failed: it stays counted. Return the kinds that it locked."""
        now = self._clock.now()
        newly_locked = []
        for res in attempt.reservations:
            rule = self._rules[res.kind]
            self._store.put(self._last_key(res), {"t": now}, rule.window_seconds)
            if res.number == rule.lock_after:
                # The lock record outlives the lock by a window: its epoch keeps the count
                # of the new period apart from the one that locked.
                self._store.put(f"{res.base}:lock", {"until": now + rule.lock_seconds},
                                rule.lock_seconds + rule.window_seconds)
                newly_locked.append(res.kind)
        self._release(attempt.reservations)
        return newly_locked

    def succeeded(self, attempt: Attempt, *, forgive: tuple[str, ...] = ("account",)) -> None:
        """The attempt succeeded: the kinds in `forgive` start afresh, the others get this
        attempt back (a success is not a failure of the shared IP)."""
        for res in attempt.reservations:
            if res.kind in forgive:
                self._store.delete(self._count_key(res))
                self._store.delete(self._last_key(res))
        self._give_back([r for r in attempt.reservations if r.kind not in forgive])
        self._release(attempt.reservations)

    def _give_back(self, reservations: list[_Reservation]) -> None:
        for res in reservations:
            self._store.incr(self._count_key(res), self._rules[res.kind].window_seconds, -1)
        self._release(reservations)

    def _release(self, reservations: list[_Reservation]) -> None:
        for res in reservations:
            if res.in_flight:
                self._store.delete(f"{res.base}:in-flight")
                res.in_flight = False

    def failures(self, kind: str, value: str) -> int:
        """Attempts counted against the key in its current period (failures and attempts
        being verified)."""
        base = self._base(kind, value)
        epoch, _ = self._epoch(base)
        return self._store.count(f"{base}:n:{epoch}")

    def locked_until(self, kind: str, value: str) -> float | None:
        """When the key's lock ends, if it is locked now."""
        _, until = self._epoch(self._base(kind, value))
        return until if until > self._clock.now() else None

    def reset(self, **keys: str) -> None:
        """Forget the keys' failures and lift their locks (an operator's unlock): a lock
        that ends now starts a new, empty period."""
        now = self._clock.now()
        for kind, value in keys.items():
            base = self._base(kind, value)
            rule = self._rules[kind]
            self._store.put(f"{base}:lock", {"until": now}, rule.lock_seconds + rule.window_seconds)
            self._store.delete(f"{base}:in-flight")

    @staticmethod
    def _count_key(res: _Reservation) -> str:
        return f"{res.base}:n:{res.epoch}"

    @staticmethod
    def _last_key(res: _Reservation) -> str:
        return f"{res.base}:last:{res.epoch}"
