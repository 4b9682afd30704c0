"""Answers while a dependency is down (classified in idp/faults.py): 503, never 500.

Pages get the Korean (or English) "잠시 후 다시 시도해 주세요" page with Retry-After. The
authorization endpoint, when it can still prove where the client wants errors sent, redirects
there with `temporarily_unavailable` (RFC 6749 §4.1.2.1: the code exists because a 503 cannot
travel through a redirect); otherwise it shows the page like any other.
"""

from __future__ import annotations

import logging

from authlib.oauth2 import OAuth2Error
from flask import Response, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from idp.extensions import db
from idp.faults import RETRY_AFTER_SECONDS, Dependency, unavailable_dependency

log = logging.getLogger(__name__)


class TemporarilyUnavailableError(OAuth2Error):
    """RFC 6749 §4.1.2.1."""

    error = "temporarily_unavailable"
    description = "The service is temporarily unavailable; try again later."


def unavailable_page() -> BaseResponse:
    """The 503 page of every browser-facing route."""
    try:
        body = render_template("oidc/unavailable.html", retry_after=RETRY_AFTER_SECONDS)
    except Exception:  # noqa: BLE001 — the page of last resort must not fail
        body = "<h1>잠시 후 다시 시도해 주세요.</h1>"
    return Response(body, 503, mimetype="text/html",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _authorization_redirect(dependency: Dependency) -> BaseResponse | None:
    """The client's own redirect_uri with temporarily_unavailable, if it can be verified.

    The client's registration comes from the database, so only a store outage leaves a way
    to verify it; with the database down the user gets the page (never an unverified
    redirect: RFC 6749 §4.1.2.1).
    """
    if dependency != "store":
        return None
    from idp.oidc import authorize as pipeline
    from idp.oidc.server import query_client

    params = pipeline.flatten(request.values)
    if isinstance(params, OAuth2Error):
        return None
    redirect_uri = params.get("redirect_uri", "")
    try:
        client = query_client(params.get("client_id", ""))
    except Exception as exc:  # noqa: BLE001 — the database failed too: show the page
        db.session.rollback()
        log.warning("client lookup failed during an outage: %s", type(exc).__name__)
        return None
    if client is None or not redirect_uri or not client.check_redirect_uri(redirect_uri):
        return None
    return pipeline.redirect_error(TemporarilyUnavailableError(), redirect_uri,
                                   params.get("state"))


def handle_outage(exc: Exception) -> BaseResponse:
    """Flask error handler for faults.outage_types(); anything else goes on to the 500 path."""
    dependency = unavailable_dependency(exc)
    if dependency is None:
        raise exc
    try:
        db.session.rollback()  # nothing half-written; the pool discards a broken connection
    except Exception:  # noqa: BLE001, S110 — the connection is gone already
        pass
    log.warning("%s unavailable on %s %s: %s: %s", dependency, request.method, request.path,
                type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    if request.endpoint == "oidc.authorize":
        redirected = _authorization_redirect(dependency)
        if redirected is not None:
            return redirected
    return unavailable_page()
