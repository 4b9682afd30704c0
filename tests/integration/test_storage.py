"""Storage (issue 11, finding 9): audit detail as one JSON object, the member_id indexes, and
models that match the migrated schema. Runs on SQLite and, in the PostgreSQL pass, there too.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from idp.extensions import db
from idp.migrate import alembic_config, upgrade
from idp.models import AuditEvent, Base
from idp.services import audit


def test_models_match_the_migrated_schema(migrated: str) -> None:
    """What `alembic check` does: autogenerate finds nothing left to migrate."""
    engine = create_engine(migrated)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_audit_detail_is_stored_as_one_json_object(app: Any) -> None:
    when = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)
    with app.app_context():
        audit.record(db.session, "login.failure", member_id=7, ip="192.0.2.1",
                     reason="password", attempts=3, at=when, methods=("pwd", "otp"))
        audit.record(db.session, "member.added", member_id=7)
        db.session.commit()
        raw = db.session.execute(
            text("SELECT event, detail FROM audit_events ORDER BY id")).all()
        assert json.loads(raw[0].detail) == {"reason": "password", "attempts": 3,
                                             "at": str(when), "methods": ["pwd", "otp"]}
        assert raw[1].detail is None
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "login.failure"))
        assert event is not None and event.detail["reason"] == "password"


# --- migration 0005 on a database of its own ------------------------------------------------

REVISION = "0005"
INDEXES = {
    "authorization_codes": ({"ix_authorization_codes_member_id"}, set()),
    "audit_events": ({"ix_audit_events_member_at"}, set()),
    "tokens": ({"ix_tokens_member_client"}, {"ix_tokens_member_id"}),
}


@pytest.fixture()
def scratch_url(migrated: str, tmp_path: Any) -> Iterator[str]:
    """An empty database of the same kind as the suite's (PostgreSQL: a private schema)."""
    if migrated.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    schema = f"scratch_{secrets.token_hex(4)}"
    admin = create_engine(migrated)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = make_url(migrated).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _details(url: str) -> list[str | None]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT detail FROM audit_events ORDER BY id")))
    finally:
        engine.dispose()


def _index_names(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        return {table: {ix["name"] for ix in inspector.get_indexes(table)} for table in INDEXES}
    finally:
        engine.dispose()


def test_migration_0005_unwraps_double_encoded_detail_and_fixes_the_indexes(
    scratch_url: str,
) -> None:
    cfg = alembic_config(scratch_url)
    before = ScriptDirectory.from_config(cfg).get_revision(REVISION).down_revision
    assert isinstance(before, str)
    upgrade(scratch_url, before)
    objects = [{"reason": "password", "retry_after": 30}, {"scope": "openid 한국어 \"q\""}]
    engine = create_engine(scratch_url)
    with engine.begin() as conn:
        for detail in [*objects, None]:  # written the old way: encoded twice
            conn.execute(text(
                "INSERT INTO audit_events (at, event, detail) VALUES (:at, 'login.failure', :d)"),
                {"at": dt.datetime(2026, 12, 1), "d": None if detail is None
                 else json.dumps(json.dumps(detail))})
    engine.dispose()
    old = _details(scratch_url)

    upgrade(scratch_url, REVISION)
    assert [None if d is None else json.loads(d) for d in _details(scratch_url)] == [
        *objects, None]
    names = _index_names(scratch_url)
    for table, (present, absent) in INDEXES.items():
        assert present <= names[table] and not absent & names[table], (table, names[table])

    command.downgrade(cfg, before)  # and back: the old encoding, the old indexes
    assert _details(scratch_url) == old
    assert "ix_tokens_member_id" in _index_names(scratch_url)["tokens"]
    upgrade(scratch_url, REVISION)
    assert [None if d is None else json.loads(d) for d in _details(scratch_url)] == [
        *objects, None]
