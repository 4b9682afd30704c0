"""The Authlib authorization server and its grants.

- Authorization code grant: RFC 6749 §4.1, PKCE (RFC 7636, S256 only) and OIDC Core §3.1.
- Refresh token grant: RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2).
- Client credentials grant: RFC 6749 §4.4, for service APIs.
- Revocation (RFC 7009) and introspection (RFC 7662) endpoints.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import Any, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.grants.util import is_openid_scope, validate_nonce
from flask import current_app, request
from sqlalchemy import Table, bindparam, insert, update

from idp.extensions import db
from idp.models import AuthorizationCode, Token
from idp.models.base import utcnow
from idp.models.clients import RegisteredClient
from idp.models.readmodels import (
    CodeRecord,
    MemberView,
    TokenRecord,
    load_code_and_member,
    load_member,
    load_token,
    load_token_and_member,
)
from idp.models.tokens import token_hash
from idp.oidc.jwts import client_signing_alg
from idp.protocol import CLIENT_AUTH_METHODS, CODE_CHALLENGE_METHODS, CONFIDENTIAL_AUTH_METHODS
from idp.services import audit
from idp.services.claims import SCOPES_SUPPORTED, user_claims
from idp.wiring import Provider

# Scopes that release a member's claims: only for grants with a member behind them.
USER_SCOPES = frozenset(SCOPES_SUPPORTED)


def provider() -> Provider:
    p: Provider = current_app.extensions["idp"]
    return p


# The HTTP request of a protocol endpoint served outside Flask's request cycle (lanes.py).
_lane_request: ContextVar[Any] = ContextVar("idp_lane_request", default=None)


def http_request() -> Any:
    """The current HTTP request: Flask's on pages, the lane's on protocol endpoints."""
    lane = _lane_request.get()
    return lane if lane is not None else request


def client_ip() -> str:
    return http_request().remote_addr or "unknown"


def query_client(client_id: str) -> RegisteredClient | None:
    # Client IDs are short hex strings; a NUL (from base64-decoded Basic credentials, say)
    # cannot even be sent to PostgreSQL.
    if not client_id or len(client_id) > 64 or "\x00" in client_id:
        return None
    return provider().clients.get(db.session, client_id)


_tokens = cast(Table, Token.__table__)
_codes = cast(Table, AuthorizationCode.__table__)
# Prepared Core statements for the hot paths (compiled once, no ORM bookkeeping).
TOKEN_INSERT = insert(_tokens)
CODE_INSERT = insert(_codes)
ROTATE_REFRESH = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("token_id"), _tokens.c.rotated_at.is_(None))
    .values(rotated_at=bindparam("now"))
)
CLAIM_CODE = (
    update(_codes)
    .where(_codes.c.code_hash == bindparam("b_code_hash"), _codes.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
)


def new_bearer_secret(*_args: Any, **_kwargs: Any) -> str:
    """256 bits from the OS CSPRNG, URL-safe (RFC 6750 b64token)."""
    return secrets.token_urlsafe(32)


def token_row(token: dict[str, Any], client_id: str, member_id: int | None, now: int, *,
              code: CodeRecord | None = None, previous: TokenRecord | None = None,
              refresh_ttl: int) -> dict[str, Any]:
    """The `tokens` row of a freshly issued token: hashes only, and what it inherits from
    the code or the refresh token it came from."""
    refresh = token.get("refresh_token")
    source: Any = code or previous
    return dict(
        client_id=client_id,
        member_id=member_id,
        scope=token.get("scope", ""),
        refresh_scope=(previous.scope if previous else token.get("scope", "")) if refresh else None,
        access_token_hash=token_hash(token["access_token"]),
        refresh_token_hash=token_hash(refresh) if refresh else None,
        family_id=previous.family_id if previous else secrets.token_hex(16),
        code_hash=code.code_hash if code else (previous.code_hash if previous else None),
        sid=source.sid if source else None,
        auth_time=source.auth_time if source else None,
        acr=source.acr if source else None,
        amr=source.amr if source else None,
        issued_at=now,
        access_expires_at=now + int(token["expires_in"]),
        refresh_expires_at=now + refresh_ttl if refresh else None,
        rotated_at=None,
        revoked_at=None,
    )


def save_token(token: dict[str, Any], oauth_request: Any) -> None:
    """Persist hashes of a freshly issued token (added to the request's transaction)."""
    # A Core INSERT on the table with bound parameters (one cached compiled statement): the
    # ORM unit of work would cost more than the rest of the request.
    db.session.connection().execute(TOKEN_INSERT, token_row(
        token, oauth_request.client.client_id,
        oauth_request.user.id if oauth_request.user else None, int(time.time()),
        code=oauth_request.authorization_code, previous=oauth_request.refresh_token,
        refresh_ttl=provider().settings["tokens"]["refresh_token_ttl"]))


def revoke_where(*conditions: Any) -> int:
    result = db.session.execute(
        update(Token)
        .where(Token.revoked_at.is_(None), *conditions)
        .values(revoked_at=int(time.time()))
    )
    return int(getattr(result, "rowcount", 0) or 0)


class S256CodeChallenge(CodeChallenge):
    """RFC 7636 limited to S256 (RFC 9700 §2.1.1: `plain` must not be used)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = list(CODE_CHALLENGE_METHODS)
    # Without code_challenge_method the RFC default is "plain", which is refused.
    DEFAULT_CODE_CHALLENGE_METHOD = "plain"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        client: RegisteredClient = grant.request.client
        if not challenge and (client.require_pkce or client.is_public):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
                redirect_uri=redirect_uri,
            )
        if challenge and data.get("code_challenge_method", "plain") not in CODE_CHALLENGE_METHODS:
            raise InvalidRequestError(
                "Only code_challenge_method=S256 is supported", redirect_uri=redirect_uri
            )
        try:
            super().validate_code_challenge(grant, redirect_uri)
        except InvalidRequestError as exc:
            exc.redirect_uri = redirect_uri
            raise


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    _member: MemberView | None = None  # read with the code (one grant object per request)

    def save_authorization_code(self, code: str, oauth_request: Any) -> None:
        data = oauth_request.payload.data
        sso = oauth_request.sso
        db.session.connection().execute(CODE_INSERT, dict(
            code_hash=token_hash(code),
            client_id=oauth_request.client.client_id,
            member_id=oauth_request.user.id,
            redirect_uri=oauth_request.payload.redirect_uri,
            scope=oauth_request.scope or "",
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            sid=sso.sid,
            auth_time=sso.auth_time,
            acr=sso.acr,
            amr=sso.amr,
            created_at=utcnow(),
            expires_at=utcnow() + dt.timedelta(seconds=provider().settings["tokens"]["code_ttl"]),
            used_at=None,
        ))

    def query_authorization_code(
        self, code: str, client: RegisteredClient
    ) -> CodeRecord | None:
        row, self._member = load_code_and_member(db.session, token_hash(code))
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2 / §10.5: a replayed code revokes what was issued from it.
            count = revoke_where(Token.code_hash == row.code_hash)
            audit.record(
                db.session, "token.code_replay", member_id=row.member_id,
                client_id=client.client_id, ip=client_ip(), tokens_revoked=count,
            )
            db.session.commit()
            return None
        if row.is_expired():
            return None
        return row

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        # Atomic claim: of two concurrent exchanges of one code, exactly one succeeds.
        result = db.session.connection().execute(
            CLAIM_CODE, {"b_code_hash": authorization_code.code_hash, "now": utcnow()}
        )
        if result.rowcount != 1:
            raise InvalidGrantError("Invalid 'code' in request.")

    def authenticate_user(self, authorization_code: CodeRecord) -> MemberView | None:
        member = self._member
        if member is None or member.id != authorization_code.member_id:
            member = load_member(db.session, authorization_code.member_id)
        return member if member is not None and member.is_active else None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    _member: MemberView | None = None

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        row, self._member = load_token_and_member(
            db.session, "refresh_token_hash", token_hash(refresh_token)
        )
        client = self.request.client
        if row is None or client is None or row.client_id != client.client_id:
            return None  # another client's token: refused, and no lever on its family
        if row.rotated_at is not None and row.revoked_at is None:
            # RFC 9700 §4.14.2: a rotated refresh token presented again means one of two
            # parties holds a stolen copy; revoke the whole family.
            self._revoke_family(row, "presented again after rotation")
            return None
        if not row.is_refresh_usable() or self._member is None or not self._member.is_active:
            return None
        # Validate and reissue against the scope of the grant, not of the last access token.
        return replace(row, scope=row.refresh_scope or row.scope)

    def _revoke_family(self, row: TokenRecord, reason: str) -> None:
        db.session.rollback()
        count = revoke_where(Token.family_id == row.family_id)
        audit.record(
            db.session, "token.refresh_reuse", member_id=row.member_id,
            client_id=row.client_id, ip=client_ip(), tokens_revoked=count, reason=reason,
        )
        db.session.commit()

    def authenticate_user(self, refresh_token: TokenRecord) -> MemberView | None:
        member = self._member  # read with the token, in one query
        return member if member is not None and member.is_active else None

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        result = db.session.connection().execute(
            ROTATE_REFRESH, {"token_id": refresh_token.id, "now": int(time.time())}
        )
        if result.rowcount != 1:
            # A concurrent refresh with the same token won: two holders of one token is the
            # theft signal of RFC 9700 §4.14.2, whichever of them came second.
            self._revoke_family(refresh_token, "presented twice at once")
            raise InvalidGrantError()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4: a client acting for itself, never for a member."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        # The member scopes release a member's claims (OIDC Core §5.4); with no member
        # behind the token they would only mislead a resource server (RFC 6749 §4.4.2, §5.2).
        requested = set((self.request.payload.scope or "").split())
        if requested & USER_SCOPES:
            raise InvalidScopeError(
                "Member scopes (openid, profile, email, phone, kotra) cannot be requested "
                "with client_credentials.")
        super().validate_requested_scope()


class OpenIDCode(oidc_grants.OpenIDCode):
    """ID tokens for the code flow (OIDC Core §3.1.3.6, §2).

    Prompt, max_age and login are handled by the authorization pipeline (authorize.py), so
    only the nonce check and the token hook are registered here.
    """

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook(
                "after_validate_authorization_request_payload",
                lambda g, redirect_uri: validate_nonce(g.request, self.exists_nonce, False),
            )

    def exists_nonce(self, nonce: str, oauth_request: Any) -> bool:
        # Codes are single use and the nonce travels inside the code, so the RP's own nonce
        # check (OIDC Core §3.1.3.7 step 11) is what defeats replay; nothing to look up here.
        return False

    def get_client_algorithm(self, client: RegisteredClient) -> str:
        alg = client_signing_alg(provider(), client)
        if alg is None:  # registered before the operator disabled it: no key signs it
            raise UnauthorizedClientError(
                "the client's id_token_signed_response_alg is not enabled on this provider")
        return alg

    def resolve_client_private_key(self, client: RegisteredClient) -> Any:
        return provider().keys.signing_key(db.session, self.get_client_algorithm(client))

    def get_encode_header(self, client: RegisteredClient) -> dict[str, str]:
        key = self.resolve_client_private_key(client)
        return {"alg": self.get_client_algorithm(client), "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: RegisteredClient) -> dict[str, Any]:
        now = int(time.time())
        p = provider()
        return {
            "iss": p.issuer,
            "aud": [client.client_id],
            "iat": now,
            "exp": now + p.settings["tokens"]["id_token_ttl"],
        }

    def get_authorization_code_claims(self, authorization_code: CodeRecord) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.sid:
            claims["sid"] = authorization_code.sid
        return claims

    def generate_user_info(self, user: MemberView, scope: str) -> dict[str, Any]:
        return user_claims(user, scope, provider().entitlements)


class KotraIssuerParameter(IssuerParameter):
    """RFC 9207: `iss` in every authorization response."""

    def get_issuer(self) -> str:
        return provider().issuer


@dataclass(frozen=True)
class RefreshTokenRecord(TokenRecord):
    """A token found by its refresh token: active while it can still be used (RFC 7662)."""

    def is_expired(self) -> bool:
        return not self.is_refresh_usable()


def _find_token(token_string: str) -> TokenRecord | None:
    """RFC 7009 §2.1 / RFC 7662 §2.1: the hint only orders the search; both kinds are tried."""
    digest = token_hash(token_string)
    found = load_token(db.session, "access_token_hash", digest)
    if found is not None:
        return found
    found = load_token(db.session, "refresh_token_hash", digest)
    return RefreshTokenRecord(**asdict(found)) if found is not None else None


class KotraRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def check_params(self, request: Any, client: Any) -> None:
        # RFC 7009 §2.1: the hint only orders the search, and an unknown one widens it (Authlib
        # answered 401 unsupported_token_type without a challenge).
        if "token" not in request.form:
            raise InvalidRequestError()

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _find_token(token_string)

    def revoke_token(self, token: TokenRecord, oauth_request: Any) -> None:
        if isinstance(token, RefreshTokenRecord):
            # RFC 7009 §2.1: revoking a refresh token also invalidates its access tokens.
            count = revoke_where(Token.family_id == token.family_id)
        else:
            count = revoke_where(Token.id == token.id)
        audit.record(
            db.session, "token.revoked", member_id=token.member_id, client_id=token.client_id,
            ip=client_ip(), tokens_revoked=count,
        )
        db.session.commit()


class KotraIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def check_params(self, request: Any, client: Any) -> None:
        # RFC 7662 §2.1: an unknown token_type_hint only widens the search.
        if "token" not in request.form:
            raise InvalidRequestError()

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _find_token(token_string)

    def check_permission(
        self, token: TokenRecord, client: RegisteredClient, oauth_request: Any
    ) -> bool:
        return may_introspect(token, client)

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        member = None
        if token.member_id is not None:
            member = load_member(db.session, token.member_id)
            if member is None or not member.is_active:
                return {"active": False}
        return introspection_payload(token, member, provider().issuer)


def may_introspect(token: TokenRecord, client: RegisteredClient) -> bool:
    """RFC 7662 §4: the client the token was issued to, and the resource servers registered
    as such (not merely first-party sites), may introspect it."""
    return bool(token.client_id == client.client_id or client.resource_server)


def introspection_payload(token: TokenRecord, member: MemberView | None,
                          issuer: str) -> dict[str, Any]:
    """RFC 7662 §2.2: an active token's response (the member, if any, is active)."""
    refresh = isinstance(token, RefreshTokenRecord)
    payload: dict[str, Any] = {
        "active": True,
        "client_id": token.client_id,
        "token_type": "refresh_token" if refresh else "Bearer",
        "scope": (token.refresh_scope or token.scope) if refresh else token.scope,
        "iat": token.issued_at,
        "exp": token.refresh_expires_at if refresh else token.access_expires_at,
        "iss": issuer,
    }
    if member is not None:
        payload["sub"] = member.subject
        if member.login_id:
            payload["username"] = member.login_id
    if token.sid:
        payload["sid"] = token.sid
    return payload


class _CachedPayload(FlaskOAuth2Payload):
    """The form body of a token, introspection or revocation request (RFC 6749 §3.2: their
    parameters travel in the body, never the query), read once: Authlib reads it often."""

    @cached_property
    def data(self) -> Any:
        return self._request.form


class _FlaskRequest(FlaskOAuth2Request):
    def __init__(self, flask_request: Any, uri: str) -> None:
        OAuth2Request.__init__(self, method=flask_request.method, uri=uri,
                               headers=flask_request.headers)
        self._request = flask_request
        self.payload = _CachedPayload(flask_request)


class KotraAuthorizationServer(AuthorizationServer):
    """Accepts a prepared OAuth2Request: the interaction resumes a stored request."""

    def create_oauth2_request(self, oauth_request: Any) -> OAuth2Request:
        if isinstance(oauth_request, OAuth2Request):
            return oauth_request
        # The issuer, not the Host header, names the endpoint (and its transport security).
        current = http_request()
        return _FlaskRequest(current, provider().issuer + current.path)

    def authenticate_client(self, request: OAuth2Request, methods: list[str],
                            endpoint: str = "token") -> Any:
        """Authlib's client authentication, refusing what it lets through: a request that
        "includes multiple credentials, or utilizes more than one mechanism for authenticating
        the client" is invalid_request (RFC 6749 §5.2; §2.3: one method per request). Authlib
        takes the first method that succeeds and ignores the rest: Basic credentials with a
        client_secret in the body, or a body client_id naming another client than the one
        the credentials authenticate."""
        form = request.payload.data if request.payload is not None else {}
        basic = request.headers.get("Authorization", "")[:6].lower() == "basic "
        if basic and "client_secret" in form:
            raise InvalidRequestError("one client authentication method per request: HTTP "
                                      "Basic or client_secret in the body, not both")
        client = super().authenticate_client(request, methods, endpoint)
        claimed = form.get("client_id")
        if claimed is not None and claimed != client.get_client_id():
            raise InvalidRequestError("client_id is not the client the credentials name")
        return client


def build_server(app: Any) -> AuthorizationServer:
    tokens = app.config["IDP_SETTINGS"]["tokens"]
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = new_bearer_secret
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = new_bearer_secret
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": tokens["access_token_ttl"],
        "refresh_token": tokens["access_token_ttl"],
        "client_credentials": tokens["access_token_ttl"],
    }
    server = KotraAuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(AuthorizationCodeGrant, [OpenIDCode(), S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(KotraRevocationEndpoint)
    server.register_endpoint(KotraIntrospectionEndpoint)
    server.register_extension(KotraIssuerParameter())
    return server
