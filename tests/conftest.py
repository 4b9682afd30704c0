"""Shared fixtures: an app on a migrated database (SQLite by default, PostgreSQL and Redis when
IDP_DATABASE_URL / IDP_REDIS_URL are set), clients, members, and a live HTTP server.

Services a laptop may lack are skipped with a visible reason; with IDP_REQUIRE_SERVICES=1
(set by .ci/run) a missing service fails the test instead.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

# The suite names its environment (fast argon2, a test secret); without IDP_ENV the provider
# would start as production and refuse the test secret.
os.environ["IDP_ENV"] = "testing"

from idp import create_app  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.migrate import upgrade  # noqa: E402
from idp.models import Base  # noqa: E402
from idp.services.keys import ensure_keys  # noqa: E402
from tests.helpers import PASSWORD, TestRP  # noqa: E402

KEEP_TABLES = {"signing_keys", "alembic_version"}


def require_service(name: str, available: bool, reason: str) -> None:
    """Skip (laptop) or fail (CI, IDP_REQUIRE_SERVICES=1) when a service is missing."""
    if available:
        return
    message = f"{name} unavailable: {reason}"
    if os.environ.get("IDP_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (IDP_REQUIRE_SERVICES=1: mandatory in CI)")
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI (IDP_REQUIRE_SERVICES=1) a skipped test is a failed test: the suite runs whole."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("IDP_REQUIRE_SERVICES") == "1" and report.skipped and not hasattr(
        report, "wasxfail"
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test is mandatory: {report.longrepr}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("IDP_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        engine = create_engine(database_url)
        with engine.begin() as conn:  # a clean schema for this run
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    upgrade(database_url)
    return database_url


@pytest.fixture(scope="session")
def base_settings(migrated: str) -> dict[str, Any]:
    return {"database_url": migrated, "issuer": "http://127.0.0.1:5999"}


def _clean(app: Any) -> None:
    with app.app_context():
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                db.session.execute(table.delete())
        db.session.commit()
        store = app.extensions["idp"].store
        redis_client = getattr(store, "_redis", None)
        if redis_client is not None:
            for key in redis_client.scan_iter("idp:*"):
                redis_client.delete(key)


def make_app(base_settings: dict[str, Any], **overrides: Any) -> Any:
    settings = {**base_settings, **overrides}
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.app_context():
        p = app.extensions["idp"]
        ensure_keys(db.session, p.cipher, algs=["RS256", "ES256"])
        db.session.commit()
    return app


@pytest.fixture()
def app(base_settings: dict[str, Any]) -> Iterator[Any]:
    app = make_app(base_settings)
    _clean(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # no pooled connection outlives the test (ResourceWarning)
    app.extensions["idp"].store.close()


@pytest.fixture()
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture()
def rp(app: Any) -> TestRP:
    """A first-party confidential client with every grant and a member to sign in."""
    return TestRP.create(app)


@pytest.fixture()
def live_server(app: Any) -> Iterator[str]:
    """The app on a real socket (werkzeug, threaded) for HTTP clients nobody here wrote."""
    from werkzeug.serving import make_server

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app.config["IDP_SETTINGS"]["issuer"] = issuer
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture()
def artifacts_dir() -> Path:
    path = Path(os.environ.get("IDP_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "idp-test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["PASSWORD", "free_port", "require_service"]


@pytest.fixture()
def clock(app: Any) -> Any:
    """The provider's clock, moved by hand (no sleeping in tests)."""
    from idp.adapters.clock import FakeClock
    from idp.wiring import use_clock

    fake = FakeClock()
    use_clock(app.extensions["idp"], fake)
    return fake
