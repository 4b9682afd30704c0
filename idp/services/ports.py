"""Ports: the interfaces between the use cases and the outside world.

Each port has a real adapter and an emulator or fake beside it (idp/adapters/), picked once
in the composition root (idp/wiring.py) from configuration. Services depend on these
Protocols only, never on an adapter.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """The time, so that tests move it instead of sleeping."""

    def now(self) -> float:
        """Seconds since the epoch (like time.time())."""
        ...
