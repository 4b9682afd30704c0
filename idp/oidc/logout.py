"""Ending an SSO session: RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

Ending a session revokes the tokens issued in it and POSTs a signed logout token to every
relying party that took part and registered a `backchannel_logout_uri` (§2.5 of the latter).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import select

from idp.models import Member, OAuthClient, Token
from idp.models.base import DbSession
from idp.oidc.jwts import make_logout_token
from idp.oidc.server import revoke_where
from idp.services import audit
from idp.services.sessions import SsoSession
from idp.wiring import Provider

log = logging.getLogger(__name__)


def _post_logout_token(uri: str, token: str, timeout: float) -> bool:
    try:
        resp = requests.post(
            uri,
            data={"logout_token": token},
            timeout=timeout,
            allow_redirects=False,  # §2.5: the RP answers directly; never follow elsewhere
            headers={"Cache-Control": "no-store"},
        )
    except requests.RequestException as exc:
        log.warning("back-channel logout to %s failed: %s", uri, exc)
        return False
    if resp.status_code not in (200, 204):
        log.warning("back-channel logout to %s answered %s", uri, resp.status_code)
        return False
    return True


def end_session(
    p: Provider, session: DbSession, sess: SsoSession, *, ip: str | None, reason: str
) -> dict[str, bool]:
    """End `sess` everywhere; commit; return {client_id: notified?} for back-channel RPs."""
    member = session.get(Member, sess.member_id)
    p.sessions.end(sess)
    revoked = revoke_where(Token.sid == sess.sid)
    audit.record(session, "logout", member_id=sess.member_id, ip=ip, sid=sess.sid,
                 reason=reason, tokens_revoked=revoked, clients=sess.clients)
    clients = session.scalars(
        select(OAuthClient).where(
            OAuthClient.client_id.in_(sess.clients),
            OAuthClient.backchannel_logout_uri.is_not(None),
        )
    ).all() if sess.clients else []
    jobs = []
    if member is not None:
        for client in clients:
            token = make_logout_token(p, session, client, sub=member.subject, sid=sess.sid)
            jobs.append((client.client_id, client.backchannel_logout_uri or "", token))
    session.commit()
    if not jobs:
        return {}
    settings = p.settings["backchannel_logout"]
    with ThreadPoolExecutor(max_workers=settings["max_workers"]) as pool:
        futures = {
            cid: pool.submit(_post_logout_token, uri, tok, settings["timeout"])
            for cid, uri, tok in jobs
        }
        return {cid: f.result() for cid, f in futures.items()}
