"""RP-Initiated Logout 1.0 and Back-Channel Logout 1.0."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from tests.conftest import free_port
from tests.helpers import REDIRECT_URI, TestRP, callback_params, form_fields


@pytest.fixture()
def receiver():
    """A relying party's back-channel logout endpoint that records what it receives."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers["Content-Length"])
            body = parse_qs(self.rfile.read(length).decode())
            received.append({"path": self.path, "ctype": self.headers["Content-Type"],
                             "token": body["logout_token"][0]})
            self.send_response(200)
            self.send_header("Cache-Control", "no-store")
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    server = HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/backchannel-logout", received
    server.shutdown()
    server.server_close()


def _logout(client, rp, tokens, **extra):
    params = {"id_token_hint": tokens["id_token"],
              "post_logout_redirect_uri": "https://rp.example/bye", "state": "s1"}
    params.update(extra)
    return client.get("/logout", query_string={k: v for k, v in params.items() if v})


def test_logout_with_hint_ends_session_and_redirects_with_state(app, client, rp):
    tokens = rp.tokens(client)
    resp = _logout(client, rp, tokens)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "https://rp.example/bye?state=s1"
    again = rp.authorize(client, prompt="none")
    assert callback_params(again.headers["Location"], REDIRECT_URI)["error"] == "login_required"
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401  # tokens of the session are revoked
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.event == "logout")).all()


def test_unregistered_post_logout_redirect_uri_is_never_followed(client, rp):
    tokens = rp.tokens(client)
    resp = _logout(client, rp, tokens, post_logout_redirect_uri="https://evil.example/")
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_post_logout_redirect_uri_without_client_is_refused(client, rp):
    resp = client.get("/logout", query_string={"post_logout_redirect_uri":
                                               "https://rp.example/bye"})
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_logout_without_hint_asks_for_confirmation(client, rp):
    rp.tokens(client)
    page = client.get("/logout", query_string={"client_id": rp.client_id})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "로그아웃하시겠습니까?" in html
    action, hidden = form_fields(html)
    done = client.post(action, data={**hidden, "decision": "logout"})
    assert "로그아웃되었습니다" in done.get_data(as_text=True)
    again = rp.authorize(client, prompt="none")
    assert callback_params(again.headers["Location"], REDIRECT_URI)["error"] == "login_required"


def test_forced_logout_without_csrf_token_is_refused(client, rp):
    rp.tokens(client)
    resp = client.post("/logout/confirm", data={"decision": "logout"})
    assert resp.status_code == 400
    again = rp.authorize(client, prompt="none")
    assert "code" in callback_params(again.headers["Location"], REDIRECT_URI)


def test_backchannel_logout_token_reaches_every_rp_of_the_session(app, client, receiver):
    uri, received = receiver
    site1 = TestRP.create(app, backchannel_logout_uri=uri)
    site2 = TestRP.create(app, backchannel_logout_uri=uri + "?site=2", member=False,
                          alg="ES256")
    tokens = site1.tokens(client)
    site2.tokens(client)  # SSO: no login, same session
    resp = _logout(client, site2, site2.tokens(client))
    assert resp.status_code == 303
    assert len(received) == 2
    jwks = KeySet.import_key_set(client.get("/jwks").get_json())
    auds = set()
    for item in received:
        assert item["ctype"] == "application/x-www-form-urlencoded"
        token = jwt.decode(item["token"], jwks, algorithms=["RS256", "ES256"])
        assert token.header["typ"] == "logout+jwt"
        claims = token.claims
        assert claims["iss"] == "http://127.0.0.1:5999"
        assert claims["sub"] == site1.subject
        assert "nonce" not in claims and claims["jti"] and claims["iat"] and claims["exp"]
        assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
        id_claims = jwt.decode(tokens["id_token"], jwks).claims
        assert claims["sid"] == id_claims["sid"]
        auds.add(claims["aud"])
    assert auds == {site1.client_id, site2.client_id}


def test_unreachable_backchannel_endpoint_does_not_block_logout(app, client):
    site = TestRP.create(app, backchannel_logout_uri="http://127.0.0.1:9/nothing-here")
    tokens = site.tokens(client)
    resp = _logout(client, site, tokens)
    assert resp.status_code == 303


def test_login_as_another_member_ends_the_previous_session(app, client, receiver):
    uri, received = receiver
    site = TestRP.create(app, backchannel_logout_uri=uri)
    TestRP.create(app, login_id="member02", member=True)
    site.tokens(client)
    resp = site.authorize(client, prompt="login")
    site.login(client, resp.headers["Location"], login_id="member02")
    assert len(received) == 1
