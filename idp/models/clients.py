"""OAuth 2.0 / OpenID Connect clients (the relying parties)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from dataclasses import dataclass, fields

from sqlalchemy import BigInteger, DateTime, String, false
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, JSONText, utcnow


def hash_client_secret(secret: str) -> str:
    """SHA-256 of a generated 256-bit secret.

    Client secrets are random and long, so a fast hash is enough to make a database leak
    useless; a slow password hash would only add milliseconds to every token request.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


class ClientRules:
    """authlib.oauth2.rfc6749.ClientMixin over the registration fields.

    Shared by the ORM row and by RegisteredClient, the immutable snapshot the token endpoint
    works with.
    """

    client_id: str
    client_secret_hash: str | None
    # The secret before the last `idp clients rotate-secret`, and when it stops working.
    previous_secret_hash: str | None
    previous_secret_expires_at: int | None
    redirect_uris: list[str]
    grant_types: list[str]
    response_types: list[str]
    scope: str
    token_endpoint_auth_method: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OIDC Core §3.1.2.1 makes redirect_uri REQUIRED; never guess one.
        return None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 9700 §4.1.3: exact string matching, no patterns, no normalisation.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if not client_secret:
            return False
        offered = hash_client_secret(client_secret)
        if self.client_secret_hash and hmac.compare_digest(self.client_secret_hash, offered):
            return True
        # A rotated secret works on until its grace period ends, so that the relying party can
        # deploy the new one without a failed request (idp/services/clients.rotate_secret).
        return bool(self.previous_secret_hash and self.previous_secret_expires_at is not None
                    and time.time() < self.previous_secret_expires_at
                    and hmac.compare_digest(self.previous_secret_hash, offered))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


class OAuthClient(Base, ClientRules):
    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONText, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSONText, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    grant_types: Mapped[list[str]] = mapped_column(JSONText, default=list)
    response_types: Mapped[list[str]] = mapped_column(JSONText, default=lambda: ["code"])
    scope: Mapped[str] = mapped_column(String(500), default="openid profile email phone kotra")
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(40), default="client_secret_basic"
    )
    # KOTRA's own sites: no consent screen (the member consented at sign-up).
    first_party: Mapped[bool] = mapped_column(default=False)
    # A resource server (an API) may introspect tokens issued to other clients (RFC 7662 §4:
    # the endpoint limits who may); first_party does not imply it.
    resource_server: Mapped[bool] = mapped_column(default=False, server_default=false())
    # RFC 9700 §2.1.1: PKCE required for every new client unless switched off explicitly.
    require_pkce: Mapped[bool] = mapped_column(default=True)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


@dataclass(frozen=True)
class RegisteredClient(ClientRules):
    """A client's registration as read at one moment (safe to cache and share)."""

    client_id: str
    client_secret_hash: str | None
    previous_secret_hash: str | None
    previous_secret_expires_at: int | None
    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    grant_types: list[str]
    response_types: list[str]
    scope: str
    token_endpoint_auth_method: str
    first_party: bool
    resource_server: bool
    require_pkce: bool
    id_token_signed_response_alg: str

    @classmethod
    def of(cls, row: OAuthClient) -> RegisteredClient:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})
