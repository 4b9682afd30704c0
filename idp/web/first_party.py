"""Signing in to the provider's own consoles (MY KOTRA, the company console) through the
ordinary authorization flow: the request with its state flow and PKCE, and the callback that
consumes the state and deletes the code (idp/services/first_party.py)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from flask import redirect, request, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response as BaseResponse

from idp.cookies import browser_id, cookies
from idp.extensions import db
from idp.oidc.server import provider
from idp.services.first_party import Console
from idp.services.flows import Flow, FlowKind


def start_sign_in(console: Console, kind: FlowKind, nxt: str, *,
                  prompt: str | None = None) -> BaseResponse:
    """303 to /authorize for the console's client; `nxt` comes back on the state flow."""
    p = provider()
    console.ensure_client(db.session, p.issuer)
    flow = p.flows.start(kind, {"next": nxt}, browser=browser_id())
    db.session.commit()
    # PKCE as every public client must (RFC 9700 §2.1.1); the verifier is never needed
    # because the code is deleted, not exchanged.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": console.client_id,
              "redirect_uri": console.redirect_uri(p.issuer), "scope": "openid",
              "state": flow.id, "code_challenge": challenge,
              "code_challenge_method": "S256", "ui_locales": str(get_locale())}
    if prompt:
        params["prompt"] = prompt
    return redirect(url_for("oidc.authorize") + "?" + urlencode(params), 303)


def end_sign_in(console: Console, kind: FlowKind) -> Flow | None:
    """The callback: this browser's state flow (consumed; None when it is not), and the code
    deleted unexchanged. Commits."""
    flow = provider().flows.consume(kind, request.args.get("state"),
                                    browser=cookies().browser.read())
    code = request.args.get("code")
    if code:
        console.discard_code(db.session, code)  # commits the flow's consumption too
    else:
        db.session.commit()  # the embedded store writes the consumption in this transaction
    return None if request.args.get("error") else flow
