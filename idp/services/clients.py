"""Registering relying parties (used by the CLI and the demo seed)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import select

from idp.errors import AlreadyExists, InvalidInput
from idp.models import OAuthClient
from idp.models.base import DbSession
from idp.models.clients import RegisteredClient, hash_client_secret
from idp.protocol import CLIENT_AUTH_METHODS, GRANT_TYPES, SIGNING_ALGS
from idp.services import audit


def _check_uri(field: str, uri: str) -> None:
    parts = urlsplit(uri)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme not in {"https", "http"} or not parts.netloc or parts.fragment:
        raise InvalidInput(field, f"not an absolute http(s) URI without fragment: {uri}")
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
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        return False
    session.delete(client)
    audit.record(session, "client.removed", client_id=client_id)
    return True


def reset_secret(session: DbSession, client: OAuthClient) -> str:
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = hash_client_secret(secret)
    return secret


class ClientDirectory:
    """Registered clients by client_id, cached per process for `cache_seconds`.

    The token endpoint reads the client on every request; a short cache spares the database.
    A removed client or a new secret takes effect in every process within `cache_seconds`.
    """

    def __init__(self, cache_seconds: float) -> None:
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, RegisteredClient]] = {}

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
