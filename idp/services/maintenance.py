"""Housekeeping: drop what can no longer be used (run `idp db purge` from cron)."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import and_, delete, or_

from idp.models import AuthorizationCode, DevMessage, Token
from idp.models.base import DbSession
from idp.stores import DatabaseStore, Store

# Used codes stay a while so that a late replay is still recognised and revokes its tokens.
USED_CODE_GRACE = dt.timedelta(days=1)


def purge_expired(session: DbSession, store: Store, *, now: float | None = None
                  ) -> dict[str, int]:
    """Delete what has expired at `now` (epoch seconds; the system time when omitted): the
    database store's entries (SSO sessions, interactions, flows — verification requests and
    results among them — throttle counters), used or expired codes past their grace, tokens
    whose access and refresh lifetimes are both over. The caller commits."""
    now = int(time.time()) if now is None else int(now)
    utc_now = dt.datetime.fromtimestamp(now, dt.UTC).replace(tzinfo=None)
    counts = {}
    if isinstance(store, DatabaseStore):  # Redis expires its keys itself
        counts["store_entries"] = store.purge_expired()
    codes = session.execute(delete(AuthorizationCode).where(or_(
        AuthorizationCode.used_at < utc_now - USED_CODE_GRACE,
        and_(AuthorizationCode.used_at.is_(None),
             AuthorizationCode.expires_at < utc_now - USED_CODE_GRACE),
    )))
    counts["authorization_codes"] = int(getattr(codes, "rowcount", 0) or 0)
    tokens = session.execute(delete(Token).where(
        Token.access_expires_at < now,
        or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < now),
    ))
    counts["tokens"] = int(getattr(tokens, "rowcount", 0) or 0)
    return counts


def purge_dev_messages(session: DbSession, *, older_than: dt.datetime) -> int:
    """Delete development-outbox messages created before `older_than` (naive UTC). The
    caller commits."""
    result = session.execute(delete(DevMessage).where(DevMessage.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
