"""`idp keys reencrypt`: rotating IDP_SECRET_KEY without losing the signing keys (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from idp.cli import main
from idp.services.keys import KeyCipher

OLD = "old-secret-for-the-rotation-test-0123456789"
NEW = "new-secret-for-the-rotation-test-9876543210"


def _run(args: list[str], url: str, secret: str, input: str | None = None):  # noqa: A002
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": url, "IDP_SECRET_KEY": secret}
    return CliRunner().invoke(main, args, input=input, env=env)


def _private_keys(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(text("SELECT private_key_encrypted FROM signing_keys"))]
    engine.dispose()
    return rows


def test_keys_follow_a_new_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rotate.sqlite3'}"
    assert _run(["db", "upgrade"], url, OLD).exit_code == 0
    before = _private_keys(url)
    assert len(before) == 2

    wrong = _run(["keys", "reencrypt", "--old-secret-stdin", "--json"], url, NEW,
                 input="not-the-old-secret\n")
    assert wrong.exit_code == 1 and json.loads(wrong.stdout)["error"] == "unreadable"
    assert _private_keys(url) == before  # nothing half-done

    done = _run(["keys", "reencrypt", "--old-secret-stdin", "--json"], url, NEW,
                input=OLD + "\n")
    assert done.exit_code == 0, done.output
    assert len(json.loads(done.stdout)["reencrypted"]) == 2
    new = KeyCipher(NEW)
    for sealed in _private_keys(url):
        assert new.decrypt(sealed).startswith(b"-----BEGIN") or new.decrypt(sealed)

    again = _run(["keys", "reencrypt", "--old-secret-stdin", "--json"], url, NEW,
                 input=OLD + "\n")
    assert again.exit_code == 0
    data = json.loads(again.stdout)
    assert data["reencrypted"] == [] and len(data["already_current"]) == 2
    assert OLD not in again.output
