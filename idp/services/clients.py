"""Registering relying parties (used by the CLI and the demo seed)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update

from idp.errors import AlreadyExists, InvalidInput
from idp.models import AuthorizationCode, Consent, OAuthClient, Token
from idp.models.base import DbSession
from idp.models.clients import RegisteredClient, hash_client_secret
from idp.protocol import CLIENT_AUTH_METHODS, GRANT_TYPES, SIGNING_ALGS
from idp.services import audit

# RFC 3986 §2: the characters a URI may hold (reserved, unreserved and "%" of escapes).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_MAX_URI = 500  # the authorization_codes.redirect_uri column


def _check_uri(field: str, uri: str) -> None:
    """An absolute http(s) URI, exactly as it will be compared (RFC 9700 §4.1.3), or
    InvalidInput saying what is wrong."""
    if len(uri) > _MAX_URI:
        raise InvalidInput(field, f"longer than {_MAX_URI} characters: {uri[:60]}...")
    if not _URI_CHARS.fullmatch(uri):
        raise InvalidInput(field, f"only URI characters are allowed (RFC 3986; percent-encode "
                                  f"anything else, no spaces): {uri!r}")
    if "#" in uri:  # an empty fragment ("cb#") too: RFC 6749 §3.1.2
        raise InvalidInput(field, f"must not contain a fragment ('#'): {uri}")
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput(field, f"the port is not a number from 0 to 65535: {uri}")
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise InvalidInput(field, f"not an absolute http(s) URI with a host: {uri}")
    if "@" in parts.netloc:
        raise InvalidInput(field, f"must not contain a user name or password: {uri}")
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme == "http" and not loopback:
        raise InvalidInput(field, f"http is allowed for loopback hosts only: {uri}")


def add_client(
    session: DbSession,
    *,
    name: str,
    redirect_uris: list[str],
    grant_types: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    token_endpoint_auth_method: str = "client_secret_basic",
    first_party: bool = False,
    resource_server: bool = False,
    require_pkce: bool = True,
    id_token_signed_response_alg: str = "RS256",
    client_id: str | None = None,
    scope: str = "openid profile email phone kotra",
    allowed_algs: Sequence[str] = SIGNING_ALGS,
) -> tuple[OAuthClient, str | None]:
    """Register a client; return it with its secret in clear (shown once, stored hashed).

    `allowed_algs`: the algorithms the provider signs with ([keys] allowed_algs).
    """
    if not name.strip():
        raise InvalidInput("name", "required")
    unknown = set(grant_types) - set(GRANT_TYPES)
    if not grant_types or unknown:
        raise InvalidInput("grant_type", f"choose from {', '.join(GRANT_TYPES)}")
    if token_endpoint_auth_method not in CLIENT_AUTH_METHODS:
        raise InvalidInput("token_endpoint_auth_method",
                           f"choose from {', '.join(CLIENT_AUTH_METHODS)}")
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidInput("redirect_uri", "required for authorization_code")
    if token_endpoint_auth_method == "none" and "client_credentials" in grant_types:
        raise InvalidInput("grant_type", "a public client cannot use client_credentials")
    if resource_server and token_endpoint_auth_method == "none":
        # RFC 7662 §2.1: the introspection endpoint authenticates its callers.
        raise InvalidInput("resource_server", "a public client cannot introspect tokens")
    if id_token_signed_response_alg not in allowed_algs:
        raise InvalidInput("id_token_signed_response_alg",
                           f"this provider signs with {' or '.join(allowed_algs)} only "
                           "([keys] allowed_algs)")
    for uri in redirect_uris:
        _check_uri("redirect_uri", uri)
    for uri in post_logout_redirect_uris or []:
        _check_uri("post_logout_redirect_uri", uri)
    if backchannel_logout_uri:
        _check_uri("backchannel_logout_uri", backchannel_logout_uri)
    # Hex: no leading "-" that a command line would take for an option.
    client_id = client_id or secrets.token_hex(16)
    if session.scalar(select(OAuthClient.id).where(OAuthClient.client_id == client_id)):
        raise AlreadyExists("client_id")
    secret = None if token_endpoint_auth_method == "none" else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=client_id,
        client_secret_hash=hash_client_secret(secret) if secret else None,
        name=name.strip(),
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_redirect_uris or []),
        backchannel_logout_uri=backchannel_logout_uri,
        grant_types=list(grant_types),
        response_types=["code"] if "authorization_code" in grant_types else [],
        token_endpoint_auth_method=token_endpoint_auth_method,
        first_party=first_party,
        resource_server=resource_server,
        # Public clients always need PKCE (RFC 9700 §2.1.1), whatever the flag says.
        require_pkce=require_pkce or token_endpoint_auth_method == "none",
        id_token_signed_response_alg=id_token_signed_response_alg,
        scope=scope,
    )
    session.add(client)
    session.flush()
    audit.record(session, "client.added", client_id=client_id, name=client.name)
    return client, secret


def remove_client(session: DbSession, client_id: str) -> bool:
    """Remove a client with everything it holds: its tokens are revoked and its unused codes
    deleted, so nothing issued to it works any more (userinfo, introspection, refresh)."""
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        return False
    session.delete(client)
    revoked = session.execute(
        update(Token).where(Token.client_id == client_id, Token.revoked_at.is_(None))
        .values(revoked_at=int(time.time()))
    )
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.client_id == client_id))
    session.execute(delete(Consent).where(Consent.client_id == client_id))
    audit.record(session, "client.removed", client_id=client_id,
                 tokens_revoked=int(getattr(revoked, "rowcount", 0) or 0))
    return True


def reset_secret(session: DbSession, client: OAuthClient) -> str:
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = hash_client_secret(secret)
    client.previous_secret_hash = client.previous_secret_expires_at = None
    return secret


class NoSecret(ValueError):
    """A public client (token_endpoint_auth_method "none") has no secret to rotate."""


def rotate_secret(session: DbSession, client: OAuthClient, *, grace_seconds: int,
                  now: float) -> str:
    """A new secret for `client`, returned once (only its hash is kept).

    The current secret works on for `grace_seconds` (0: it stops now), so the relying party
    can deploy the new one without a failed request; one previous secret at most, so an
    earlier one still in its grace period stops now. Every process sees the change within
    `clients.cache_seconds`. The caller commits. Raises NoSecret for a public client."""
    if client.token_endpoint_auth_method == "none":
        raise NoSecret(client.client_id)
    secret = secrets.token_urlsafe(32)
    if grace_seconds > 0 and client.client_secret_hash:
        client.previous_secret_hash = client.client_secret_hash
        client.previous_secret_expires_at = int(now) + grace_seconds
    else:
        client.previous_secret_hash = client.previous_secret_expires_at = None
    client.client_secret_hash = hash_client_secret(secret)
    audit.record(session, "client.secret_rotated", client_id=client.client_id,
                 grace_seconds=grace_seconds)
    return secret


class ClientDirectory:
    """Registered clients by client_id, cached per process for `cache_seconds`.

    The token endpoint reads the client on every request; a short cache spares the database.
    A removed client or a new secret takes effect in every process within `cache_seconds`.
    """

    def __init__(self, cache_seconds: float) -> None:
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, RegisteredClient]] = {}

    def cached(self, client_id: str) -> RegisteredClient | None:
        """The client from this process's cache while it is fresh, else None (then `get`)."""
        hit = self._cache.get(client_id)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        return None

    def get(self, session: DbSession, client_id: str) -> RegisteredClient | None:
        now = time.monotonic()
        hit = self._cache.get(client_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        if row is None:
            self._cache.pop(client_id, None)
            return None
        snapshot = RegisteredClient.of(row)
        if self._ttl > 0:
            self._cache[client_id] = (now, snapshot)
        return snapshot
