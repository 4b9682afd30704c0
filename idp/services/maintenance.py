"""Housekeeping: drop what can no longer be used (run `idp db purge` from cron)."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import and_, delete, or_

from idp.models import AuthorizationCode, Token
from idp.models.base import DbSession, utcnow
from idp.stores import DatabaseStore, Store

# Used codes stay a while so that a late replay is still recognised and revokes its tokens.
USED_CODE_GRACE = dt.timedelta(days=1)


def purge_expired(session: DbSession, store: Store) -> dict[str, int]:
    now = int(time.time())
    counts = {}
    if isinstance(store, DatabaseStore):  # Redis expires its keys itself
        counts["store_entries"] = store.purge_expired()
    codes = session.execute(delete(AuthorizationCode).where(or_(
        AuthorizationCode.used_at < utcnow() - USED_CODE_GRACE,
        and_(AuthorizationCode.used_at.is_(None),
             AuthorizationCode.expires_at < utcnow() - USED_CODE_GRACE),
    )))
    counts["authorization_codes"] = int(getattr(codes, "rowcount", 0) or 0)
    tokens = session.execute(delete(Token).where(
        Token.access_expires_at < now,
        or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < now),
    ))
    counts["tokens"] = int(getattr(tokens, "rowcount", 0) or 0)
    return counts
