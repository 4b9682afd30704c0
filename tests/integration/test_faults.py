"""A dependency that goes down answers 503 with Retry-After, never 500 (issue 11, Faults).

The outages are real. PostgreSQL and Redis are reached through a TCP proxy that the test cuts
(open connections break, new ones are refused) and restores, as a crashed or restarted server
looks to the provider. In the embedded mode (SQLite) the database file's folder is moved away
and back: the weaker substitute, SQLite having no server to lose. After each outage the same
browser and relying party carry on, and nothing the failed requests tried was half-written.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import redis
import requests
import sqlalchemy.exc
from psycopg import OperationalError as PsycopgOperationalError
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from idp.extensions import db
from idp.faults import RETRY_AFTER_SECONDS, unavailable_dependency
from idp.migrate import upgrade
from idp.models import AuditEvent, Token
from tests.conftest import free_port, make_app, require_service
from tests.faultproxy import CuttableProxy
from tests.helpers import PASSWORD, TestRP, callback_params, form_fields

RETRY_AFTER = str(RETRY_AFTER_SECONDS)


# --- the classification, as a table -------------------------------------------------------

def _wrapped(orig: Exception, *, invalidated: bool = False) -> sqlalchemy.exc.DBAPIError:
    return sqlalchemy.exc.DBAPIError.instance(
        "SELECT 1", {}, orig, Exception, connection_invalidated=invalidated)


def _chained(outer: Exception, cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception:
            raise outer  # noqa: B904 — the implicit context is the point
    except Exception as exc:  # noqa: BLE001
        return exc


@pytest.mark.parametrize(("exc", "expected"), [
    (redis.exceptions.ConnectionError("Error 111 connecting"), "store"),
    (redis.exceptions.TimeoutError("Timeout reading from socket"), "store"),
    (redis.exceptions.ReadOnlyError("READONLY You can't write against a replica"), "store"),
    (_wrapped(PsycopgOperationalError("connection refused")), "database"),
    (_wrapped(PsycopgOperationalError("server closed the connection")), "database"),
    (_wrapped(Exception("anything"), invalidated=True), "database"),
    (sqlalchemy.exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached"), "database"),
    (_wrapped(sqlite3.OperationalError("unable to open database file")), "database"),
    (_wrapped(sqlite3.OperationalError("database is locked")), "database"),
    (_chained(sqlalchemy.exc.PendingRollbackError("rollback first"),
              redis.exceptions.ConnectionError("reset")), "store"),
    # Bugs and bad data are not outages: they stay on the 500 path, where they are seen.
    (_wrapped(sqlite3.OperationalError("no such table: members")), None),
    (sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), None),
    (redis.exceptions.ResponseError("WRONGTYPE Operation against a key"), None),
    (ValueError("bad"), None),
])
def test_outages_are_told_from_bugs(exc: Exception, expected: str | None) -> None:
    assert unavailable_dependency(exc) == expected


# --- the mapping at both edges: outages 503, bugs still 500 ------------------------------

def _raiser(exc: Exception) -> Any:
    def view(*args: Any) -> Any:
        raise exc
    return view


@pytest.mark.parametrize(("exc", "status"), [
    (redis.exceptions.ConnectionError("Connection closed by server."), 503),
    (_wrapped(PsycopgOperationalError("connection refused")), 503),
    (_wrapped(sqlite3.OperationalError("no such table: members")), 500),
    (sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key")), 500),
    (KeyError("bug"), 500),
])
def test_pages_answer_503_for_outages_and_500_for_bugs(
    base_settings: dict[str, Any], exc: Exception, status: int,
) -> None:
    app = make_app(base_settings)
    app.config["TESTING"] = False  # production error handling: bugs become the 500 page
    app.add_url_rule("/boom", "boom", _raiser(exc))
    try:
        resp = app.test_client().get("/boom")
        assert resp.status_code == status
        assert resp.mimetype == "text/html"
        assert ("Retry-After" in resp.headers) == (status == 503)
    finally:
        _dispose(app)


@pytest.mark.parametrize(("exc", "status", "error"), [
    (redis.exceptions.TimeoutError("Timeout reading from socket"), 503, "server_error"),
    (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), 503, "server_error"),
    (ValueError("bug"), 500, "server_error"),
])
def test_protocol_endpoints_answer_503_for_outages_and_500_for_bugs(
    app: Any, monkeypatch: pytest.MonkeyPatch, exc: Exception, status: int, error: str,
) -> None:
    from idp.oidc import lanes

    monkeypatch.setitem(lanes.ROUTES, "/userinfo", (frozenset({"GET"}), _raiser(exc)))
    resp = app.test_client().get("/userinfo")
    assert (resp.status_code, resp.get_json()["error"]) == (status, error)
    assert resp.headers.get("Retry-After") == (RETRY_AFTER if status == 503 else None)


# --- helpers ------------------------------------------------------------------------------

def _assert_unavailable_page(resp: Any, english: bool = False) -> None:
    body = resp.get_data(as_text=True)
    assert resp.status_code == 503, (resp.status_code, body[:300])
    assert resp.headers["Retry-After"] == RETRY_AFTER
    assert resp.mimetype == "text/html"
    assert ("Please try again in a moment" if english else "잠시 후 다시 시도해 주세요") in body


def _assert_unavailable_json(resp: Any) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.headers["Retry-After"] == RETRY_AFTER
    assert resp.get_json()["error"] == "server_error"
    assert resp.headers["Cache-Control"] == "no-store"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _pending_login(rp: TestRP, web: Any) -> tuple[str, str, dict[str, str]]:
    """A browser at the login page of a pending authorization: (page, form action, fields)."""
    resp = rp.authorize(web)
    assert resp.status_code == 303 and "/interaction/" in resp.headers["Location"]
    page = web.get(resp.headers["Location"])
    assert page.status_code == 200
    action, hidden = form_fields(page.get_data(as_text=True))
    fields = {**hidden, "login_id": rp.login_id, "password": PASSWORD}
    return resp.headers["Location"], action or resp.headers["Location"], fields


def _count(app: Any, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _dispose(app: Any) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


# --- PostgreSQL + Redis: cut through a proxy ------------------------------------------------

@pytest.fixture()
def scaleout_urls() -> tuple[str, str]:
    db_url = os.environ.get("IDP_DATABASE_URL", "")
    redis_url = os.environ.get("IDP_REDIS_URL", "")
    require_service(
        "PostgreSQL+Redis", db_url.startswith("postgresql") and bool(redis_url),
        "set IDP_DATABASE_URL=postgresql+psycopg://... and IDP_REDIS_URL=redis://...",
    )
    return db_url, redis_url


@pytest.fixture()
def proxied(app: Any, base_settings: dict[str, Any], scaleout_urls: tuple[str, str]
            ) -> Iterator[tuple[Any, CuttableProxy, CuttableProxy]]:
    """An app whose PostgreSQL and Redis both sit behind a cuttable proxy.

    (`app` empties the database and the store first.)
    """
    db_url, redis_url = scaleout_urls
    pg = make_url(db_url)
    pg_proxy = CuttableProxy(pg.host or "127.0.0.1", pg.port or 5432).start()
    rd = urlsplit(redis_url)
    redis_proxy = CuttableProxy(rd.hostname or "127.0.0.1", rd.port or 6379).start()
    proxied_app = make_app(
        base_settings,
        database_url=pg.set(host="127.0.0.1", port=pg_proxy.port).render_as_string(
            hide_password=False),
        redis_url=rd._replace(netloc=f"127.0.0.1:{redis_proxy.port}").geturl(),
    )
    try:
        yield proxied_app, pg_proxy, redis_proxy
    finally:
        pg_proxy.close()
        redis_proxy.close()
        _dispose(proxied_app)


@pytest.mark.scaleout
def test_database_outage_answers_503_and_recovers(proxied: Any) -> None:
    app, pg_proxy, _ = proxied
    rp = TestRP.create(app)
    web = app.test_client()
    tokens = rp.tokens(web)
    other = app.test_client()  # a second browser, half-way through its login
    location, action, login_form = _pending_login(rp, other)
    verifier = rp.last["verifier"]
    before = (_count(app, Token), _count(app, AuditEvent))

    pg_proxy.cut()
    # Twice over: first the pooled connections break, then new ones are refused.
    for _ in range(2):
        _assert_unavailable_page(rp.authorize(app.test_client()))
        _assert_unavailable_page(other.get(location))
        _assert_unavailable_page(other.post(action, data=login_form))
        _assert_unavailable_json(web.post("/token", headers=rp.auth_header(), data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}))
        _assert_unavailable_json(web.get("/userinfo", headers=_bearer(tokens["access_token"])))
        _assert_unavailable_json(web.post("/introspect", headers=rp.auth_header(),
                                          data={"token": tokens["access_token"]}))
        _assert_unavailable_json(web.post("/revoke", headers=rp.auth_header(),
                                          data={"token": tokens["access_token"]}))
        _assert_unavailable_json(web.get("/jwks"))  # the test config caches no keys
        assert web.get("/.well-known/openid-configuration").status_code == 200
        assert web.get("/readyz").status_code == 503

    pg_proxy.restore()
    # Nothing the failed requests attempted was written.
    assert (_count(app, Token), _count(app, AuditEvent)) == before
    # The same browser finishes its login, the relying party redeems the code.
    done = other.post(action, data=login_form)
    assert done.status_code == 303, done.get_data(as_text=True)[:300]
    code = callback_params(done.headers["Location"], rp.redirect_uri)["code"]
    rp.last["verifier"] = verifier
    assert rp.exchange(other, code).status_code == 200
    refreshed = web.post("/token", headers=rp.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert web.get("/userinfo", headers=_bearer(refreshed.get_json()["access_token"])
                   ).status_code == 200
    assert web.get("/jwks").status_code == 200
    assert web.get("/readyz").status_code == 200


@pytest.mark.scaleout
def test_store_outage_answers_503_and_recovers(proxied: Any) -> None:
    app, _, redis_proxy = proxied
    rp = TestRP.create(app)
    web = app.test_client()
    tokens = rp.tokens(web)  # `web` now holds an SSO session (in Redis)
    other = app.test_client()
    location, action, login_form = _pending_login(rp, other)
    verifier = rp.last["verifier"]

    redis_proxy.cut()
    for _ in range(2):
        _assert_unavailable_page(other.get(location))
        _assert_unavailable_page(other.post(action, data=login_form))
        # RFC 6749 §4.1.2.1: the client is known and its redirect_uri verified (the database
        # is up), so the answer goes back to it as temporarily_unavailable.
        for browser in (web, app.test_client()):
            resp = rp.authorize(browser)
            assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
            back = callback_params(resp.headers["Location"], rp.redirect_uri)
            assert back["error"] == "temporarily_unavailable"
            assert back["state"] == rp.last["state"] and "code" not in back
        # An unverifiable redirect_uri never gets a redirect, outage or not.
        stray = rp.authorize(app.test_client(), redirect_uri="https://evil.example/cb")
        assert stray.status_code == 400 and "Location" not in stray.headers
        # The protocol endpoints do not need the store today; whatever they need, an
        # outage of it must read as one.
        for resp in (
            web.post("/token", headers=rp.auth_header(), data={
                "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}),
            web.get("/userinfo", headers=_bearer(tokens["access_token"])),
        ):
            if resp.status_code != 200:
                _assert_unavailable_json(resp)
            else:
                tokens.update({k: v for k, v in resp.get_json().items()
                               if k in ("access_token", "refresh_token")})
        assert web.get("/readyz").status_code == 503
    _assert_unavailable_page(other.get(location + "?lang=en"), english=True)

    redis_proxy.restore()
    assert other.get(location).status_code == 200
    done = other.post(action, data=login_form)
    assert done.status_code == 303, done.get_data(as_text=True)[:300]
    code = callback_params(done.headers["Location"], rp.redirect_uri)["code"]
    rp.last["verifier"] = verifier
    assert rp.exchange(other, code).status_code == 200
    again = rp.authorize(web)  # the SSO session made before the outage is still there
    assert again.status_code == 302 and "code" in parse_qs(urlsplit(
        again.headers["Location"]).query)
    assert web.get("/readyz").status_code == 200


@pytest.mark.scaleout
def test_a_connection_lost_after_the_answer_leaves_the_answer_alone(
    proxied: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database goes down between a view's last query and the end of its request: the
    rollback at teardown fails, and the answer already made must still go out (found by the
    load test below: a login page answered 500 that way)."""
    from werkzeug.wrappers import Response

    from idp.oidc import lanes

    app, pg_proxy, _ = proxied

    def read_then_lose_the_database(*args: Any) -> Response:
        db.session.execute(select(func.count()).select_from(Token))
        pg_proxy.cut()
        return Response("answered")

    app.add_url_rule("/probe", "probe", read_then_lose_the_database)
    monkeypatch.setitem(lanes.ROUTES, "/userinfo",
                        (frozenset({"GET"}), read_then_lose_the_database))
    for path in ("/probe", "/userinfo"):  # a page, and the protocol lane
        resp = app.test_client().get(path)
        assert (resp.status_code, resp.get_data(as_text=True)) == (200, "answered")
        pg_proxy.restore()
    assert app.test_client().get("/readyz").status_code == 200


def test_postgresql_connections_have_a_connect_timeout_unless_the_url_sets_one() -> None:
    from idp import DATABASE_CONNECT_TIMEOUT, _engine_options

    assert _engine_options("postgresql+psycopg://db.internal/idp")["connect_args"] == {
        "connect_timeout": DATABASE_CONNECT_TIMEOUT}
    assert "connect_args" not in _engine_options(
        "postgresql+psycopg://db.internal/idp?connect_timeout=2")


@pytest.mark.scaleout
def test_a_database_that_stops_answering_is_a_503_within_the_connect_timeout(
    app: Any, base_settings: dict[str, Any], scaleout_urls: tuple[str, str],
) -> None:
    pg = make_url(scaleout_urls[0])
    proxy = CuttableProxy(pg.host or "127.0.0.1", pg.port or 5432).start()
    hung = make_app(base_settings, database_url=pg.set(host="127.0.0.1", port=proxy.port)
                    .update_query_dict({"connect_timeout": "1"})
                    .render_as_string(hide_password=False))
    try:
        rp = TestRP.create(hung)
        web = hung.test_client()
        tokens = rp.tokens(web)
        proxy.freeze()
        with hung.app_context():
            db.engine.dispose()  # from here on every request needs a new connection
        started = time.monotonic()
        _assert_unavailable_json(web.get("/userinfo", headers=_bearer(tokens["access_token"])))
        _assert_unavailable_page(rp.authorize(hung.test_client()))
        # Two connect timeouts (libpq waits at least 2 s), not the TCP timeout (minutes).
        assert time.monotonic() - started < 8
        proxy.restore()
        assert web.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200
    finally:
        proxy.close()
        _dispose(hung)


class _Traffic:
    """Relying parties and browsers going through whole logins over HTTP, in threads."""

    def __init__(self, base: str, rp: TestRP, tokens: dict[str, Any]) -> None:
        self.base, self.rp, self.tokens = base, rp, tokens
        self.stop = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def _seen(self, step: str, resp: requests.Response) -> bool:
        """Record an answer; False ends this round (an outage, or something unexpected)."""
        with self._lock:
            self.statuses[resp.status_code] += 1
            if resp.status_code >= 500 and (resp.status_code != 503
                                            or resp.headers.get("Retry-After") != RETRY_AFTER):
                self.errors.append(f"{step}: {resp.status_code} {resp.text[:200]}")
        return resp.status_code < 500

    def _round(self, http: requests.Session) -> None:
        rp, base = self.rp, self.base
        bearer = _bearer(self.tokens["access_token"])
        if not self._seen("userinfo", http.get(base + "/userinfo", headers=bearer)):
            return
        if not self._seen("jwks", http.get(base + "/jwks")):
            return
        http.cookies.clear()
        params = rp.authorize_params()
        verifier = rp.last["verifier"]
        resp = http.get(base + "/authorize", params=params, allow_redirects=False)
        if not self._seen("authorize", resp) or resp.status_code != 303:
            return  # (a temporarily_unavailable redirect to the client is a 302)
        page = http.get(urljoin(base, resp.headers["Location"]))
        if not self._seen("login page", page):
            return
        action, hidden = form_fields(page.text)
        resp = http.post(urljoin(page.url, action), allow_redirects=False, data={
            **hidden, "login_id": rp.login_id, "password": PASSWORD})
        if not self._seen("login", resp) or resp.status_code != 303:
            return
        back = parse_qs(urlsplit(resp.headers["Location"]).query)
        if "code" not in back:
            return
        self._seen("token", http.post(base + "/token", headers=rp.auth_header(), data={
            "grant_type": "authorization_code", "code": back["code"][0],
            "redirect_uri": rp.redirect_uri, "code_verifier": verifier}))

    def run(self) -> None:
        with requests.Session() as http:
            while not self.stop.is_set():
                try:
                    self._round(http)
                except requests.RequestException as exc:
                    with self._lock:
                        self.errors.append(f"transport: {exc}")


@pytest.mark.scaleout
def test_no_server_error_under_load_while_dependencies_go_down(proxied: Any) -> None:
    """As measured in the issue: steady traffic while the database, then Redis, is cut."""
    from werkzeug.serving import make_server

    app, pg_proxy, redis_proxy = proxied
    rp = TestRP.create(app)
    tokens = rp.tokens(app.test_client())
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    traffic = _Traffic(f"http://127.0.0.1:{server.server_port}", rp, tokens)
    workers = [threading.Thread(target=traffic.run) for _ in range(6)]
    try:
        for worker in workers:
            worker.start()
        for proxy in (pg_proxy, redis_proxy):
            time.sleep(0.5)
            proxy.cut()
            time.sleep(1.0)
            proxy.restore()
        time.sleep(0.5)
        recovered = traffic.statuses[200]
        time.sleep(1.0)
    finally:
        traffic.stop.set()
        for worker in workers:
            worker.join(timeout=15)
        server.shutdown()
        serving.join(timeout=5)
    assert traffic.errors == []
    assert traffic.statuses[503] > 0, traffic.statuses  # the outages were seen
    assert traffic.statuses[200] > recovered  # and traffic went on after them


# --- SQLite (embedded mode): the database file goes away ------------------------------------

@pytest.fixture()
def embedded(base_settings: dict[str, Any], tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    folder = tmp_path / "data"
    folder.mkdir()
    url = f"sqlite:///{folder / 'idp.sqlite3'}"
    upgrade(url)
    embedded_app = make_app(base_settings, database_url=url, redis_url="")
    try:
        yield embedded_app, folder
    finally:
        if not folder.exists():
            folder.with_name("gone").rename(folder)
        _dispose(embedded_app)


def _sqlite_cut(app: Any, folder: Path) -> None:
    folder.rename(folder.with_name("gone"))
    with app.app_context():
        db.engine.dispose()  # open connections would go on reading the moved file


def _sqlite_restore(folder: Path) -> None:
    shutil.move(folder.with_name("gone"), folder)


def test_embedded_database_outage_answers_503_and_recovers(embedded: Any) -> None:
    app, folder = embedded
    rp = TestRP.create(app)
    web = app.test_client()
    tokens = rp.tokens(web)
    other = app.test_client()
    location, action, login_form = _pending_login(rp, other)
    verifier = rp.last["verifier"]

    _sqlite_cut(app, folder)
    _assert_unavailable_page(rp.authorize(app.test_client()))
    _assert_unavailable_page(rp.authorize(app.test_client(), lang="en"), english=True)
    _assert_unavailable_page(other.get(location))
    _assert_unavailable_page(other.post(action, data=login_form))
    _assert_unavailable_json(web.post("/token", headers=rp.auth_header(), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}))
    _assert_unavailable_json(web.get("/userinfo", headers=_bearer(tokens["access_token"])))
    _assert_unavailable_json(web.get("/jwks"))
    assert web.get("/readyz").status_code == 503

    _sqlite_restore(folder)
    done = other.post(action, data=login_form)
    assert done.status_code == 303, done.get_data(as_text=True)[:300]
    code = callback_params(done.headers["Location"], rp.redirect_uri)["code"]
    rp.last["verifier"] = verifier
    assert rp.exchange(other, code).status_code == 200
    assert web.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200
