"""`idp members revoke-sessions|lock|unlock` and `idp jobs run`, as operators call them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from idp.cli import main
from idp.extensions import db
from idp.models import BackchannelLogout
from tests.backchannel_receiver import backchannel_receiver
from tests.helpers import REDIRECT_URI, TestRP, callback_params


def _run(args: list[str], database_url: str) -> Any:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": database_url}
    return CliRunner().invoke(main, args, env=env)


def _signed_in(web: Any, rp: TestRP) -> bool:
    resp = rp.authorize(web, prompt="none")
    return "code" in callback_params(resp.headers["Location"], REDIRECT_URI)


def _queued(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(BackchannelLogout)))


def test_revoke_sessions_ends_the_members_sessions(app, client, migrated):
    site = TestRP.create(app, backchannel_logout_uri="https://rp.example/bcl")
    site.tokens(client)
    result = _run(["members", "revoke-sessions", "MEMBER01", "--json"], migrated)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == {"login_id": "member01", "sessions_ended": 1, "tokens_revoked": 1,
                    "codes_revoked": 0, "backchannel_queued": [site.client_id]}
    assert not _signed_in(client, site)
    assert _queued(app) == 1  # for the server's worker or `idp jobs run`


def test_lock_and_unlock(app, client, migrated):
    site = TestRP.create(app)
    site.tokens(client)
    locked = _run(["members", "lock", "member01", "--json"], migrated)
    assert locked.exit_code == 0, locked.output
    assert json.loads(locked.output)["status"] == "locked"
    assert json.loads(locked.output)["sessions_ended"] == 1
    assert not _signed_in(client, site)
    login = site.login(client, site.authorize(client).headers["Location"])
    assert login.status_code == 401

    unlocked = _run(["members", "unlock", "member01"], migrated)
    assert unlocked.exit_code == 0 and "unlocked" in unlocked.output
    login = site.login(client, site.authorize(client).headers["Location"])
    assert login.status_code == 303
    again = _run(["members", "unlock", "member01", "--json"], migrated)
    assert again.exit_code == 1
    assert "is not locked" in json.loads(again.output.splitlines()[0])["error"]


@pytest.mark.parametrize("command", ["revoke-sessions", "lock", "unlock"])
def test_an_unknown_login_id_is_a_clear_error(app, migrated, command):
    result = _run(["members", command, "nobody99", "--json"], migrated)
    assert result.exit_code == 1
    data = json.loads(result.output.splitlines()[0])
    assert data["error"] == "not_found" and data["field"] == "login_id"
    assert "no member has the login ID 'nobody99'" in data["message"]


def test_jobs_run_once_delivers_what_is_queued(app, client, migrated):
    with backchannel_receiver() as receiver:
        site = TestRP.create(app, backchannel_logout_uri=receiver.uri)
        site.tokens(client)
        assert _run(["members", "revoke-sessions", "member01"], migrated).exit_code == 0
        assert receiver.received == []
        result = _run(["jobs", "run", "--once", "--json"], migrated)
        assert result.exit_code == 0, result.output
        delivered = json.loads(result.stdout)["backchannel"]
        assert delivered.pop("duration_ms") >= 0
        assert delivered == {"delivered": 1, "retrying": 0, "gave_up": 0, "dropped": 0}
        assert len(receiver.received) == 1
    assert _queued(app) == 0


def test_unlock_also_lifts_the_sign_in_throttle_lock(app, client, migrated, clock):
    site = TestRP.create(app)
    lock_after = app.config["IDP_SETTINGS"]["throttle"]["account_lock_after"]
    location = site.authorize(client).headers["Location"]
    for _ in range(lock_after):  # brute force: the account is locked by the throttle
        site.login(client, location, password="Wrong!pass123")
        clock.advance(61)  # past each growing delay
    with app.app_context():
        assert app.extensions["idp"].throttle.locked_until("account", "member01") is not None
    assert _run(["members", "lock", "member01"], migrated).exit_code == 0
    assert _run(["members", "unlock", "member01"], migrated).exit_code == 0
    with app.app_context():
        assert app.extensions["idp"].throttle.locked_until("account", "member01") is None
    login = site.login(client, site.authorize(client).headers["Location"])
    assert login.status_code == 303
