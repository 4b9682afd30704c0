"""Ending an SSO session: RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

Ending a session revokes the tokens issued in it and queues a signed logout token for every
relying party that took part and registered a `backchannel_logout_uri` (§2.5 of the
latter). The work is the revocation service's (idp/services/revocation.py); the tokens are
delivered by the outbox worker below, outside the user's request (idp/services/backchannel.py).
"""

from __future__ import annotations

from typing import Any

from idp.models import OAuthClient
from idp.models.base import DbSession
from idp.oidc.jwts import make_logout_token
from idp.outbox_worker import OutboxWorker
from idp.services.backchannel import DrainReport, LogoutTokenSigner
from idp.services.revocation import Revocation
from idp.services.sessions import SsoSession
from idp.wiring import Provider


def end_session(
    p: Provider, session: DbSession, sess: SsoSession, *, ip: str | None, reason: str
) -> Revocation:
    """End `sess` everywhere and commit; its relying parties are told by the worker."""
    return p.revocation.end_session(session, sess, reason=reason, ip=ip)


def logout_token_signer(p: Provider) -> LogoutTokenSigner:
    def sign(session: DbSession, client: OAuthClient, sub: str, sid: str | None) -> str:
        return make_logout_token(p, session, client, sub=sub, sid=sid)

    return sign


def drain_backchannel(app: Any) -> DrainReport:
    """Deliver every logout token due now (`idp jobs run --once`, the worker, tests)."""
    from idp.extensions import db

    p: Provider = app.extensions["idp"]
    with app.app_context():
        try:
            return p.outbox.drain(db.session, logout_token_signer(p))
        finally:
            db.session.remove()


class BackchannelWorker(OutboxWorker):
    """Drains the back-channel outbox in the background of a server process (a daemon
    thread), every `backchannel_logout.poll_seconds` and at once for this process's logouts."""

    def __init__(self, app: Any) -> None:
        p: Provider = app.extensions["idp"]
        super().__init__("backchannel-logout", lambda: drain_backchannel(app), p.outbox,
                         float(p.settings["backchannel_logout"]["poll_seconds"]))


def start_backchannel_worker(app: Any) -> BackchannelWorker | None:
    """Start the worker thread of this process unless `backchannel_logout.worker` is off."""
    p: Provider = app.extensions["idp"]
    if not p.settings["backchannel_logout"]["worker"]:
        return None
    worker = BackchannelWorker(app)
    worker.start()
    app.extensions["idp.backchannel_worker"] = worker
    return worker
