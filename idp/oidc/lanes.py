"""What is served in front of Flask's request cycle.

- Discovery (OIDC Discovery 1.0 §4) and the JWKS (RFC 7517): the same bytes for everyone.
- The protocol endpoints of endpoints.py: an app context (database session, settings) and a
  werkzeug Request, but no cookie session, URL routing, CSRF or page hooks.
Everything else goes on to Flask.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from idp.faults import RETRY_AFTER_SECONDS, unavailable_dependency
from idp.oidc import endpoints
from idp.oidc.discovery import provider_metadata
from idp.oidc.hot import HotPath
from idp.oidc.server import _lane_request

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"

ROUTES: dict[str, tuple[frozenset[str], Callable[[Request], Response]]] = {
    "/token": (frozenset({"POST"}), endpoints.token),
    "/userinfo": (frozenset({"GET", "POST"}), endpoints.userinfo),
    "/introspect": (frozenset({"POST"}), endpoints.introspect),
    "/revoke": (frozenset({"POST"}), endpoints.revoke),
}


# Request metrics (idp/observability.py installs them): tokens issued by grant type.
METRICS: Any = None


_NOSNIFF = ("X-Content-Type-Options", "nosniff")


class LaneRequest(Request):
    max_content_length = 64 * 1024  # protocol requests are small; refuse anything else early


def _json_error(status: int, error: str, extra: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": error}), status, mimetype="application/json",
                    headers={"Cache-Control": "no-store", **(extra or {})})


def _unavailable() -> Response:
    """503 while the database or the store is down (idp/faults.py).

    RFC 6749 §5.2 has no code for this; `server_error` is what the authorization endpoint
    would send (§4.1.2.1), and the status and Retry-After (RFC 9110 §15.6.4, §10.2.3) tell a
    client that it may simply retry.
    """
    return Response(
        json.dumps({"error": "server_error",
                    "error_description": "temporarily unavailable, retry later"}),
        503, mimetype="application/json",
        headers={"Cache-Control": "no-store", "Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _rollback(session: Any) -> None:
    try:
        session.rollback()  # nothing half-written; the pool discards a broken connection
    except Exception:  # noqa: BLE001, S110 — the connection is gone already
        pass


def _malformed(req: Request) -> bool:
    """A request no client sends: a multipart body (these endpoints take form-urlencoded
    bodies: RFC 6749 §3.2, RFC 6750 §2.2, RFC 7009 §2.1, RFC 7662 §2.1; werkzeug also loses
    the spooled file of a truncated part), a NUL anywhere (PostgreSQL text cannot store one),
    or a multipart part without a name (RFC 7578 §4.2 requires one)."""
    if req.mimetype == "multipart/form-data":
        return True
    if "\x00" in req.headers.get("Authorization", ""):
        return True
    for key, value in (*req.form.items(multi=True), *req.args.items(multi=True)):
        if key is None or "\x00" in key or "\x00" in value:
            return True
    return False


class Lanes:
    def __init__(self, flask_app: Any) -> None:
        self._app = flask_app
        self._next = flask_app.wsgi_app
        self._discovery: dict[str, bytes] = {}
        hot = HotPath(flask_app)
        # The everyday successful requests, by hand (hot.py); None: on to the endpoint.
        self._hot: dict[str, Callable[[dict[str, Any]], Any]] = {
            "/token": hot.token, "/userinfo": hot.userinfo, "/introspect": hot.introspect,
        }

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
        body: bytes = snap.jwks_json
        return body

    def _document(self, body: bytes, max_age: int, start_response: Callable[..., Any]
                  ) -> Iterable[bytes]:
        start_response("200 OK", [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", f"public, max-age={max_age}"),
            ("Access-Control-Allow-Origin", "*"),
            ("X-Content-Type-Options", "nosniff"),
        ])
        return [body]

    def _protocol(self, route: tuple[frozenset[str], Callable[[Request], Response]],
                  environ: dict[str, Any]) -> Response:
        methods, handler = route
        req = LaneRequest(environ)
        if req.method not in methods:
            return _json_error(405, "invalid_request", {"Allow": ", ".join(sorted(methods))})
        token = _lane_request.set(req)
        try:
            with self._app.app_context():  # its teardown returns the database session
                try:
                    if _malformed(req):
                        return _json_error(400, "invalid_request")
                    resp = handler(req)
                    if METRICS is not None and handler is endpoints.token and \
                            resp.status_code == 200:
                        METRICS.token_issued(req.form.get("grant_type"))
                    return resp
                except HTTPException as exc:  # e.g. 413 from form parsing
                    return _json_error(exc.code or 400, "invalid_request")
                except UnicodeDecodeError:  # client credentials that are not UTF-8
                    return _json_error(401, "invalid_client",
                                       {"WWW-Authenticate": 'Basic realm="token"'})
                except Exception as exc:
                    from idp.extensions import db

                    _rollback(db.session)
                    dependency = unavailable_dependency(exc)
                    if dependency is not None:
                        log.warning("%s unavailable on %s: %s", dependency, req.path,
                                    type(exc).__name__)
                        return _unavailable()
                    log.exception("unhandled error on %s", req.path)
                    return _json_error(500, "server_error")
        finally:
            _lane_request.reset(token)
            req.close()  # file parts of a multipart body are spooled to temporary files

    def _hot_answer(self, hot: Callable[[dict[str, Any]], Any], path: str,
                    environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """hot.py's answer, or None: the endpoint serves the request. No app context: the
        hot path reads the provider and its database directly."""
        try:
            answer = hot(environ)
        except Exception as exc:
            dependency = unavailable_dependency(exc)
            if dependency is not None:
                log.warning("%s unavailable on %s: %s", dependency, path, type(exc).__name__)
                resp = _unavailable()
            else:
                log.exception("unhandled error on %s", path)
                resp = _json_error(500, "server_error")
            return resp.status, [*resp.headers.items(), _NOSNIFF], resp.get_data()
        if answer is None:
            return None
        if METRICS is not None and path == "/token":
            METRICS.token_issued(answer[3])
        return answer[0], [*answer[1], _NOSNIFF], answer[2]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        route = ROUTES.get(path)
        if route is not None:
            hot = self._hot.get(path)
            if hot is not None:
                answer = self._hot_answer(hot, path, environ)
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return [body]
            resp = self._protocol(route, environ)
            resp.headers["X-Content-Type-Options"] = "nosniff"
            result: Iterable[bytes] = resp(environ, start_response)
            return result
        if environ.get("REQUEST_METHOD") == "GET":
            if path == DISCOVERY_PATH:
                return self._document(self._discovery_json(), 3600, start_response)
            if path == JWKS_PATH:
                try:
                    body = self._jwks_json()
                except Exception as exc:
                    if unavailable_dependency(exc) is None:
                        raise
                    log.warning("database unavailable on %s: %s", path, type(exc).__name__)
                    resp = _unavailable()
                    resp.headers["X-Content-Type-Options"] = "nosniff"
                    unavailable: Iterable[bytes] = resp(environ, start_response)
                    return unavailable
                return self._document(body, 300, start_response)
        passed: Iterable[bytes] = self._next(environ, start_response)
        return passed
