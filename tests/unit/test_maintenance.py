"""`idp db purge` removes only what can no longer be used."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import func, select

from idp.extensions import db
from idp.models import AuthorizationCode, KeyValue, Member, Token
from idp.models.base import utcnow
from idp.services.maintenance import USED_CODE_GRACE, purge_expired
from idp.stores import DatabaseStore


def test_purge_keeps_live_tokens_and_drops_dead_ones(app, client, rp):
    live = rp.tokens(client)
    assert live["access_token"]
    with app.app_context():
        now = int(time.time())
        db.session.add(Token(client_id=rp.client_id, scope="", access_token_hash="a" * 64,
                             family_id="f", issued_at=now - 100, access_expires_at=now - 10))
        db.session.commit()
        p = app.extensions["idp"]
        counts = purge_expired(db.session, p.store)
        db.session.commit()
        assert counts["tokens"] == 1
        assert db.session.scalar(select(func.count()).select_from(Token)) == 1
        # Only the database store is purged here; Redis expires its keys itself.
        assert ("store_entries" in counts) == isinstance(p.store, DatabaseStore)


def test_purge_drops_expired_store_entries_and_keeps_live_ones(app):
    with app.app_context():
        store = DatabaseStore(lambda: db.session)  # the embedded store, whatever the app uses
        store.put("stale", {"x": 1}, ttl=-1)
        store.put("fresh", {"x": 2}, ttl=60)
        db.session.commit()
        counts = purge_expired(db.session, store)
        db.session.commit()
        assert counts["store_entries"] == 1
        assert db.session.scalars(select(KeyValue.key)).all() == ["fresh"]
        assert store.get("fresh") == {"x": 2}


def test_purge_drops_codes_past_the_grace_and_keeps_the_rest(app, rp):
    now = utcnow()
    long_ago = now - USED_CODE_GRACE - dt.timedelta(hours=1)
    recently = now - dt.timedelta(hours=1)
    codes = {
        # code_hash prefix: (used_at, expires_at)
        "used-long-ago": (long_ago, long_ago),
        "expired-long-ago": (None, long_ago),
        # A used code stays a while so that a late replay still revokes its tokens.
        "used-recently": (recently, now + dt.timedelta(minutes=5)),
        "expired-recently": (None, recently),
        "live": (None, now + dt.timedelta(minutes=5)),
    }
    with app.app_context():
        member_id = db.session.scalar(select(Member.id).where(Member.login_id == rp.login_id))
        for name, (used_at, expires_at) in codes.items():
            db.session.add(AuthorizationCode(
                code_hash=name.ljust(64, "0"), client_id=rp.client_id, member_id=member_id,
                redirect_uri=rp.redirect_uri, scope="openid", auth_time=int(time.time()),
                expires_at=expires_at, used_at=used_at))
        db.session.commit()
        counts = purge_expired(db.session, app.extensions["idp"].store)
        db.session.commit()
        assert counts["authorization_codes"] == 2
        kept = {h.rstrip("0") for h in db.session.scalars(select(AuthorizationCode.code_hash))}
        assert kept == {"used-recently", "expired-recently", "live"}
