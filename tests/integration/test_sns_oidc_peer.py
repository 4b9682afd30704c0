"""The Google path of SNS federation against a real OpenID provider nobody here wrote:
node-oidc-provider from the npm registry (tests/sns/oidc_peer, pinned by package-lock.json,
installed by `make test` / .ci/run with `npm ci`), started by this test (issue 9)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from idp.extensions import db
from tests.conftest import _clean, free_port, make_app, require_service
from tests.helpers import TestRP, callback_params, form_fields
from tests.sns_support import agree_to_terms, login_page, path_of, publish_terms, query_of, start

PEER = Path(__file__).resolve().parents[1] / "sns" / "oidc_peer"
CLIENT_ID, CLIENT_SECRET = "kotra-idp-peer", "peer-secret-0123456789"


@pytest.fixture()
def peer(base_settings: dict[str, Any]) -> Iterator[str]:
    node = shutil.which("node")
    require_service("node-oidc-provider", bool(node) and (PEER / "node_modules" /
                                                           "oidc-provider").is_dir(),
                    "needs node and `npm ci --prefix tests/sns/oidc_peer` (make test does it)")
    port = free_port()
    env = {**os.environ, "PEER_PORT": str(port), "CLIENT_ID": CLIENT_ID,
           "CLIENT_SECRET": CLIENT_SECRET,
           "REDIRECT_URI": f"{base_settings['issuer']}/sns/google/callback"}
    proc = subprocess.Popen([str(node), "server.mjs"], cwd=PEER, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"node-oidc-provider exited: {out}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture()
def peer_app(base_settings: dict[str, Any], peer: str) -> Iterator[Any]:
    app = make_app(base_settings, google={
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "discovery_url": f"{peer}/.well-known/openid-configuration"})
    _clean(app)
    publish_terms(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


def _at_the_peer(browser: requests.Session, url: str, peer: str) -> str:
    """Follow the peer's redirects (login, consent, resume) to its answer for us."""
    for _ in range(10):
        resp = browser.get(url, allow_redirects=False, timeout=5)
        assert resp.status_code in (302, 303), (resp.status_code, resp.text[:300])
        location = resp.headers["Location"]
        url = location if location.startswith("http") else peer + location
        if not url.startswith(peer):
            return url
    raise AssertionError("the peer never answered")


def test_google_path_against_node_oidc_provider(peer_app, peer):
    app = peer_app
    rp = TestRP.create(app, member=False)
    web = app.test_client()
    login = login_page(web, rp)
    started = start(web, "google", login)
    assert started.status_code == 303 and started.headers["Location"].startswith(peer)
    sent = query_of(started.headers["Location"])
    assert sent["code_challenge_method"] == "S256" and sent["nonce"]
    callback = _at_the_peer(requests.Session(), started.headers["Location"], peer)
    assert urlsplit(callback).path == "/sns/google/callback"
    resp = web.get(path_of(callback))
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/terms"), \
        resp.headers.get("Location")
    resp = agree_to_terms(web, resp.headers["Location"])
    assert resp.headers["Location"].endswith("/info")
    info = web.get(path_of(resp.headers["Location"]))
    page = info.get_data(as_text=True)
    assert 'id="mobile"' in page and 'id="email"' not in page  # name and email from the peer
    action, hidden = form_fields(page)
    done = web.post(action, data={**hidden, "mobile": "010-5555-6666"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/done")
    action, hidden = form_fields(web.get(path_of(done.headers["Location"]))
                                 .get_data(as_text=True))
    signed_in = web.post(action, data=hidden)
    params = callback_params(signed_in.headers["Location"], rp.redirect_uri)
    tokens = rp.exchange(web, params["code"]).get_json()
    info = web.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    claims = info.get_json()
    assert claims["kotra_member_type"] == "simple" and claims["kotra_sns_provider"] == "google"
    assert claims["email"] == "peer@example.com" and claims["name"] == "노드피어"


def test_a_code_from_the_peer_replayed_is_refused(peer_app, peer):
    app = peer_app
    rp = TestRP.create(app, member=False)
    web = app.test_client()
    login = login_page(web, rp)
    started = start(web, "google", login)
    callback = _at_the_peer(requests.Session(), started.headers["Location"], peer)
    assert web.get(path_of(callback)).status_code == 303
    # A second round trip in the same browser, answered with the first code: our state is
    # new, the peer refuses the used code (invalid_grant), and we refuse with it.
    again = start(web, "google", login)
    state = query_of(again.headers["Location"])["state"]
    resp = web.get("/sns/google/callback",
                   query_string={**query_of(callback), "state": state})
    assert resp.status_code == 303 and query_of(resp.headers["Location"])["sns"] == "refused"
