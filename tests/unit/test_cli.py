"""The `idp` command's JSON contract, as scripts call it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from idp.cli import main


def _run(args, database_url, input=None):
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": database_url}
    result = CliRunner().invoke(main, args, input=input, env=env)
    return result


def test_clients_add_prints_id_and_secret_once(migrated):
    result = _run(["clients", "add", "--name", "Seminar site", "--redirect-uri",
                   "https://seminar.example/cb", "--redirect-uri", "https://seminar.example/cb2",
                   "--post-logout-redirect-uri", "https://seminar.example/",
                   "--backchannel-logout-uri", "https://seminar.example/bcl",
                   "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                   "--token-endpoint-auth-method", "client_secret_post", "--first-party",
                   "--json"], migrated)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"client_id", "client_secret"} and len(data["client_secret"]) >= 40
    listed = json.loads(_run(["clients", "list", "--json"], migrated).output)
    row = next(c for c in listed if c["client_id"] == data["client_id"])
    assert row["redirect_uris"] == ["https://seminar.example/cb", "https://seminar.example/cb2"]
    assert data["client_secret"] not in json.dumps(listed)
    assert _run(["clients", "remove", data["client_id"], "--json"], migrated).exit_code == 0


def test_clients_add_refuses_a_non_loopback_http_redirect(migrated):
    result = _run(["clients", "add", "--name", "x", "--redirect-uri", "http://evil.example/cb",
                   "--grant-type", "authorization_code", "--json"], migrated)
    refusal = json.loads(result.stdout)
    assert result.exit_code == 1 and refusal["error"] == "invalid_input"
    assert refusal["field"] == "redirect_uri" and refusal["message"] == (
        "redirect_uri is not valid: http is allowed for loopback hosts only: "
        "http://evil.example/cb. Fix the URI (--redirect-uri).")


def test_members_add_reads_the_password_from_stdin(migrated):
    result = _run(["members", "add", "--login-id", "cliuser01", "--name", "홍길동", "--email",
                   "c@example.com", "--password-stdin", "--json"], migrated,
                  input="Cli!passcode9x\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["login_id"] == "cliuser01"
    weak = _run(["members", "add", "--login-id", "cliuser02", "--name", "x", "--email",
                 "c@example.com", "--password-stdin", "--json"], migrated, input="weak\n")
    refusal = json.loads(weak.stdout)
    assert weak.exit_code == 1 and refusal["field"] == "password"
    assert refusal["error"] == "invalid_input" and "Send a stronger password" in refusal["message"]
    assert "weak" not in weak.stdout + weak.stderr  # a password is never echoed


def _add_member(database_url, login_id, email="c@example.com", *extra):
    return _run(["members", "add", "--login-id", login_id, "--name", "홍길동", "--email", email,
                 "--password-stdin", *extra], database_url, input="Cli!passcode9x\n")


def test_a_taken_login_id_says_so_and_what_to_do(migrated):
    assert _add_member(migrated, "takenid01", "c@example.com", "--json").exit_code == 0
    again = _add_member(migrated, "TakenID01", "c@example.com", "--json")
    assert again.exit_code == 1
    assert json.loads(again.stdout) == {
        "error": "already_exists", "field": "login_id",
        "message": "login_id 'TakenID01' is already taken. Choose another login ID "
                   "(--login-id).",
    }
    human = _add_member(migrated, "takenid01")
    assert human.exit_code == 1 and human.stdout == ""
    assert human.stderr == ("error: login_id 'takenid01' is already taken. Choose another "
                            "login ID (--login-id).\n")


def test_an_invalid_login_id_says_what_is_allowed(migrated):
    result = _add_member(migrated, "ab", "c@example.com", "--json")
    refusal = json.loads(result.stdout)
    assert result.exit_code == 1 and refusal["field"] == "login_id"
    assert refusal["message"].startswith("login_id 'ab' is not valid: 6-20 letters and digits.")


@pytest.mark.parametrize("email", ["a@b@c", "<script>@x", "a\x01@b.example", "a@b", "no-at-sign",
                                   "a b@example.com", "a@example.com\n", "x" * 250 + "@ex.com"])
def test_members_add_refuses_a_malformed_email(migrated, email):
    result = _add_member(migrated, "mailuser01", email, "--json")
    refusal = json.loads(result.stdout)
    assert result.exit_code == 1, result.output
    assert refusal["error"] == "invalid_input" and refusal["field"] == "email"
    assert refusal["message"].startswith(f"email {email!r} is not valid: ")
    assert refusal["message"].endswith("Give a valid address or leave the option out (--email).")


def test_a_missing_client_says_where_to_look(migrated):
    result = _run(["clients", "remove", "0123abcd", "--json"], migrated)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": "not_found", "field": "client_id",
        "message": "no client has the client_id '0123abcd'. See `idp clients list` for the "
                   "registered ones."}


def test_keys_rotate_and_list(migrated):
    # Self-contained: both keys are made here, whatever keys earlier tests left behind.
    first = _run(["keys", "rotate", "--alg", "ES256", "--json"], migrated)
    assert first.exit_code == 0, first.output
    second = _run(["keys", "rotate", "--alg", "ES256", "--json"], migrated)
    assert second.exit_code == 0, second.output
    old_kid = json.loads(first.output)["rotated"][0]
    new_kid = json.loads(second.output)["rotated"][0]
    assert old_kid != new_kid
    keys = json.loads(_run(["keys", "list", "--json"], migrated).output)
    by_kid = {k["kid"]: k for k in keys}
    assert by_kid[new_kid]["alg"] == "ES256" and by_kid[new_kid]["retired_at"] is None
    assert by_kid[old_kid]["retired_at"] is not None  # the rotation retired the first key
    es256 = [k for k in keys if k["alg"] == "ES256"]
    assert es256[0]["kid"] == new_kid  # newest first
    assert [k["kid"] for k in es256 if k["retired_at"] is None] == [new_kid]  # one active key
