"""bench/scale_bench.py loads the rows `idp members add` writes (issue 10), on SQLite."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import cast

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, Table, create_engine, func, select

from idp.cli import main
from idp.models import AuditEvent, Member

ROOT = Path(__file__).resolve().parent.parent


def _scale_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "bench/scale_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_bench"] = module
    spec.loader.exec_module(module)
    return module


sb = _scale_bench()


def _cli(env: dict[str, str], *argv: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, list(argv), input=stdin, env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _add(env: dict[str, str], n: int) -> None:
    _cli(env, "members", "add", "--login-id", sb.login_id(n), "--name", sb.member_name(n),
         "--email", sb.member_email(n), "--password-stdin", stdin=sb.PASSWORD + "\n")


@pytest.fixture()
def loaded(tmp_path: Path) -> Iterator[tuple[Engine, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'scale.db'}"
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": url, "IDP_REDIS_URL": ""}
    _cli(env, "db", "upgrade")
    _add(env, 0)  # member 0 by the CLI: the loader's model
    engine = create_engine(url)
    yield engine, env
    engine.dispose()


def _rows(engine, n: int) -> tuple[dict, dict]:
    with engine.connect() as conn:
        return sb.template_rows(conn, n)


def test_bulk_rows_equal_the_cli_rows_but_the_unique_columns(loaded) -> None:
    engine, env = loaded
    _add(env, 7)  # member 7 by the CLI, then removed: the loader makes it again from member 0
    with engine.begin() as conn:
        cli7_member, cli7_audit = sb.template_rows(conn, 7)
        audit_events, members = cast(Table, AuditEvent.__table__), cast(Table, Member.__table__)
        conn.execute(audit_events.delete().where(AuditEvent.id == cli7_audit["id"]))
        conn.execute(members.delete().where(Member.id == cli7_member["id"]))
    assert sb.load_members(engine, 20, chunk=6) > 0
    member, audit = _rows(engine, 7)
    assert member.keys() == cli7_member.keys() and audit.keys() == cli7_audit.keys()
    for column, value in cli7_member.items():
        if column in ("id", "subject", "created_at", "updated_at", "password_hash"):
            continue  # login ID, name and e-mail are member 7's in both
        assert member[column] == value, column
    for column, value in cli7_audit.items():
        if column not in sb.AUDIT_UNIQUE:
            assert audit[column] == value, column
    assert member["created_at"] == member["updated_at"]
    assert len(member["subject"]) == len(cli7_member["subject"]) == 32
    # One argon2id hash (member 0's, made by the CLI) for every loaded member.
    member0, _ = _rows(engine, 0)
    assert member["password_hash"] == member0["password_hash"]
    assert member0["password_hash"].startswith("$argon2id$")
    assert audit["member_id"] == member["id"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Member)).scalar() == 20
        assert conn.execute(select(func.count(func.distinct(Member.subject)))).scalar() == 20
        assert conn.execute(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.event == "member.added")).scalar() == 20


def test_a_loaded_member_is_one_the_cli_and_the_login_know(loaded) -> None:
    engine, env = loaded
    sb.load_members(engine, 12, chunk=5)
    # The login ID is taken: the CLI refuses it as for a member it made itself.
    result = CliRunner().invoke(main, ["members", "add", "--login-id", sb.login_id(11),
                                       "--name", "x", "--password-stdin", "--json"],
                                input=sb.PASSWORD + "\n", env=env)
    assert result.exit_code != 0 and "login_id" in result.output
    # A new member after the load gets the next id (the loader's explicit ids do not collide).
    _cli(env, "members", "add", "--login-id", "after1load", "--name", "After",
         "--password-stdin", stdin=sb.PASSWORD + "\n")
    # The bench password signs a loaded member in through the provider's own check.
    from idp import create_app
    from idp.extensions import db
    from idp.services.members import authenticate_password

    app = create_app({"database_url": env["IDP_DATABASE_URL"], "redis_url": ""})
    with app.app_context():
        p = app.extensions["idp"]
        assert p.policy.check_login_id(sb.login_id(5)) == sb.login_id(5)
        signed_in = authenticate_password(db.session, p.passwords, p.throttle,
                                          login_id=sb.login_id(5), password=sb.PASSWORD,
                                          ip="127.0.0.1")
        with engine.connect() as conn:
            assert signed_in.member_id == sb.template_rows(conn, 5)[0]["id"]
        db.session.remove()
        db.engine.dispose()
