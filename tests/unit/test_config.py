"""Settings: production by default, refusals with a clear message each, every wrong value named
in one error, owner-only database files."""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from idp import config
from idp.cli import main
from idp.config import ConfigError, load_settings

STRONG = "k3Vb0y7Xq2L9sPz4NwR8tYc1Hf6Jd5Ma"  # 32 characters, in no file of the repository
PRODUCTION = {"IDP_SECRET_KEY": STRONG, "IDP_ISSUER": "https://login.kotra.example",
              # issue 7: production refuses the tax office's API without its key
              "IDP_NTS_SERVICE_KEY": "nts-test-key"}


def _problems(environ: dict[str, str], overrides: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides or {}, environ=environ)
    assert str(caught.value).count("\n  - ") == len(caught.value.problems)  # all, one message
    return caught.value.problems


def test_without_idp_env_the_provider_runs_as_production():
    settings = load_settings({}, environ=PRODUCTION)
    assert settings["env"] == "production"
    assert settings["argon2"]["memory_kib"] == 19456  # no overlay: production parameters


def test_without_idp_env_the_development_secret_is_not_used():
    with pytest.raises(ConfigError) as caught:
        load_settings({}, environ={})
    assert "IDP_ENV=production" in str(caught.value)
    assert any(p.startswith("secret_key (IDP_SECRET_KEY): missing") for p in
               caught.value.problems)


def _overlay_secret(name: str) -> str:
    with open(config.CONFIG_DIR / f"{name}.toml", "rb") as fh:
        return str(tomllib.load(fh)["secret_key"])


@pytest.mark.parametrize(("secret", "says"), [
    ("", "missing"),
    ("a" * 31, "too short (31 characters)"),
    (_overlay_secret("development"), "this value is published in the kotra-idp repository"),
    (_overlay_secret("testing"), "this value is published in the kotra-idp repository"),
    ("bench-secret-key-not-for-production", "this value is published in the kotra-idp repository"),
])
def test_production_refuses_an_unsafe_secret(secret, says):
    problems = _problems({**PRODUCTION, "IDP_SECRET_KEY": secret})
    assert len(problems) == 1, problems
    assert problems[0].startswith("secret_key (IDP_SECRET_KEY): " + says), problems
    assert "IDP_SECRET_KEY to a random value of at least 32 characters" in problems[0]


def test_a_secret_written_in_any_config_file_is_published(tmp_path, monkeypatch):
    (tmp_path / "default.toml").write_bytes((config.CONFIG_DIR / "default.toml").read_bytes())
    (tmp_path / "staging.toml").write_text(f'secret_key = "{STRONG}"\n')
    monkeypatch.setattr(config, "CONFIG_DIR", tmp_path)
    assert STRONG in config.published_secrets()
    assert "published" in _problems(PRODUCTION)[0]


@pytest.mark.parametrize("issuer", ["http://login.kotra.example", "http://10.0.0.5:5000",
                                    "http://127.0.0.1.nip.io"])
def test_production_refuses_an_http_issuer_off_loopback(issuer):
    problems = _problems({**PRODUCTION, "IDP_ISSUER": issuer})
    assert problems == [f"issuer (IDP_ISSUER): must be https in production (http only on a "
                        f"loopback address); got {issuer!r}"]


@pytest.mark.parametrize("issuer", ["https://login.kotra.example", "http://127.0.0.1:5000",
                                    "http://localhost:5000", "http://[::1]:5000"])
def test_production_accepts_https_and_loopback_issuers(issuer):
    assert load_settings({}, environ={**PRODUCTION, "IDP_ISSUER": issuer})["issuer"] == issuer


def test_development_and_testing_keep_their_public_secrets():
    for env in ("development", "testing"):
        assert load_settings({}, environ={"IDP_ENV": env})["secret_key"] == _overlay_secret(env)


def test_an_unknown_environment_is_refused():
    problems = _problems({"IDP_ENV": "prod"})
    assert problems == ["IDP_ENV: must be one of production, development, testing "
                        "(unset: production); got 'prod'"]


def test_every_wrong_value_is_named_in_one_error():
    environ = {
        "IDP_ENV": "testing",
        "IDP_TOKENS_CODE_TTL": "-5",
        "IDP_SERVER_WORKERS": "two",
        "IDP_SERVER_ENGINE": "apache",
        "IDP_KEYS_ALLOWED_ALGS": "RS256,HS256",
        "IDP_ISSUER": "ftp://login.example",
        "IDP_REDIS_URL": "http://127.0.0.1:6379",
        "IDP_DATABASE_URL": "not a url",
        "IDP_SESSION_COOKIE_SECURE": "maybe",
        "IDP_SERVER_BIND": "localhost",
    }
    overrides = {"tokens": {"access_token_ttl": "3600"}, "keys": {"rsa_bits": 1024},
                 "argon2": {"time_cost": True}, "password_policy": {"password_min": 40}}
    problems = _problems(environ, overrides)
    expected = {
        "server.workers (IDP_SERVER_WORKERS)": "must be a number; got 'two'",
        "issuer (IDP_ISSUER)": "must be an absolute http(s) URL",
        "database_url (IDP_DATABASE_URL)": "is not a database URL",
        "redis_url (IDP_REDIS_URL)": "must be empty or a redis/rediss/unix/redis+sentinel",
        "server.bind (IDP_SERVER_BIND)": "must be host:port",
        "server.engine (IDP_SERVER_ENGINE)": "must be one of granian, gunicorn; got 'apache'",
        "tokens.code_ttl (IDP_TOKENS_CODE_TTL)": "must be at least 1, got -5",
        "tokens.access_token_ttl (IDP_TOKENS_ACCESS_TOKEN_TTL)": "must be an integer; got '3600'",
        "keys.allowed_algs (IDP_KEYS_ALLOWED_ALGS)": "must name one or more of RS256, ES256",
        "keys.rsa_bits (IDP_KEYS_RSA_BITS)": "must be at least 2048, got 1024",
        "session.cookie_secure (IDP_SESSION_COOKIE_SECURE)": "must be true or false; got 'maybe'",
        "argon2.time_cost (IDP_ARGON2_TIME_COST)": "must be an integer; got True",
        "password_policy.password_min": "must not exceed password_policy.password_max",
    }
    for where, says in expected.items():
        assert any(p.startswith(f"{where}: {says}") for p in problems), (where, problems)
    assert len(problems) == len(expected), problems


def test_settings_keep_their_types_from_the_environment():
    settings = load_settings({}, environ={
        "IDP_ENV": "testing", "IDP_SESSION_COOKIE_SECURE": "false",
        "IDP_BACKCHANNEL_LOGOUT_TIMEOUT": "2.5", "IDP_SERVER_TRUSTED_PROXIES": "1",
    })
    assert settings["session"]["cookie_secure"] is False
    assert settings["backchannel_logout"]["timeout"] == 2.5
    assert settings["server"]["trusted_proxies"] == 1


def test_default_alg_must_be_one_of_the_allowed_algs():
    problems = _problems({"IDP_ENV": "testing", "IDP_KEYS_ALLOWED_ALGS": "ES256"})
    assert problems == ["keys.default_alg (IDP_KEYS_DEFAULT_ALG): RS256 is not in "
                        "keys.allowed_algs ['ES256']"]


@pytest.mark.parametrize("overrides", [{"languages": ["ko"]}, {"features": {"login_tabs": []}},
                                       {"tokens": {"code_tll": 60}}])
def test_a_setting_that_does_not_exist_is_refused(overrides):
    problems = _problems({"IDP_ENV": "testing"}, overrides)
    assert len(problems) == 1 and "not a setting" in problems[0], problems


def test_a_misspelt_environment_variable_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="idp.config"):
        load_settings({}, environ={"IDP_ENV": "testing", "IDP_TOKEN_CODE_TTL": "30",
                                   "IDP_SOMETHING_ELSE": "1"})
    assert [r.getMessage() for r in caplog.records] == [
        "IDP_TOKEN_CODE_TTL is not a setting; did you mean IDP_TOKENS_CODE_TTL?"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_and_instance_folder_are_owner_only(tmp_path, monkeypatch):
    from idp import create_app
    from idp.migrate import upgrade

    instance = tmp_path / "instance"
    monkeypatch.setattr(config, "INSTANCE_DIR", instance)
    old_umask = os.umask(0o022)  # the usual umask: SQLite alone would create 0644
    try:
        settings = load_settings({}, environ={"IDP_ENV": "testing"})
        app = create_app({"database_url": settings["database_url"]})
        upgrade(settings["database_url"])
    finally:
        os.umask(old_umask)
    from idp.extensions import db

    with app.app_context():
        db.engine.dispose()
    app.extensions["idp"].store.close()
    database = instance / "idp.sqlite3"
    assert settings["database_url"] == f"sqlite:///{database}"
    assert _mode(instance) == 0o700
    assert database.stat().st_size > 0  # the migrations wrote into the file created first
    assert _mode(database) == 0o600


def test_an_existing_instance_folder_is_tightened(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    monkeypatch.setattr(config, "INSTANCE_DIR", instance)
    load_settings({}, environ={"IDP_ENV": "testing"})
    assert _mode(instance) == 0o700


def test_the_cli_names_the_problems_without_a_traceback():
    env = {"IDP_ENV": "", "IDP_SECRET_KEY": "short", "IDP_ISSUER": "http://login.example",
           "IDP_TOKENS_CODE_TTL": "0"}
    result = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "invalid settings (IDP_ENV=production)" in result.output
    for variable in ("IDP_SECRET_KEY", "IDP_ISSUER", "IDP_TOKENS_CODE_TTL"):
        assert variable in result.output


def test_serve_refuses_to_start_on_bad_settings():
    result = CliRunner().invoke(main, ["serve"], env={"IDP_ENV": "", "IDP_SECRET_KEY": ""})
    assert result.exit_code == 2
    assert "secret_key (IDP_SECRET_KEY): missing" in result.output


@pytest.fixture()
def no_server(monkeypatch):
    """`idp serve` that would start a server fails the test at once instead."""
    from idp import cli

    def started(*args: Any) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr(cli, "_serve_granian", started)
    monkeypatch.setattr(cli, "_serve_gunicorn", started)


@pytest.mark.parametrize("env", ["", "development"])
def test_serve_refuses_the_fake_backchannel_sender_before_any_worker_starts(env, no_server):
    # It used to pass the checks and fail in every server worker, with a traceback.
    result = CliRunner().invoke(main, ["serve"], env={
        "IDP_ENV": env, "IDP_SECRET_KEY": "s" * 40, "IDP_ISSUER": "https://login.example",
        "IDP_BACKCHANNEL_LOGOUT_SENDER": "recording"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "IDP_BACKCHANNEL_LOGOUT_SENDER" in result.output


def test_an_unknown_backchannel_sender_is_named_with_the_other_problems():
    with pytest.raises(ConfigError) as err:
        load_settings({}, environ={"IDP_ENV": "testing", "IDP_BACKCHANNEL_LOGOUT_SENDER": "smtp",
                                   "IDP_TOKENS_CODE_TTL": "0"})
    assert any("IDP_BACKCHANNEL_LOGOUT_SENDER" in p for p in err.value.problems)
    assert any("IDP_TOKENS_CODE_TTL" in p for p in err.value.problems)
    assert load_settings({}, environ={"IDP_ENV": "testing",
                                      "IDP_BACKCHANNEL_LOGOUT_SENDER": "recording"})


def test_serve_refuses_an_emulator_before_any_worker_starts(monkeypatch, no_server):
    from idp import wiring

    class FakeThing:
        emulator = True

    monkeypatch.setitem(wiring.ADAPTERS, "server.engine", {"granian": FakeThing})
    result = CliRunner().invoke(main, ["serve"], env={
        "IDP_ENV": "", "IDP_SECRET_KEY": "s" * 40, "IDP_ISSUER": "https://login.example",
        "IDP_NTS_SERVICE_KEY": "nts-test-key"})  # issue 7
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "picks the emulator FakeThing" in result.output


def test_a_database_file_in_a_missing_folder_is_left_to_sqlite(tmp_path):
    assert config.create_sqlite_file(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}") is None
    assert config.create_sqlite_file("sqlite://") is None
    assert config.create_sqlite_file("postgresql+psycopg://u@h/db") is None
