"""JWTs the provider reads back (id_token_hint) and logout tokens it writes.

Algorithms are an explicit allow-list (RFC 8725 §3.1); `none` is never accepted.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from idp.models import OAuthClient
from idp.models.base import DbSession
from idp.models.clients import RegisteredClient
from idp.wiring import Provider

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def decode_id_token_hint(p: Provider, session: DbSession, value: str) -> dict[str, Any] | None:
    """Claims of an ID token this provider signed, or None.

    OIDC Core §3.1.2.1 and RP-Initiated Logout §2: an expired ID token is still a valid hint,
    so only the signature, the algorithm and the issuer are checked.
    """
    try:
        header = jws.extract_compact(value.encode()).headers()
    except (JoseError, ValueError, UnicodeError):
        return None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in p.settings["keys"]["allowed_algs"] \
            or not isinstance(kid, str):
        return None
    if header.get("typ") == "logout+jwt":  # a logout token is never an ID token
        return None
    key = p.keys.snapshot(session).public.get(kid)
    if key is None and p.keys.may_reload():  # a key rotated in the last moments
        key = p.keys.snapshot(session).public.get(kid)
    if key is None or key.alg != alg:
        return None
    try:
        token = jwt.decode(value, key, algorithms=[alg])
    except (JoseError, ValueError):
        return None
    claims = dict(token.claims)
    if claims.get("iss") != p.issuer or not claims.get("sub") or not claims.get("aud"):
        return None
    if "events" in claims or not isinstance(claims["sub"], str):
        return None
    return claims


def client_signing_alg(p: Provider, client: OAuthClient | RegisteredClient) -> str | None:
    """The algorithm of the client's ID tokens (its registration, else [keys] default_alg),
    or None when the provider no longer signs with it ([keys] allowed_algs changed since)."""
    keys = p.settings["keys"]
    alg = client.id_token_signed_response_alg or keys["default_alg"]
    return alg if alg in keys["allowed_algs"] else None


def hint_audience(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])


def make_logout_token(
    p: Provider, session: DbSession, client: OAuthClient | RegisteredClient, *, sub: str,
    sid: str | None,
) -> str:
    """Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti, events, sub, sid; no nonce.

    Without `sid` the token means every session of `sub` at the relying party.
    """
    # A client registered with an algorithm since disabled still gets its logout token.
    alg = client_signing_alg(p, client) or p.settings["keys"]["default_alg"]
    key = p.keys.signing_key(session, alg)
    now = int(time.time())
    claims = {
        "iss": p.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + p.settings["tokens"]["logout_token_ttl"],
        "jti": secrets.token_urlsafe(16),
        "sub": sub,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    if sid is not None:
        claims["sid"] = sid
    header = {"alg": alg, "kid": key.kid, "typ": "logout+jwt"}
    return jwt.encode(header, claims, key, algorithms=[alg])
