"""The audit trail of security events (login, lockout, token reuse, logout, keys, clients)."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

from sqlalchemy import Table, insert

from idp.models import AuditEvent
from idp.models.base import DbSession, utcnow

log = logging.getLogger("idp.audit")

# The events this provider records; tests and operators can rely on these names.
EVENTS = frozenset(
    {
        "login.success",
        "login.failure",
        "login.throttled",
        "login.locked",
        "logout",
        "session.revoked",
        "token.code_replay",
        "token.refresh_reuse",
        "token.revoked",
        "keys.rotated",
        "client.added",
        "client.removed",
        "member.added",
        "member.password_change_required",
        "member.password_changed",
        "consent.granted",
        # Member-wide revocation and the operator's lock (idp/services/revocation.py).
        "member.revoked",
        "member.locked",
        "member.unlocked",
        # Back-channel logout deliveries that failed (retried) or were given up.
        "backchannel.failed",
        "backchannel.gave_up",
    }
)


# A Core INSERT: events are written on hot paths (every login), never read back there.
_INSERT = insert(cast(Table, AuditEvent.__table__))


def record(
    session: DbSession,
    event: str,
    *,
    member_id: int | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Add one event to the caller's transaction (committed with the change it describes)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    session.connection().execute(
        _INSERT,
        {"at": utcnow(), "event": event, "member_id": member_id, "client_id": client_id,
         "ip": ip, "detail": json.dumps(detail, default=str) if detail else None},
    )
    log.info("audit %s member=%s client=%s ip=%s %s", event, member_id, client_id, ip, detail)
