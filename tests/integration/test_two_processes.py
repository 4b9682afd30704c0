"""Two provider processes behind one (imaginary) load balancer: one PostgreSQL, one Redis.

Both run `idp serve` with the same issuer (process A's URL), the same secret key
and the same stores; process B is reached on its own port. A member signs in through A, and
B must honour everything A did: the refresh token, the access token, the SSO cookie and the
logout, whose effects A must then see (SSO session gone, tokens of the session revoked).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from tests.conftest import free_port, require_service
from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, form_fields, pkce_pair

# Runs in the PostgreSQL + Redis pass of .ci/run; the SQLite pass deselects it (-m).
pytestmark = pytest.mark.scaleout

PROJECT = Path(__file__).resolve().parents[2]
IDP_BIN = Path(sys.executable).parent / "idp"
BYE = "https://rp.example/bye"
TIMEOUT = 5
START_TIMEOUT = 15


@pytest.fixture(scope="session")
def shared_services() -> dict[str, str]:
    """PostgreSQL + Redis from the environment, and both answering (before `app` runs)."""
    db_url = os.environ.get("IDP_DATABASE_URL", "")
    redis_url = os.environ.get("IDP_REDIS_URL", "")
    require_service(
        "PostgreSQL+Redis", db_url.startswith("postgresql") and bool(redis_url),
        "set IDP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test and "
        "IDP_REDIS_URL=redis://127.0.0.1:6379/0",
    )
    problems = []
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(db_url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 — any failure means "not available"
        problems.append(f"PostgreSQL at {db_url}: {type(exc).__name__}: {exc}")
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis at {redis_url}: {type(exc).__name__}: {exc}")
    require_service("PostgreSQL+Redis", not problems, "; ".join(problems))
    return {"database_url": db_url, "redis_url": redis_url}


class Server:
    def __init__(self, name: str, port: int, env: dict[str, str], log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        self.url = f"http://127.0.0.1:{port}"
        self._log_file = open(log, "wb")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            [str(IDP_BIN), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=PROJECT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: server and its worker
        )

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n"
                                     f"{self.tail()}")
            try:
                resp = requests.get(f"{self.url}/healthz", timeout=1)
                if resp.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy in {START_TIMEOUT}s:\n{self.tail()}")

    def _killpg(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def terminate(self) -> None:
        """Ask gunicorn's master for a graceful shutdown (it stops its worker)."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Wait for the shutdown; then kill whatever is left of the process group."""
        try:
            self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            self._killpg(signal.SIGKILL)
            self.proc.wait(timeout=5)
        self._killpg(signal.SIGKILL)  # an orphaned worker, if any
        self._log_file.close()


@pytest.fixture()
def two_servers(shared_services: dict[str, str], app: Any,
                tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Processes A and B; one issuer (A's URL), one secret, one database, one Redis."""
    settings = app.config["IDP_SETTINGS"]
    assert settings["database_url"] == shared_services["database_url"]
    port_a, port_b = free_port(), free_port()
    while port_b == port_a:
        port_b = free_port()
    env = {
        **os.environ,
        "IDP_ENV": "testing",
        "IDP_DATABASE_URL": shared_services["database_url"],
        "IDP_REDIS_URL": shared_services["redis_url"],
        "IDP_ISSUER": f"http://127.0.0.1:{port_a}",
        # The signing keys in the database are encrypted with this secret.
        "IDP_SECRET_KEY": settings["secret_key"],
        "PYTHONUNBUFFERED": "1",
    }
    servers: list[Server] = []
    try:
        for name, port in (("A", port_a), ("B", port_b)):
            servers.append(Server(name, port, env, tmp_path / f"idp-{name}.log"))
        deadline = time.monotonic() + START_TIMEOUT
        for server in servers:
            server.wait_healthy(deadline)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.stop()
        # Close the test app's pooled connections: psycopg warns when they are collected
        # open (warnings are errors), and the shared `app` fixture does not dispose them.
        from idp.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _callback(location: str) -> dict[str, str]:
    assert location.startswith(REDIRECT_URI + "?"), location
    return _query(location)


def _authorize(web: requests.Session, url: str, login_id: str | None = None,
               hops: list[str] | None = None) -> str:
    """GET the authorization URL, sign in if asked, return the Location of the 302.

    `hops`: the base URLs that serve each following step in turn (login page, login POST,
    resume), as a load balancer without sticky sessions would.
    """
    hops = list(hops or [])

    def route(location: str) -> str:
        if not hops:
            return location
        parts = urlsplit(location)
        return hops.pop(0) + parts.path + (f"?{parts.query}" if parts.query else "")

    resp = web.get(url, allow_redirects=False, timeout=TIMEOUT)
    for _ in range(5):
        if resp.status_code == 302:
            return str(resp.headers["Location"])
        assert resp.status_code == 303, (resp.status_code, resp.text[:500])
        location = route(urljoin(resp.url, resp.headers["Location"]))
        if not location.endswith("/resume"):
            assert login_id is not None, f"unexpected login page {location}"
            page = web.get(location, allow_redirects=False, timeout=TIMEOUT)
            assert page.status_code == 200, page.text[:300]
            action, hidden = form_fields(page.text)
            resp = web.post(route(urljoin(location, action)), allow_redirects=False,
                            timeout=TIMEOUT,
                            data={**hidden, "login_id": login_id, "password": PASSWORD})
            assert resp.status_code == 303, (resp.status_code, resp.text[:500])
            if resp.headers["Location"].startswith(REDIRECT_URI):
                return str(resp.headers["Location"])  # the login POST resumed the request
            location = route(urljoin(resp.url, resp.headers["Location"]))
        resp = web.get(location, allow_redirects=False, timeout=TIMEOUT)
    raise AssertionError("too many redirects")


def _auth_url(base: str, rp: TestRP, **extra: str) -> tuple[str, dict[str, str], str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
        "scope": "openid profile email kotra", "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
        "code_challenge_method": "S256", **extra,
    }
    return f"{base}/authorize?{urlencode(params)}", params, verifier


def _introspect(base: str, rp: TestRP, token: str) -> dict[str, Any]:
    resp = requests.post(f"{base}/introspect", data={"token": token}, timeout=TIMEOUT,
                         auth=(rp.client_id, rp.client_secret or ""))
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def test_two_processes_share_sessions_tokens_and_logout(shared_services, app, two_servers):
    t0 = time.monotonic()
    a, b = two_servers
    issuer = a.url
    rp = TestRP.create(app)  # committed to the shared PostgreSQL
    auth = (rp.client_id, rp.client_secret or "")

    # Both processes describe the same provider.
    meta_a = requests.get(f"{a.url}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    meta_b = requests.get(f"{b.url}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    assert meta_a["issuer"] == meta_b["issuer"] == issuer
    jwks_a = requests.get(f"{a.url}/jwks", timeout=TIMEOUT).json()
    jwks_b = requests.get(f"{b.url}/jwks", timeout=TIMEOUT).json()
    assert {k["kid"] for k in jwks_a["keys"]} == {k["kid"] for k in jwks_b["keys"]}
    for server in (a, b):
        ready = requests.get(f"{server.url}/readyz", timeout=TIMEOUT)
        assert ready.status_code == 200 and ready.json() == {
            "database": "ok", "store": "ok"}, (server.name, ready.text)

    # 0. no sticky sessions: authorize at A, login page from B, form POSTed to A (CSRF
    #    token from B), which resumes the request; interaction and CSRF state are shared.
    roaming = requests.Session()
    url, params, _ = _auth_url(a.url, rp)
    cb = _callback(_authorize(roaming, url, rp.login_id, hops=[b.url, a.url, b.url]))
    assert "code" in cb and cb["state"] == params["state"] and cb["iss"] == issuer, cb

    # 1. sign in through A and exchange the code at A
    web = requests.Session()
    url, params, verifier = _auth_url(a.url, rp)
    cb = _callback(_authorize(web, url, rp.login_id))
    assert cb["state"] == params["state"] and cb["iss"] == issuer
    assert web.cookies.get("idp_sso"), list(web.cookies.keys())
    resp = requests.post(f"{a.url}/token", auth=auth, timeout=TIMEOUT, data={
        "grant_type": "authorization_code", "code": cb["code"],
        "redirect_uri": rp.redirect_uri, "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    tokens = resp.json()

    from joserfc import jwt
    from joserfc.jwk import KeySet

    id_token = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks_b),
                          algorithms=["RS256"])
    assert id_token.claims["iss"] == issuer and id_token.claims["sid"]
    assert id_token.claims["nonce"] == params["nonce"]

    # 2. refresh and userinfo through B
    resp = requests.post(f"{b.url}/token", auth=auth, timeout=TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 200, (resp.text, b.tail())
    refreshed = resp.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    access = refreshed["access_token"]
    info = requests.get(f"{b.url}/userinfo", timeout=TIMEOUT,
                        headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == rp.subject
    assert _introspect(a.url, rp, access)["active"] is True

    # B also sees A's SSO session: a silent authorize through B gives a code.
    url_b, params_b, _ = _auth_url(b.url, rp, prompt="none")
    cb = _callback(_authorize(web, url_b))
    assert "code" in cb and cb["state"] == params_b["state"], cb
    assert cb["iss"] == issuer

    # 3. log out through B with A's SSO cookie (cookies are per host, not per port)
    end_state = secrets.token_urlsafe(8)
    resp = web.get(f"{b.url}/logout", allow_redirects=False, timeout=TIMEOUT, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE,
        "state": end_state})
    assert "idp_sso=" in (resp.request.headers.get("Cookie") or ""), resp.request.headers
    assert resp.status_code == 303, (resp.status_code, resp.text[:500])
    assert resp.headers["Location"] == f"{BYE}?state={end_state}"

    # 4. A sees the logout: no SSO session, and the session's tokens are revoked
    url, params, _ = _auth_url(a.url, rp, prompt="none")
    cb = _callback(_authorize(web, url))
    assert cb.get("error") == "login_required", cb
    assert cb["state"] == params["state"] and cb["iss"] == issuer
    assert _introspect(a.url, rp, access) == {"active": False}
    assert _introspect(a.url, rp, refreshed["refresh_token"]) == {"active": False}
    info = requests.get(f"{a.url}/userinfo", timeout=TIMEOUT,
                        headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 401, info.text
    resp = requests.post(f"{a.url}/token", auth=auth, timeout=TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant", resp.text

    assert time.monotonic() - t0 < 30
