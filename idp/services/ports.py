"""Ports: the interfaces between the use cases and the outside world.

Each port has a real adapter and an emulator or fake beside it (idp/adapters/), picked once
in the composition root (idp/wiring.py) from configuration. Services depend on these
Protocols only, never on an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """The time, so that tests move it instead of sleeping."""

    def now(self) -> float:
        """Seconds since the epoch (like time.time())."""
        ...


@dataclass(frozen=True)
class BackchannelDelivery:
    """What became of one POST of a logout token (Back-Channel Logout 1.0 §2.8)."""

    delivered: bool
    # The relying party's HTTP status, None when it was never reached (or did not answer).
    status: int | None = None
    # Why it was not delivered, for the audit trail and the retry (never the token itself).
    error: str | None = None


class BackchannelSender(Protocol):
    """Delivers a signed logout token to a relying party's `backchannel_logout_uri`."""

    def send(self, uri: str, logout_token: str) -> BackchannelDelivery:
        """POST it (§2.5); never raises for a relying party that fails, answers it."""
        ...
