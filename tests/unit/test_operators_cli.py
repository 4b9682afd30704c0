"""`idp operators add|list|disable|reset-totp` (issue 7): the password from standard input,
checked and hashed; the TOTP secret sealed; the otpauth:// URI whose codes sign in."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, Operator
from tests.operator_support import TestOperator, sign_in

PASSWORD = "Op3rator!desk"


def _run(args: list[str], database_url: str, stdin: str | None = None) -> Any:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": database_url}
    return CliRunner().invoke(main, args, env=env, input=stdin)


def _add(migrated: str, login_id: str = "ops2026", name: str = "김운영",
         password: str = PASSWORD) -> Any:
    return _run(["operators", "add", "--login-id", login_id, "--name", name,
                 "--password-stdin", "--json"], migrated, stdin=password + "\n")


def _secret(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["secret"][0]


def test_add_prints_the_otpauth_uri_as_json(app, migrated):
    result = _add(migrated)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"login_id", "name", "otpauth_uri"}
    assert (data["login_id"], data["name"]) == ("ops2026", "김운영")
    uri = data["otpauth_uri"]
    assert uri.startswith("otpauth://totp/KOTRA%20IDP:ops2026?secret=")
    assert uri.endswith("&issuer=KOTRA%20IDP")
    parts = urlsplit(uri)
    assert unquote(parts.path) == "/KOTRA IDP:ops2026"
    secret = _secret(uri)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # 160 bits, base32
    totp = pyotp.parse_uri(uri)
    assert totp.issuer == "KOTRA IDP" and totp.digits == 6 and totp.interval == 30
    with app.app_context():
        op = db.session.scalar(select(Operator))
        assert op.password_hash.startswith("$argon2id$") and PASSWORD not in op.password_hash
        assert secret not in op.totp_sealed  # sealed, not stored in clear
        p = app.extensions["idp"]
        assert p.personal_data.open(op.totp_sealed, "operator_totp") == secret
        assert p.passwords.verify(op.password_hash, PASSWORD)
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "operator.added"))
        assert event.detail["login_id"] == "ops2026"


def test_the_uri_signs_in_at_the_console(app, client, clock, migrated):
    clock.advance(30 - clock.now() % 30 + 2)
    data = json.loads(_add(migrated).output)
    op = TestOperator("ops2026", PASSWORD, _secret(data["otpauth_uri"]), data["otpauth_uri"])
    resp = sign_in(client, op, clock)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/operator/")
    assert client.get("/operator/").status_code == 200


def test_the_human_form_shows_the_uri(app, migrated):
    result = _run(["operators", "add", "--login-id", "ops2027", "--name", "이운영",
                   "--password-stdin"], migrated, stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "operator ops2027 (이운영) created" in result.output
    assert "otpauth://totp/KOTRA%20IDP:ops2027?secret=" in result.output


def test_a_taken_login_id_is_refused_clearly(app, migrated):
    assert _add(migrated).exit_code == 0
    again = _add(migrated, login_id="OPS2026")
    assert again.exit_code == 1
    data = json.loads(again.output.splitlines()[0])
    assert data["error"] == "already_exists" and data["field"] == "login_id"
    assert "'OPS2026' is already taken" in data["message"]
    with app.app_context():
        assert len(list(db.session.scalars(select(Operator)))) == 1


@pytest.mark.parametrize(("login_id", "name", "password", "field"), [
    ("ops2026", "김운영", "short1!", "password"),
    ("ops2026", "김운영", "password123", "password"),  # no symbol
    ("ops", "김운영", PASSWORD, "login_id"),
    ("ops-2026", "김운영", PASSWORD, "login_id"),
    ("ops2026", " ", PASSWORD, "name"),
])
def test_bad_input_is_refused_with_its_option(app, migrated, login_id, name, password, field):
    result = _add(migrated, login_id=login_id, name=name, password=password)
    assert result.exit_code == 1
    data = json.loads(result.output.splitlines()[0])
    assert data["error"] == "invalid_input" and data["field"] == field
    with app.app_context():
        assert db.session.scalar(select(Operator)) is None


def test_list_disable_and_reset_totp(app, client, clock, migrated):
    from tests.operator_support import TestOperator
    clock.advance(30 - clock.now() % 30 + 2)
    first = json.loads(_add(migrated).output)
    listed = json.loads(_run(["operators", "list", "--json"], migrated).output)
    assert [(o["login_id"], o["status"], o["last_login_at"]) for o in listed] == [
        ("ops2026", "active", None)]

    old = TestOperator("ops2026", PASSWORD, _secret(first["otpauth_uri"]), "")
    assert sign_in(client, old, clock).status_code == 303
    reset = _run(["operators", "reset-totp", "--login-id", "ops2026", "--json"], migrated)
    assert reset.exit_code == 0, reset.output
    new_uri = json.loads(reset.output)["otpauth_uri"]
    assert _secret(new_uri) != old.secret
    assert client.get("/operator/").status_code == 303  # its sessions ended
    clock.advance(30)
    assert sign_in(app.test_client(), old, clock).status_code == 401  # the old key is dead
    new = TestOperator("ops2026", PASSWORD, _secret(new_uri), new_uri)
    web = app.test_client()
    assert sign_in(web, new, clock).status_code == 303

    disabled = _run(["operators", "disable", "--login-id", "ops2026", "--json"], migrated)
    assert json.loads(disabled.output) == {"login_id": "ops2026", "status": "disabled"}
    assert web.get("/operator/").status_code == 303
    human = _run(["operators", "list"], migrated).output
    assert "ops2026" in human and "disabled" in human
    with app.app_context():
        names = [e.event for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.event.like("operator.%")).order_by(AuditEvent.id))]
    assert "operator.totp_reset" in names and "operator.disabled" in names


@pytest.mark.parametrize("command", ["disable", "reset-totp", "unlock"])
def test_an_unknown_operator_is_a_clear_error(app, migrated, command):
    result = _run(["operators", command, "--login-id", "nobody99", "--json"], migrated)
    assert result.exit_code == 1
    data = json.loads(result.output.splitlines()[0])
    assert data["error"] == "not_found" and data["field"] == "login_id"
    assert "no operator has the login ID 'nobody99'" in data["message"]


def test_the_demo_seed_has_an_operator_and_a_pending_registration(app, client, clock, tmp_path):
    from idp.demo import DEMO_OPERATOR, DEMO_OPERATOR_TOTP, seed
    from idp.models import CompanyRequest
    from idp.services import company_review

    with app.app_context():
        p = app.extensions["idp"]
        first = seed(db.session, p, tmp_path / "clients.json")
        again = seed(db.session, p, tmp_path / "clients.json")  # idempotent
        assert first["operator"] == again["operator"]
        [req] = db.session.scalars(select(CompanyRequest))
        doc = company_review.open_document(db.session, p.personal_data, req.document_id)
        assert doc.content.startswith(b"%PDF-") and doc.inline
    clock.advance(30 - clock.now() % 30 + 2)
    login_id, _name, password = DEMO_OPERATOR
    assert first["operator"]["otpauth_uri"].startswith(
        f"otpauth://totp/KOTRA%20IDP:{login_id}?secret={DEMO_OPERATOR_TOTP}")
    op = TestOperator(login_id, password, DEMO_OPERATOR_TOTP, first["operator"]["otpauth_uri"])
    assert sign_in(client, op, clock).status_code == 303
    assert "(주)데모신규무역" in client.get("/operator/").get_data(as_text=True)


def test_unlock_lifts_the_accounts_lock(app, client, clock, migrated):
    from tests.operator_support import password_step

    clock.advance(30 - clock.now() % 30 + 2)
    data = json.loads(_add(migrated).output)
    for _ in range(5):
        assert password_step(client, "ops2026", "Wrong!password1").status_code == 401
        clock.advance(40)
    assert password_step(client, "ops2026", PASSWORD).status_code == 429
    result = _run(["operators", "unlock", "--login-id", "ops2026", "--json"], migrated)
    assert json.loads(result.output) == {"login_id": "ops2026", "unlocked": True}
    op = TestOperator("ops2026", PASSWORD, _secret(data["otpauth_uri"]), data["otpauth_uri"])
    clock.advance(30 - clock.now() % 30 + 2)
    assert sign_in(client, op, clock).status_code == 303
