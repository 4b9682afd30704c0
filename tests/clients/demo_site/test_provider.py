"""Discovery and JWKS over HTTP (clients/demo_site/provider.py)."""

from __future__ import annotations

import pytest

from clients.demo_site import TokenValidationError, validate_logout_token
from tests.clients.demo_site.support import CLIENT, rsa_jwk


def test_jwks_is_cached_and_refetched_once_on_unknown_kid(issuer, rp):
    before = issuer.jwks_fetches
    validate_logout_token(rp.provider, issuer.logout_token(), client_id=CLIENT["client_id"])
    validate_logout_token(rp.provider, issuer.logout_token(), client_id=CLIENT["client_id"])
    assert issuer.jwks_fetches == before + 1
    # rotation: a new key appears at the provider after the keys were cached
    issuer.keys = [*issuer.keys[:2], {**rsa_jwk(issuer.rsa, "rsa2")}]
    token = issuer.sign(issuer.logout_claims(), kid="rsa2", typ="logout+jwt")
    validate_logout_token(rp.provider, token, client_id=CLIENT["client_id"])
    assert issuer.jwks_fetches == before + 2
    with pytest.raises(TokenValidationError):
        validate_logout_token(
            rp.provider,
            issuer.sign(issuer.logout_claims(), kid="ghost", typ="logout+jwt"),
            client_id=CLIENT["client_id"],
        )
    assert issuer.jwks_fetches == before + 3
