"""Discovery (OIDC Discovery 1.0 §4) and the JWKS (RFC 7517), served before Flask.

Both are the same bytes for every caller and the most requested documents of a provider, so a
small WSGI layer answers them without the request cycle (context, session, hooks); everything
else passes through to Flask.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from idp.oidc.discovery import provider_metadata

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"


class PublishedDocuments:
    def __init__(self, flask_app: Any) -> None:
        self._app = flask_app
        self._next = flask_app.wsgi_app
        self._discovery: dict[str, bytes] = {}

    def _discovery_json(self) -> bytes:
        settings = self._app.config["IDP_SETTINGS"]
        issuer = settings["issuer"]
        body = self._discovery.get(issuer)
        if body is None:
            body = json.dumps(provider_metadata(issuer, settings["keys"]["allowed_algs"])).encode()
            self._discovery[issuer] = body
        return body

    def _jwks_json(self) -> bytes:
        keys = self._app.extensions["idp"].keys
        snap = keys.fresh()
        if snap is None:
            from idp.extensions import db

            with self._app.app_context():
                snap = keys.snapshot(db.session)
                db.session.remove()
        body: bytes = snap.jwks_json
        return body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if environ.get("REQUEST_METHOD") == "GET" and path in (DISCOVERY_PATH, JWKS_PATH):
            if path == DISCOVERY_PATH:
                body, max_age = self._discovery_json(), 3600
            else:
                body, max_age = self._jwks_json(), 300
            start_response("200 OK", [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", f"public, max-age={max_age}"),
                ("Access-Control-Allow-Origin", "*"),
                ("X-Content-Type-Options", "nosniff"),
            ])
            return [body]
        result: Iterable[bytes] = self._next(environ, start_response)
        return result
