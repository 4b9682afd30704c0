"""The back-channel logout endpoint (clients/demo_site/backchannel.py): valid tokens end the
sessions they name, every invalid or replayed token is refused and ends nothing."""

from __future__ import annotations

import json
import time

import pytest
from jose import jwt

from clients.demo_site import BACKCHANNEL_EVENT
from tests.clients.demo_site.support import b64u, signed_in


def test_valid_logout_token_kills_sessions_with_that_sid(issuer, rp, client):
    a = signed_in(rp, sid="sid-1")
    b = signed_in(rp, sid="sid-1")
    other = signed_in(rp, sid="sid-2")
    resp = client.post("/backchannel-logout", data={"logout_token": issuer.logout_token()})
    assert resp.status_code == 200
    assert "no-store" in resp.headers["Cache-Control"]
    assert rp.sessions.get(a) is None and rp.sessions.get(b) is None
    assert rp.sessions.get(other) is not None


def test_logout_token_with_sub_only_es256(issuer, rp, client):
    mine = signed_in(rp, sid="sid-9", sub="user-7")
    other = signed_in(rp, sid="sid-8", sub="user-8")
    token = issuer.logout_token(key="ec", sid=None, sub="user-7")
    resp = client.post("/backchannel-logout", data={"logout_token": token})
    assert resp.status_code == 200
    assert rp.sessions.get(mine) is None and rp.sessions.get(other) is not None


def _alg_none(issuer) -> str:
    header = b64u(json.dumps({"alg": "none", "typ": "logout+jwt", "kid": "rsa1"}).encode())
    return f"{header}.{b64u(json.dumps(issuer.logout_claims()).encode())}."


def _tampered(issuer) -> str:
    head, _payload, sig = issuer.logout_token().split(".")
    forged = b64u(json.dumps(issuer.logout_claims(sid="sid-1", sub="someone-else")).encode())
    return f"{head}.{forged}.{sig}"


BAD_LOGOUT_TOKENS = {
    "wrong_typ": lambda i: i.logout_token(typ="JWT"),
    "no_typ": lambda i: jwt.encode(
        i.logout_claims(), i.rsa_pem, algorithm="RS256", headers={"kid": "rsa1", "typ": None}
    ),
    "nonce": lambda i: i.logout_token(nonce="abc"),
    "no_events": lambda i: i.logout_token(events=None),
    "events_wrong_member": lambda i: i.logout_token(events={"http://example.com/x": {}}),
    "events_not_object": lambda i: i.logout_token(events={BACKCHANNEL_EVENT: "yes"}),
    "wrong_aud": lambda i: i.logout_token(aud="site2-client"),
    "wrong_iss": lambda i: i.logout_token(iss="http://evil.example"),
    "no_jti": lambda i: i.logout_token(jti=None),
    "no_iat": lambda i: i.logout_token(iat=None),
    "old_iat": lambda i: i.logout_token(iat=int(time.time()) - 3600),
    "expired": lambda i: i.logout_token(exp=int(time.time()) - 3600),
    "no_sid_no_sub": lambda i: i.logout_token(sid=None, sub=None),
    "bad_signature": _tampered,
    "alg_none": _alg_none,
    "hs256": lambda i: jwt.encode(
        i.logout_claims(), "secret", algorithm="HS256", headers={"kid": "rsa1", "typ": "logout+jwt"}
    ),
    "alg_not_the_keys": lambda i: i.sign(i.logout_claims(), key="ec", kid="rsa1", typ="logout+jwt"),
    "unknown_kid": lambda i: i.sign(i.logout_claims(), kid="nope", typ="logout+jwt"),
    "garbage": lambda i: "not-a-jwt",
}


@pytest.mark.parametrize("case", sorted(BAD_LOGOUT_TOKENS))
def test_invalid_logout_tokens_are_rejected(issuer, rp, client, case):
    kept = signed_in(rp, sid="sid-1")
    token = BAD_LOGOUT_TOKENS[case](issuer)
    resp = client.post("/backchannel-logout", data={"logout_token": token})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_request"
    assert "no-store" in resp.headers["Cache-Control"]
    assert rp.sessions.get(kept) is not None


def test_missing_logout_token_is_rejected(client):
    resp = client.post("/backchannel-logout", data={})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_request"


def test_replayed_logout_token_is_rejected(issuer, rp, client):
    token = issuer.logout_token()
    assert client.post("/backchannel-logout", data={"logout_token": token}).status_code == 200
    again = signed_in(rp, sid="sid-1")
    resp = client.post("/backchannel-logout", data={"logout_token": token})
    assert resp.status_code == 400
    assert "replay" in resp.get_json()["error_description"]
    assert rp.sessions.get(again) is not None
