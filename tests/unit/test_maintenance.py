"""`idp db purge` removes only what can no longer be used."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from idp.extensions import db
from idp.models import Token
from idp.services.maintenance import purge_expired


def test_purge_keeps_live_tokens_and_drops_dead_ones(app, client, rp):
    live = rp.tokens(client)
    assert live["access_token"]
    with app.app_context():
        now = int(time.time())
        db.session.add(Token(client_id=rp.client_id, scope="", access_token_hash="a" * 64,
                             family_id="f", issued_at=now - 100, access_expires_at=now - 10))
        p = app.extensions["idp"]
        p.store.put("stale", {"x": 1}, ttl=-1)
        p.store.put("fresh", {"x": 1}, ttl=60)
        db.session.commit()
        counts = purge_expired(db.session, p.store)
        db.session.commit()
        assert counts["tokens"] == 1
        assert db.session.scalar(select(func.count()).select_from(Token)) == 1
        assert p.store.get("fresh") == {"x": 1}
        if "store_entries" in counts:
            assert counts["store_entries"] >= 1
