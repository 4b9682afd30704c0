"""The protocol endpoints' everyday successful requests, served by hand (issue 10).

A relying party's code exchange and refresh, a service's client_credentials token, a resource
server's introspection and a site's userinfo call are nearly all the same few well-formed
requests.
For them Authlib's generic machinery (request objects, the endpoint and grant registries,
hooks) and the ORM session cost several times the work itself, so this module serves them
directly: the client authenticated with client_secret_basic (RFC 6749 §2.3.1), the form
parsed once, and the statements of idp/models/hotsql.py on a raw pooled connection.

The rule that keeps it safe: a handler here answers only a request it will certainly
answer with success, and decides that before it writes anything. Anything else — another
client authentication method, an unexpected parameter, a token that is unknown, expired,
revoked, rotated or another client's, an inactive member, a lost race — returns None, and the
request goes on to the Authlib endpoints (endpoints.py) exactly as before, which produce the
RFC's error, the audit row and the reuse detection. The responses are byte-for-byte those of
the Authlib path but for the random token values; tests/test_hot_path.py checks both.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import asdict, replace
from io import BytesIO
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, unquote

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN, compare_s256_code_challenge
from authlib.oidc.core.grants.util import is_openid_scope
from flask import Flask
from sqlalchemy import bindparam, exists, insert, select

from idp.models.base import utcnow
from idp.models.clients import RegisteredClient
from idp.models.hotsql import HotConnection, HotDb
from idp.models.readmodels import (
    _CODE_NAMES,
    _TOKEN_AND_MEMBER,
    _TOKEN_NAMES,
    CODE_AND_MEMBER,
    REFRESH_WITH_MEMBER_STATUS,
    CodeRecord,
    MemberView,
    TokenRecord,
    _member_from,
)
from idp.models.tokens import token_hash
from idp.oidc.jwts import client_signing_alg
from idp.oidc.server import (
    CLAIM_CODE,
    ROTATE_REFRESH,
    TOKEN_INSERT,
    USER_SCOPES,
    OpenIDCode,
    RefreshTokenRecord,
    introspection_payload,
    may_introspect,
    new_bearer_secret,
    query_client,
    token_row,
)
from idp.services.claims import user_claims
from idp.wiring import Provider

MAX_BODY = 64 * 1024  # as lanes.LaneRequest
JSON_HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                ("Pragma", "no-cache"))
# status, headers, body, and the grant type of an issued token (for the metrics)
Answer = tuple[str, list[tuple[str, str]], bytes, str | None]

_tokens = TOKEN_INSERT.table
_TOKEN_COLUMNS = [c.name for c in _tokens.columns if c.name != "id"]
# PostgreSQL: a guarded update (a refresh token's rotation, a code's claim) and the insert of
# the token it yields in one statement, hence one round trip and atomic in autocommit (a
# data-modifying WITH, PostgreSQL 15 §7.8.4): the token is written only if this request made
# the update.
def _insert_token_if(guard: Any, key: Any) -> Any:
    done = guard.returning(key).cte("guard")
    return insert(_tokens).add_cte(done).from_select(
        _TOKEN_COLUMNS,
        select(*(bindparam(name, type_=_tokens.c[name].type).label(name)
                 for name in _TOKEN_COLUMNS))
        .where(exists(select(done.c[key.name]))),
    )


ROTATE_AND_INSERT = _insert_token_if(ROTATE_REFRESH, _tokens.c.id)
CLAIM_AND_INSERT = _insert_token_if(CLAIM_CODE, CLAIM_CODE.table.c.code_hash)


def _json(body: dict[str, Any], *, sort: bool = True, grant: str | None = None) -> Answer:
    data = json.dumps(body, sort_keys=sort).encode()
    return "200 OK", [*JSON_HEADERS, ("Content-Length", str(len(data)))], data, grant


def read_form(environ: dict[str, Any]) -> dict[str, str] | None:
    """The urlencoded body of a POST, each parameter once (RFC 6749 §3.2), or None.

    The body is put back as a fresh stream, so that the Authlib path can read it again.
    """
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
        return None
    if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != \
            "application/x-www-form-urlencoded":
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = BytesIO(body)
    if len(body) != length:
        return None
    try:
        text = body.decode("ascii")
        if "%" in text or "+" in text:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                              errors="strict")
        else:  # nothing to unquote: parse_qsl's split, a third of its cost
            pairs = [_pair(part) for part in text.split("&")]
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    if len(form) != len(pairs) or any("\x00" in k or "\x00" in v for k, v in pairs):
        return None
    return form


def _pair(part: str) -> tuple[str, str]:
    name, equals, value = part.partition("=")
    if not equals:
        raise ValueError("not name=value")  # as parse_qsl(strict_parsing=True)
    return name, value


class HotPath:
    def __init__(self, app: Flask) -> None:
        self._app = app
        settings = app.config["IDP_SETTINGS"]
        self._secure = is_secure_transport(settings["issuer"] + "/token")
        # As build_server's OAUTH2_TOKEN_EXPIRES_IN: fixed when the app is built.
        self._access_ttl = int(settings["tokens"]["access_token_ttl"])
        self._db: HotDb | None = None

    @property
    def _provider(self) -> Provider:
        provider: Provider = self._app.extensions["idp"]
        return provider

    def db(self) -> HotDb:
        if self._db is None:
            from idp.extensions import db

            with self._app.app_context():
                self._db = HotDb(db.engine, async_commit=self._app.config["IDP_SETTINGS"]
                                 ["token_commit"] == "async")
        return self._db

    # --- client authentication ------------------------------------------------------------

    def basic_client(self, environ: dict[str, Any]) -> RegisteredClient | None:
        """RFC 6749 §2.3.1 client_secret_basic, when it succeeds (Authlib reports failures)."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header[:6].lower() != "basic ":
            return None
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            return None
        client_id = unquote(client_id)
        client = self._provider.clients.cached(client_id)
        if client is None:
            with self._app.app_context():
                client = query_client(client_id)
        if client is None or client.token_endpoint_auth_method != "client_secret_basic" \
                or not client.check_client_secret(unquote(secret)):
            return None
        return client

    # --- the token endpoint (RFC 6749 §3.2) --------------------------------------------------

    def token(self, environ: dict[str, Any]) -> Answer | None:
        if not self._secure:
            return None
        form = read_form(environ)
        if form is None:
            return None
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials" and form.keys() <= {"grant_type", "scope"}:
            return self._client_credentials(environ, form)
        if grant_type == "refresh_token" and form.keys() == {"grant_type", "refresh_token"}:
            return self._refresh(environ, form["refresh_token"])
        if grant_type == "authorization_code" and "code" in form and form.keys() <= {
                "grant_type", "code", "redirect_uri", "code_verifier"}:
            return self._authorization_code(environ, form)
        return None

    def _client_credentials(self, environ: dict[str, Any], form: dict[str, str]
                            ) -> Answer | None:
        """RFC 6749 §4.4 (server.ClientCredentialsGrant's success path)."""
        client = self.basic_client(environ)
        if client is None or not client.check_grant_type("client_credentials"):
            return None
        requested = form.get("scope")
        if requested:
            if set(requested.split()) & USER_SCOPES:
                return None
            supported = self._app.extensions["authlib.server"].scopes_supported
            if supported and not set(supported).issuperset(requested.split()):
                return None
        token = self._bearer(client, requested, refresh=False)
        now = int(time.time())
        hot = self.db()
        with hot.connection() as conn:
            conn.write(hot.prepare(TOKEN_INSERT, _TOKEN_COLUMNS),
                       self._row(token, client, now, previous=None))
            conn.commit()
        return _json(token, grant="client_credentials")

    def _refresh(self, environ: dict[str, Any], refresh_token: str) -> Answer | None:
        """RFC 6749 §6 with rotation (server.RefreshTokenGrant's success path)."""
        client = self.basic_client(environ)
        if client is None or not client.check_grant_type("refresh_token"):
            return None
        hot = self.db()
        with hot.connection() as conn:
            row = conn.one(hot.prepare(REFRESH_WITH_MEMBER_STATUS),
                           {"digest": token_hash(refresh_token)})
            if row is None:
                return None
            found = TokenRecord(**{name: row[name] for name in _TOKEN_NAMES})
            if found.client_id != client.client_id or not found.is_refresh_usable() \
                    or found.member_id is None or row["m_status"] != "active":
                return None  # rotated (reuse), revoked, expired, another's: Authlib's answer
            previous = replace(found, scope=found.refresh_scope or found.scope)
            token = self._bearer(client, previous.scope, refresh=True)
            now = int(time.time())
            values = self._row(token, client, now, previous=previous, member_id=found.member_id)
            rotation = {"token_id": found.id, "now": now}
            if not self._insert_token_if(conn, ROTATE_REFRESH, ROTATE_AND_INSERT, rotation,
                                         values):
                return None  # another request rotated it first: see _LostRace
        return _json(token, grant="refresh_token")

    def _authorization_code(self, environ: dict[str, Any], form: dict[str, str]
                            ) -> Answer | None:
        """RFC 6749 §4.1.3-4.1.4 with PKCE (RFC 7636 §4.6) and the ID token (OIDC Core
        §3.1.3.3): server.AuthorizationCodeGrant's success path, with the same ID token
        (server.OpenIDCode builds it)."""
        client = self.basic_client(environ)
        if client is None or not client.check_grant_type("authorization_code"):
            return None
        hot = self.db()
        with hot.connection() as conn:
            row = conn.one(hot.prepare(CODE_AND_MEMBER), {"digest": token_hash(form["code"])})
        if row is None:
            return None
        code = CodeRecord(**{name: row[name] for name in _CODE_NAMES})
        member = _member_from(SimpleNamespace(**row))
        if code.client_id != client.client_id or code.used_at is not None \
                or code.is_expired():
            return None  # another client's, used before (Authlib revokes its tokens), expired
        if code.redirect_uri and form.get("redirect_uri") != code.redirect_uri:
            return None  # §4.1.3: identical to the authorization request's
        if not _pkce_verified(code, form.get("code_verifier")):
            return None
        if member is None or not member.is_active:
            return None
        token = self._bearer(client, code.scope,
                             refresh=client.check_grant_type("refresh_token"))
        if is_openid_scope(token.get("scope")):
            if client_signing_alg(self._provider, client) is None:
                return None  # its algorithm was disabled since: the endpoint says so
            request = SimpleNamespace(client=client, authorization_code=code, user=member)
            with self._app.app_context():  # the signing key's cache (read on a miss)
                token["id_token"] = _ID_TOKENS.encode_id_token(token, request)
        values = token_row(token, client.client_id, member.id, int(time.time()), code=code,
                           refresh_ttl=self._provider.settings["tokens"]["refresh_token_ttl"])
        claim = {"b_code_hash": code.code_hash, "now": utcnow()}
        with hot.connection() as conn:
            # Of two exchanges of one code exactly one writes anything; the other goes to the
            # endpoint, which sees a used code (§4.1.2: it revokes what the code gave).
            if not self._insert_token_if(conn, CLAIM_CODE, CLAIM_AND_INSERT, claim, values):
                return None
        return _json(token, grant="authorization_code")

    def _insert_token_if(self, conn: HotConnection, guard: Any, combined: Any,
                         guard_values: dict[str, Any], token_values: dict[str, Any]) -> bool:
        """Run `guard` (an update of one row) and, if it changed that row, insert the token:
        atomically, in one statement on PostgreSQL (`combined`), in a transaction on SQLite.
        False, with nothing written, when another request made the update first."""
        hot = self.db()
        if hot.postgres:
            return conn.write(hot.prepare(combined), token_values | guard_values) == 1
        try:
            with conn.transaction():
                if conn.write(hot.prepare(guard), guard_values) != 1:
                    raise _LostRace
                conn.write(hot.prepare(TOKEN_INSERT, _TOKEN_COLUMNS), token_values)
        except _LostRace:
            return False
        return True

    def _bearer(self, client: RegisteredClient, scope: str | None, *, refresh: bool
                ) -> dict[str, Any]:
        """authlib.oauth2.rfc6750.BearerTokenGenerator's token, with our generators."""
        allowed = client.get_allowed_scope(scope or "")
        token: dict[str, Any] = {"token_type": "Bearer", "access_token": new_bearer_secret(),
                                 "expires_in": self._access_ttl}
        if refresh:
            token["refresh_token"] = new_bearer_secret()
        if allowed:
            token["scope"] = allowed
        return token

    def _row(self, token: dict[str, Any], client: RegisteredClient, now: int, *,
             previous: TokenRecord | None, member_id: int | None = None) -> dict[str, Any]:
        """The row server.save_token writes."""
        return token_row(token, client.client_id, member_id, now, previous=previous,
                         refresh_ttl=self._provider.settings["tokens"]["refresh_token_ttl"])

    # --- userinfo (OIDC Core §5.3) -----------------------------------------------------------

    def userinfo(self, environ: dict[str, Any]) -> Answer | None:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
            return None
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or "\x00" in value:
            return None
        found, member = self._token_and_member("access_token_hash", value)
        if found is None or found.is_expired() or found.is_revoked() \
                or "openid" not in found.scope.split() or member is None \
                or not member.is_active:
            return None
        claims = user_claims(member, found.scope, self._provider.entitlements)
        return _json(claims, sort=False)

    def _token_and_member(self, column: str, value: str
                          ) -> tuple[TokenRecord | None, MemberView | None]:
        hot = self.db()
        with hot.connection() as conn:
            row = conn.record(hot.prepare(_TOKEN_AND_MEMBER[column]),
                              {"digest": token_hash(value)})
        if row is None:
            return None, None
        # The statement's first columns are TokenRecord's fields, in order (readmodels).
        return TokenRecord(*row[:_TOKEN_FIELDS]), _member_from(row)

    # --- introspection (RFC 7662) ------------------------------------------------------------

    def introspect(self, environ: dict[str, Any]) -> Answer | None:
        if not self._secure:
            return None
        form = read_form(environ)
        if form is None or "token" not in form or not form.keys() <= {"token",
                                                                      "token_type_hint"}:
            return None
        client = self.basic_client(environ)
        if client is None:
            return None
        found, member = self._token_and_member("access_token_hash", form["token"])
        if found is None:
            found, member = self._token_and_member("refresh_token_hash", form["token"])
            if found is None:
                return None
            found = RefreshTokenRecord(**asdict(found))
        if not may_introspect(found, client) or found.is_expired() or found.is_revoked():
            return None
        if found.member_id is not None and (member is None or not member.is_active):
            return None
        payload = introspection_payload(found, member, self._provider.issuer)
        return _json(payload)


_ID_TOKENS = OpenIDCode()
_TOKEN_FIELDS = len(_TOKEN_NAMES)


def _pkce_verified(code: CodeRecord, verifier: str | None) -> bool:
    """RFC 7636 §4.6, as server.S256CodeChallenge (with a confidential client): no challenge
    and no verifier, or an S256 challenge that the verifier meets."""
    if not code.code_challenge:
        return verifier is None
    return (code.code_challenge_method == "S256" and verifier is not None
            and CODE_VERIFIER_PATTERN.match(verifier) is not None
            and bool(compare_s256_code_challenge(verifier, code.code_challenge)))


class _LostRace(Exception):
    """Another request rotated the refresh token (spent the code) first: the transaction is
    rolled back and Authlib's path, seeing the rotation, revokes the family (RFC 9700
    §4.14.2; for a code, RFC 6749 §4.1.2)."""
