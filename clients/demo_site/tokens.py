"""Validation of the provider's JWTs: ID tokens (OpenID Connect Core 1.0 §3.1.3.7) and
back-channel logout tokens (Back-Channel Logout 1.0 §2.6), with python-jose."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any

from jose import jws, jwt
from jose.exceptions import JOSEError

from clients.demo_site.errors import TokenValidationError
from clients.demo_site.provider import Provider

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ID_TOKEN_MAX_AGE = 600  # reject ID tokens issued longer ago than this
LOGOUT_TOKEN_MAX_AGE = 300  # reject logout tokens issued longer ago than this
CLOCK_LEEWAY = 60


def _verify_jwt(
    provider: Provider,
    token: str,
    *,
    audience: str,
    access_token: str | None = None,
    require: tuple[str, ...] = (),
    leeway: int = CLOCK_LEEWAY,
) -> tuple[dict, dict]:
    """Check signature (JWKS key, pinned alg), iss, aud, exp/nbf; return (header, claims)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenValidationError("not a compact JWS")
    try:
        header = jws.get_unverified_header(token)
    except JOSEError:
        raise TokenValidationError("malformed JWS header") from None
    if not isinstance(header, dict):
        raise TokenValidationError("malformed JWS header")
    if header.get("crit"):
        raise TokenValidationError("unsupported critical header parameters")
    key, alg = provider.signing_key(header)
    options = {"leeway": leeway}
    for claim in ("iss", "aud", *require):
        options[f"require_{claim}"] = True
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=provider.issuer,
            access_token=access_token,
            options=options,
        )
    except JOSEError as exc:
        raise TokenValidationError(f"invalid token: {exc}") from None
    return header, claims


def _check_iat(claims: Mapping, now: float, max_age: int, leeway: int) -> None:
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise TokenValidationError("iat missing or not a number")
    if iat > now + leeway:
        raise TokenValidationError("iat is in the future")
    if iat < now - max_age - leeway:
        raise TokenValidationError("token is too old")


def validate_id_token(
    provider: Provider,
    id_token: str,
    *,
    client_id: str,
    nonce: str,
    access_token: str | None = None,
    now: float | None = None,
    leeway: int = CLOCK_LEEWAY,
    max_age: int = ID_TOKEN_MAX_AGE,
) -> dict:
    """Validate an ID token (OpenID Connect Core 1.0 §3.1.3.7) and return its claims.

    Signature by a JWKS key with the key's algorithm (RS256/ES256 only), iss,
    aud contains client_id, azp (required when several audiences, must be
    client_id), exp, iat (present, not in the future, not older than max_age),
    sub, nonce, and at_hash when present (requires access_token).
    Raises TokenValidationError.
    """
    now = time.time() if now is None else now
    _header, claims = _verify_jwt(
        provider,
        id_token,
        audience=client_id,
        access_token=access_token,
        require=("exp", "iat", "sub"),
        leeway=leeway,
    )
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and "azp" not in claims:
        raise TokenValidationError("azp required with several audiences")
    if "azp" in claims and claims["azp"] != client_id:
        raise TokenValidationError("azp is not this client")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenValidationError("sub missing")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise TokenValidationError("exp is not a number")
    _check_iat(claims, now, max_age, leeway)
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(
        token_nonce.encode(), nonce.encode()
    ):
        raise TokenValidationError("nonce mismatch")
    if "at_hash" in claims and not access_token:
        raise TokenValidationError("at_hash present but no access token to check it")
    return claims


def _is_logout_typ(typ: Any) -> bool:
    if not isinstance(typ, str):
        return False
    typ = typ.lower()
    if typ.startswith("application/"):
        typ = typ[len("application/") :]
    return typ == "logout+jwt"


def validate_logout_token(
    provider: Provider,
    logout_token: str,
    *,
    client_id: str,
    now: float | None = None,
    leeway: int = CLOCK_LEEWAY,
    max_age: int = LOGOUT_TOKEN_MAX_AGE,
) -> dict:
    """Validate a back-channel logout token (Back-Channel Logout 1.0 §2.6); return its claims.

    JWS by a JWKS key with the key's algorithm, header typ ``logout+jwt``, iss,
    aud contains client_id, iat present and recent, exp if present, jti
    present, events holds the back-channel-logout member with an object
    value, sid and/or sub present, no nonce. Replay detection (jti) is the
    caller's job. Raises TokenValidationError.
    """
    now = time.time() if now is None else now
    header, claims = _verify_jwt(
        provider, logout_token, audience=client_id, require=("iat", "jti"), leeway=leeway
    )
    if not _is_logout_typ(header.get("typ")):
        raise TokenValidationError("typ is not logout+jwt")
    _check_iat(claims, now, max_age, leeway)
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TokenValidationError("jti missing")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise TokenValidationError("events lacks the back-channel logout event")
    sid, sub = claims.get("sid"), claims.get("sub")
    if sid is None and sub is None:
        raise TokenValidationError("neither sid nor sub")
    for value in (sid, sub):
        if value is not None and (not isinstance(value, str) or not value):
            raise TokenValidationError("sid/sub must be non-empty strings")
    if "nonce" in claims:
        raise TokenValidationError("a logout token must not contain nonce")
    return claims
