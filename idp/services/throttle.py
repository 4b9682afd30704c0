"""Brute-force protection for every secret a person types.

Per key (an account, a client IP, later a company): after `delay_after` failures each further
attempt must wait a delay that doubles with each failure; after `lock_after` failures the key is
locked for `lock_seconds`. Keys are counted whether or not the account exists, so the
throttle itself reveals nothing. No sleeping in the server: a refused attempt is answered at
once with the time to wait.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from idp.errors import LoginThrottled
from idp.stores import Store


@dataclass(frozen=True)
class ThrottleRule:
    delay_after: int
    delay_base: float
    delay_max: float
    lock_after: int
    lock_seconds: int
    window_seconds: int


class Throttle:
    def __init__(
        self, store: Store, rules: dict[str, ThrottleRule], clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock

    @staticmethod
    def _key(kind: str, value: str) -> str:
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return f"throttle:{kind}:{digest}"

    def check(self, **keys: str) -> dict[str, int]:
        """Raise LoginThrottled if any of the keys (kind=value) may not try now; else return
        the recent failures of each."""
        now = self._clock()
        failures_by_kind = {}
        for kind, value in keys.items():
            rule = self._rules[kind]
            state = self._store.get(self._key(kind, value))
            failures_by_kind[kind] = int(state.get("failures", 0)) if state else 0
            if not state:
                continue
            if state.get("locked_until", 0) > now:
                raise LoginThrottled(int(state["locked_until"] - now) + 1, locked=True)
            failures = state.get("failures", 0)
            if failures >= rule.delay_after:
                delay = min(rule.delay_max, rule.delay_base * 2 ** (failures - rule.delay_after))
                wait = state.get("last", 0) + delay - now
                if wait > 0:
                    raise LoginThrottled(int(wait) + 1, locked=False)
        return failures_by_kind

    def record_failure(self, **keys: str) -> list[str]:
        """Count a failure for each key; return the kinds that just became locked."""
        now = self._clock()
        newly_locked = []
        for kind, value in keys.items():
            rule = self._rules[kind]
            key = self._key(kind, value)
            state = self._store.get(key) or {"failures": 0}
            if state.get("locked_until", 0) and state["locked_until"] <= now:
                state = {"failures": 0}  # a served lock starts a fresh count
            state["failures"] = state.get("failures", 0) + 1
            state["last"] = now
            if state["failures"] >= rule.lock_after and not state.get("locked_until"):
                state["locked_until"] = now + rule.lock_seconds
                newly_locked.append(kind)
            ttl = max(rule.window_seconds, int(state.get("locked_until", now) - now) + 1)
            self._store.put(key, state, ttl)
        return newly_locked

    def begin(self, kind: str, value: str, ttl: int = 10) -> bool:
        """Claim the right to verify one attempt for this key; False if one is in flight.

        Checking before a slow hash and counting after it leaves a window in which parallel
        guesses all pass the check; once a key has failures, its attempts run one at a time.
        """
        return self._store.add(self._key(f"busy-{kind}", value), {"t": self._clock()}, ttl)

    def end(self, kind: str, value: str) -> None:
        self._store.delete(self._key(f"busy-{kind}", value))

    def reset(self, **keys: str) -> None:
        for kind, value in keys.items():
            self._store.delete(self._key(kind, value))
