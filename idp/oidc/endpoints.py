"""Machine-to-machine endpoints: token, userinfo, introspection, revocation.

Plain functions of a werkzeug Request, served by lanes.ProtocolLane inside an app context but
without Flask's request cycle (no cookie session, routing, hooks): relying parties call these
many times per login, and the cycle cost as much as the work.
"""

from __future__ import annotations

import json
import re

from flask import current_app
from werkzeug.wrappers import Request, Response

from idp.extensions import db
from idp.models.readmodels import load_token_and_member
from idp.models.tokens import token_hash
from idp.oidc.server import provider
from idp.services.claims import user_claims

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# RFC 9110 §11.6.2: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]; Basic
# carries a token68 (RFC 7617 §2). Anything else would trip Authlib's parser.
_CREDENTIALS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+ +\S.*")
_BASIC = re.compile(r"basic +[A-Za-z0-9+/]+=*", re.IGNORECASE)


def _unparseable_client_credentials(req: Request) -> Response | None:
    """A 401 invalid_client (RFC 6749 §5.2) for an Authorization header that is not one."""
    header = req.headers.get("Authorization")
    if header is None:
        return None
    if _CREDENTIALS.fullmatch(header) and (
        not header[:6].lower().startswith("basic ") or _BASIC.fullmatch(header)
    ):
        return None
    return Response(json.dumps({"error": "invalid_client"}), 401, mimetype="application/json",
                    headers={"WWW-Authenticate": 'Basic realm="token"', **NO_STORE})


def token(req: Request) -> Response:
    """RFC 6749 §3.2: the token endpoint (one transaction per request)."""
    refused = _unparseable_client_credentials(req)
    if refused is not None:
        return refused
    server = current_app.extensions["authlib.server"]
    resp: Response = server.create_token_response()
    if resp.status_code == 200:
        db.session.commit()
    else:
        db.session.rollback()
    resp.headers.update(NO_STORE)  # RFC 6749 §5.1
    return resp


def userinfo(req: Request) -> Response:
    """OIDC Core §5.3: claims about the member, limited to the token's scope.

    The bearer token comes in the Authorization header (RFC 6750 §2.1) or, on POST, in the
    form body (§2.2); never in the query string.
    """
    realm = provider().issuer
    header = req.headers.get("Authorization", "")
    body_token = req.form.get("access_token") if req.method == "POST" else None
    if header and body_token:
        return _bearer_error(realm, "invalid_request", 400)  # §2: one method only
    if header:
        scheme, _, token_string = header.partition(" ")
        if scheme.lower() != "bearer" or not token_string.strip():
            return _bearer_error(realm, "invalid_request", 400)
    elif body_token:
        token_string = body_token
    else:
        # §3.1: no credentials -> a bare challenge, without an error code.
        return Response(status=401, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
    tok, member = load_token_and_member(
        db.session, "access_token_hash", token_hash(token_string.strip()), read_only=True
    )
    if tok is None or tok.is_expired() or tok.is_revoked():
        return _bearer_error(realm, "invalid_token", 401)
    if "openid" not in tok.scope.split():  # OIDC Core §5.3: userinfo needs the openid scope
        return _bearer_error(realm, "insufficient_scope", 403)
    if member is None or not member.is_active:
        return _bearer_error(realm, "invalid_token", 401)
    claims = user_claims(member, tok.scope, provider().entitlements)
    return Response(json.dumps(claims), mimetype="application/json", headers=NO_STORE)


def _bearer_error(realm: str, code: str, status: int) -> Response:
    return Response(
        json.dumps({"error": code}), status, mimetype="application/json",
        headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="{code}"', **NO_STORE},
    )


def introspect(req: Request) -> Response:
    """RFC 7662 token introspection."""
    refused = _unparseable_client_credentials(req)
    if refused is not None:
        return refused
    server = current_app.extensions["authlib.server"]
    resp: Response = server.create_endpoint_response("introspection")
    resp.headers.update(NO_STORE)
    return resp


def revoke(req: Request) -> Response:
    """RFC 7009 token revocation."""
    refused = _unparseable_client_credentials(req)
    if refused is not None:
        return refused
    server = current_app.extensions["authlib.server"]
    resp: Response = server.create_endpoint_response("revocation")
    resp.headers.update(NO_STORE)
    return resp
