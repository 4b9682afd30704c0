"""`idp demo seed` also seeds old accounts to try the conversion with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from idp.demo import DEMO_LEGACY_PASSWORD, seed
from idp.extensions import db
from idp.models import LegacyAccount, Member
from idp.services.legacy_passwords import verify_legacy_password


def test_demo_seed_adds_old_accounts_whose_old_passwords_work(app: Any, tmp_path: Path) -> None:
    with app.app_context():
        result = seed(db.session, app.extensions["idp"], tmp_path / "clients.json")
        again = seed(db.session, app.extensions["idp"], tmp_path / "clients.json")
        assert {"members", "company", "sites", "clients_file", "legacy"} <= set(result)
        assert [a["legacy_id"] for a in again["legacy"]] == [
            a["legacy_id"] for a in result["legacy"]]
        rows = {a.legacy_id: a for a in db.session.scalars(select(LegacyAccount))}
        assert set(rows) == {"yoonharim", "harim.yoon", "demouser1", "oldpersonal1"}
        for shown in result["legacy"]:
            row = rows[shown["legacy_id"]]
            assert shown["password"] == DEMO_LEGACY_PASSWORD and row.status == "pending"
            assert row.password_scheme == shown["scheme"]
            assert verify_legacy_password(row.password_scheme or "", row.password_hash or "",
                                          row.password_salt, DEMO_LEGACY_PASSWORD)
            assert not verify_legacy_password(row.password_scheme or "",
                                              row.password_hash or "", row.password_salt,
                                              "wrong")
        # one person, two sites, found by CI; and an old ID that a unified member holds
        assert rows["yoonharim"].site != rows["harim.yoon"].site
        assert rows["yoonharim"].ci_hash and rows["yoonharim"].ci_hash == rows["harim.yoon"].ci_hash
        assert db.session.scalar(select(Member).where(Member.login_id == "demouser1"))
        assert rows["oldpersonal1"].member_type == "personal"
