"""A general member's affiliation (소속) to a company (issue 7, SPEC §1–2, §3.3 tab 4, §3.8).

Foundations: ending an affiliation. The affiliation helper adds joining (approval password
with its attempt limits, certificate) and leaving; the company console calls
`end_affiliation` to revoke an employee.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.models import Affiliation, Member, Token
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.backchannel import BackchannelOutbox
from idp.services.sessions import SsoSessions

ENDED_BY = ("left", "revoked", "company", "withdrawn")


def end_affiliation(session: DbSession, sessions: SsoSessions, outbox: BackchannelOutbox,
                    affiliation: Affiliation, *, ended_by: str, ip: str | None = None,
                    actor: int | None = None) -> list[str]:
    """End a live affiliation. The member's entitlements change with it: the next token
    refresh, userinfo call and ID token carry no company. When the company ended it
    ("revoked", "company"), the member's SSO sessions end too and every relying party they
    reached gets a logout token (Back-Channel Logout 1.0 §2.4), so no site keeps acting for
    the company on an old session; refresh tokens stay, and refresh without the company.
    Returns the client IDs told. Added to the caller's transaction."""
    if ended_by not in ENDED_BY:
        raise ValueError(f"unknown reason {ended_by!r}")
    if affiliation.revoked_at is not None:
        return []
    affiliation.revoked_at = utcnow()
    affiliation.ended_by = ended_by
    member = session.get(Member, affiliation.member_id)
    notified: list[str] = []
    if member is not None and ended_by in ("revoked", "company"):
        by_sid: dict[str | None, set[str]] = {}
        for sess in sessions.for_member(member.id):
            sessions.end(sess)
            by_sid.setdefault(sess.sid, set()).update(sess.clients)
        for sid, client_id in session.execute(
                select(Token.sid, Token.client_id).where(
                    Token.member_id == member.id, Token.revoked_at.is_(None)).distinct()):
            by_sid.setdefault(sid, set()).add(client_id)
        for sid, clients in sorted(by_sid.items(), key=lambda kv: kv[0] or ""):
            notified += outbox.enqueue(session, client_ids=clients, member_id=member.id,
                                       sub=member.subject, sid=sid,
                                       reason=f"affiliation_{ended_by}")
    event = "affiliation.left" if ended_by == "left" else "affiliation.revoked"
    audit.record(session, event, member_id=affiliation.member_id, ip=ip,
                 company_id=affiliation.company_id, ended_by=ended_by, actor=actor,
                 notified=notified)
    session.flush()
    if member is not None:
        session.expire(member, ["affiliation"])
    return notified
