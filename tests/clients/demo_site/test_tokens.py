"""ID token validation (clients/demo_site/tokens.py, OpenID Connect Core 1.0 §3.1.3.7)."""

from __future__ import annotations

import json
import time

import pytest

from clients.demo_site import TokenValidationError, validate_id_token
from tests.clients.demo_site.support import CLIENT, b64u


def _validate(issuer, rp, token, *, nonce="n-123", access_token=None):
    return validate_id_token(
        rp.provider, token, client_id=CLIENT["client_id"], nonce=nonce, access_token=access_token
    )


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_id_token_valid(issuer, rp, key):
    claims = _validate(
        issuer, rp, issuer.sign(issuer.id_claims(access_token="at-1"), key=key), access_token="at-1"
    )
    assert claims["sub"] == "user-1"


BAD_ID_TOKENS = {
    "wrong_nonce": (lambda i: i.sign(i.id_claims(nonce="other")), None),
    "wrong_iss": (lambda i: i.sign(i.id_claims(iss="http://evil.example")), None),
    "wrong_aud": (lambda i: i.sign(i.id_claims(aud="site2-client", azp=None)), None),
    "aud_list_without_us": (lambda i: i.sign(i.id_claims(aud=["a", "b"], azp="a")), None),
    "wrong_azp": (lambda i: i.sign(i.id_claims(aud=[CLIENT["client_id"], "b"], azp="b")), None),
    "bad_at_hash": (lambda i: i.sign(i.id_claims(access_token="at-other")), "at-1"),
    "at_hash_without_access_token": (lambda i: i.sign(i.id_claims(access_token="at-1")), None),
    "expired": (lambda i: i.sign(i.id_claims(exp=int(time.time()) - 3600)), None),
    "future_iat": (lambda i: i.sign(i.id_claims(iat=int(time.time()) + 3600)), None),
    "no_sub": (lambda i: i.sign(i.id_claims(sub=None)), None),
    "alg_none": (
        lambda i: b64u(b'{"alg":"none"}') + "." + b64u(json.dumps(i.id_claims()).encode()) + ".",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ID_TOKENS))
def test_id_token_validator_rejects(issuer, rp, case):
    make, access_token = BAD_ID_TOKENS[case]
    token = make(issuer)
    with pytest.raises(TokenValidationError):
        _validate(issuer, rp, token, access_token=access_token)
