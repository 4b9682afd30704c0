"""The back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.8)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from clients.demo_site.errors import TokenValidationError
from clients.demo_site.tokens import validate_logout_token
from clients.demo_site.views import site

log = logging.getLogger(__name__)

bp = Blueprint("backchannel", __name__)


def _bad(description: str) -> Response:
    """§2.8: an invalid logout request is answered 400, here with an OAuth error body."""
    resp = jsonify(error="invalid_request", error_description=description)
    resp.status_code = 400
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/backchannel-logout")
def backchannel_logout():
    """End the local sessions a valid, unseen logout token names (by sid, else by sub)."""
    rp = site()
    token = request.form.get("logout_token")
    if not token:
        return _bad("logout_token is missing")
    try:
        claims = validate_logout_token(rp.provider, token, client_id=rp.client_id)
    except TokenValidationError as exc:
        log.warning("logout token rejected: %s", exc)
        return _bad(str(exc))
    if not rp.replays.add(f"{claims['iss']}|{claims['jti']}"):
        return _bad("logout token replayed")
    count = rp.sessions.delete_user_sessions(sid=claims.get("sid"), sub=claims.get("sub"))
    log.info("site %s: back-channel logout ended %d session(s)", rp.site, count)
    resp = Response("", status=200)
    resp.headers["Cache-Control"] = "no-store"
    return resp
