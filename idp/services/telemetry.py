"""What services tell operators about, without knowing how it is shown (issue 10).

A port, not a metrics library: services call `event()` (audit.record does, for every security
event) and `delivery()`; the app plugs a sink in at start-up (`set_sink`; the Prometheus
adapter is idp/adapters/prometheus.py). Without a sink (the CLI, unit tests) both cost one
attribute read.

`request_id` is the id of the HTTP request being served (idp/observability.py sets it; the
audit trail and every log line carry it); None outside a request (the back-channel worker,
the CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

request_id: ContextVar[str | None] = ContextVar("idp_request_id", default=None)


class TelemetrySink(Protocol):
    def event(self, name: str, detail: Mapping[str, Any]) -> None:
        """A security event of the audit trail (its name is one of audit.EVENTS)."""

    def delivery(self, outcome: str) -> None:
        """A back-channel logout delivery: delivered, failed (retried) or gave_up."""


class _Sink:
    current: TelemetrySink | None = None


def set_sink(sink: TelemetrySink | None) -> None:
    _Sink.current = sink


def event(name: str, detail: Mapping[str, Any]) -> None:
    sink = _Sink.current
    if sink is not None:
        sink.event(name, detail)


def delivery(outcome: str) -> None:
    sink = _Sink.current
    if sink is not None:
        sink.delivery(outcome)


def current_request_id() -> str | None:
    return request_id.get()
