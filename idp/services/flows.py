"""Server-side state of multi-step flows: sign-up wizards, SNS transactions, certificate challenges.

A flow is the state a user builds over several requests before one final step uses it. The
browser carries only the flow's random id; the data stays in the `Store`. Every flow is

- bound to the browser that started it: the store keeps the SHA-256 of the browser id (the
  `idp_browser` cookie, as for interactions), so a flow id leaked in a link or a log is useless
  in another browser;
- short-lived: each kind declares its lifetime, measured on the `Clock` port (tests move a
  FakeClock instead of sleeping); the store's own expiry is only the backstop;
- single use: `consume` hands the flow out once. Two concurrent consumes race for one
  `Store.add` claim and exactly one wins, on every store (an INSERT … ON CONFLICT DO NOTHING
  in the database, SET NX in Redis).

Example (a later sign-up service)::

    SIGNUP = FlowKind("signup", ttl=1800)

    flow = flows.start(SIGNUP, {"terms": ["tos"]}, browser=browser_id)       # step 1
    flow = flows.get(SIGNUP, flow_id, browser=browser_id)                    # each step
    flows.update(flow, {**flow.data, "name": name})
    flow = flows.consume(SIGNUP, flow_id, browser=browser_id)                # the last step
    if flow is None:  # expired, used, another browser's, or never existed: start again
        ...
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from idp.services.ports import Clock
from idp.stores import Store


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class FlowKind:
    """One kind of flow, declared by the service that runs it, with its lifetime in seconds."""

    name: str
    ttl: int

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError(f"flow kind name {self.name!r}: non-empty, without ':'")
        if self.ttl <= 0:
            raise ValueError(f"flow kind {self.name!r}: ttl must be positive")


@dataclass
class Flow:
    id: str
    kind: str
    data: dict[str, Any]
    browser: str  # SHA-256 of the browser id
    created: float
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "data": self.data, "browser": self.browser,
                "created": self.created, "expires_at": self.expires_at}


class Flows:
    """Start, read, update and consume flows over a `Store`."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def start(self, kind: FlowKind, data: dict[str, Any], *, browser: str) -> Flow:
        """A new flow of `kind` for this browser; its id is what the browser carries."""
        if not browser:
            raise ValueError("a flow needs the browser id it is bound to")
        now = self._clock.now()
        flow = Flow(id=secrets.token_urlsafe(24), kind=kind.name, data=data,
                    browser=_h(browser), created=now, expires_at=now + kind.ttl)
        self._store.put(self._key(flow.id), flow.to_dict(), kind.ttl)
        return flow

    def get(self, kind: FlowKind, flow_id: str | None, *, browser: str | None) -> Flow | None:
        """The live flow, only for the browser that started it and only as `kind`."""
        flow = self._load(kind, flow_id, browser)
        if flow is None or self._store.get(self._claim_key(flow.id)) is not None:
            return None  # consumed (a concurrent update may have written it back)
        return flow

    def update(self, flow: Flow, data: dict[str, Any]) -> None:
        """Replace the flow's data; the flow keeps its original deadline."""
        remaining = flow.expires_at - self._clock.now()
        if remaining <= 0:
            return  # expired: `get` and `consume` will not return it
        flow.data = data
        self._store.put(self._key(flow.id), flow.to_dict(), max(1, int(remaining) + 1))

    def consume(self, kind: FlowKind, flow_id: str | None, *, browser: str | None) -> Flow | None:
        """Hand the flow out once and end it; None when another consume already had it."""
        flow = self._load(kind, flow_id, browser)
        if flow is None:
            return None
        # The claim outlives the flow so that a stale copy can never be consumed again.
        ttl = max(1, int(flow.expires_at - self._clock.now()) + 1)
        if not self._store.add(self._claim_key(flow.id), {"kind": kind.name}, ttl):
            return None
        self._store.delete(self._key(flow.id))
        return flow

    def discard(self, flow_id: str) -> None:
        """End a flow without using it (the user cancelled)."""
        if flow_id:
            self._store.delete(self._key(flow_id))

    def _load(self, kind: FlowKind, flow_id: str | None, browser: str | None) -> Flow | None:
        if not flow_id or not browser:
            return None
        data = self._store.get(self._key(flow_id))
        if data is None or data["kind"] != kind.name:
            return None
        if not secrets.compare_digest(data["browser"], _h(browser)):
            return None
        if self._clock.now() >= data["expires_at"]:
            self._store.delete(self._key(flow_id))
            return None
        return Flow(id=flow_id, **data)

    @staticmethod
    def _key(flow_id: str) -> str:
        return f"flow:{flow_id}"

    @staticmethod
    def _claim_key(flow_id: str) -> str:
        return f"flow-used:{flow_id}"
