"""The Clock port: the system clock, and a clock that tests move by hand."""

from __future__ import annotations

import time


class SystemClock:
    """The real time."""

    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
