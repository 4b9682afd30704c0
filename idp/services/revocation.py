"""Ending what a member holds: one SSO session, a session known only by its sid, or all.

Every "end this member's sessions" goes through here: logout (RP-initiated, or a login as
another member), and member-wide revocation, which password reset, withdrawal, an
operator's lock and a revoked affiliation call with their `reason`. Each path

1. ends the SSO sessions in the store,
2. invalidates authorization codes not yet exchanged (deleted: a later exchange finds no
   code, RFC 6749 §4.1.2; the delete waits for an exchange that already claimed the code,
   whose tokens step 3 then sees),
3. revokes the access and refresh tokens,
4. queues a back-channel logout token for every relying party involved (Back-Channel
   Logout 1.0 §2.5; sent by the outbox worker, never inside the caller's request),
5. records an audit event,

in one transaction, committed here; then the worker of this process is woken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from idp.models import AuthorizationCode, Consent, Member, Token
from idp.models.base import DbSession
from idp.services import audit
from idp.services.backchannel import BackchannelOutbox
from idp.services.ports import Clock
from idp.services.sessions import SsoSession, SsoSessions

MEMBER_LOCKED = "locked"
MEMBER_ACTIVE = "active"


@dataclass(frozen=True)
class Revocation:
    """What one revocation ended."""

    sessions: int = 0
    tokens: int = 0
    codes: int = 0
    # Relying parties queued for a back-channel logout token.
    notified: list[str] = field(default_factory=list)


class UnknownMember(LookupError):
    """No member with that ID (or login ID)."""


class NotLocked(ValueError):
    """Unlock of a member whose account is not locked."""


class Revoker:
    def __init__(self, sessions: SsoSessions, outbox: BackchannelOutbox, clock: Clock) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock

    # -- one session -------------------------------------------------------------------

    def end_session(self, session: DbSession, sess: SsoSession, *, reason: str,
                    ip: str | None = None) -> Revocation:
        """End one SSO session, its tokens and codes; tell its relying parties."""
        self.sessions.end(sess)
        return self._end_sid(session, member_id=sess.member_id, sid=sess.sid,
                             known_clients=sess.clients, reason=reason, ip=ip,
                             sessions_ended=1)

    def end_expired_sid(self, session: DbSession, *, subject: str, sid: str, reason: str,
                        ip: str | None = None) -> Revocation | None:
        """End what a session left behind once the store forgot it (it expired): its tokens
        and unexchanged codes; its relying parties are those its tokens were issued to.

        A session still live is left alone (None): it is another browser's, and
        RP-Initiated Logout 1.0 §2 ends the session of the browser that asks. Tokens and
        codes match the hint's member as well as its sid: a hint reaches no one else's.
        """
        member_id = session.scalar(select(Member.id).where(Member.subject == subject))
        if member_id is None or self.sessions.by_sid(sid) is not None:
            return None
        return self._end_sid(session, member_id=member_id, sid=sid, known_clients=[],
                             reason=reason, ip=ip, sessions_ended=0)

    def _end_sid(self, session: DbSession, *, member_id: int, sid: str,
                 known_clients: list[str], reason: str, ip: str | None,
                 sessions_ended: int) -> Revocation:
        codes = self._delete_codes(session, AuthorizationCode.member_id == member_id,
                                   AuthorizationCode.sid == sid)
        where = and_(Token.member_id == member_id, Token.sid == sid)
        clients = set(known_clients) | self._token_clients(session, where)
        tokens = self._revoke_tokens(session, where)
        member = session.get(Member, member_id)
        notified = self.outbox.enqueue(
            session, client_ids=clients, member_id=member_id, sub=member.subject, sid=sid,
            reason=reason,
        ) if member is not None else []
        audit.record(session, "logout", member_id=member_id, ip=ip, sid=sid, reason=reason,
                     sessions_ended=sessions_ended, tokens_revoked=tokens,
                     codes_revoked=codes, clients=sorted(clients), notified=notified)
        return self._commit(session, Revocation(sessions_ended, tokens, codes, notified))

    # -- everything of a member --------------------------------------------------------

    def revoke_member(self, session: DbSession, member_id: int, *, reason: str,
                      ip: str | None = None, actor: str | None = None) -> Revocation:
        """End every SSO session of the member, every token and unexchanged code, and tell
        every relying party involved, with a logout token naming the member but no session
        (Back-Channel Logout 1.0 §2.4: "all sessions at the RP for the End-User")."""
        member = session.get(Member, member_id)
        if member is None:
            raise UnknownMember(member_id)
        live = self.sessions.for_member(member_id)
        clients: set[str] = set()
        for sess in live:
            self.sessions.end(sess)  # refreshes sess.clients to every RP it reached
            clients.update(sess.clients)
        codes = self._delete_codes(session, AuthorizationCode.member_id == member_id)
        where = Token.member_id == member_id
        clients |= self._token_clients(session, where)
        tokens = self._revoke_tokens(session, where)
        notified = self.outbox.enqueue(session, client_ids=clients, member_id=member_id,
                                       sub=member.subject, sid=None, reason=reason)
        audit.record(session, "member.revoked", member_id=member_id, ip=ip, reason=reason,
                     actor=actor, sessions_ended=len(live), sids=[s.sid for s in live],
                     tokens_revoked=tokens, codes_revoked=codes, notified=notified)
        return self._commit(session, Revocation(len(live), tokens, codes, notified))

    def lock_member(self, session: DbSession, member_id: int, *, reason: str = "operator_lock",
                    ip: str | None = None, actor: str | None = None) -> Revocation:
        """Lock the account (no sign-in, no token works: both check the status) and revoke
        everything it holds. Another inactive status (a withdrawal) is kept as it is: unlock
        must never bring such an account back."""
        member = session.get(Member, member_id)
        if member is None:
            raise UnknownMember(member_id)
        previous = member.status
        if previous == MEMBER_ACTIVE:
            member.status = MEMBER_LOCKED
        audit.record(session, "member.locked", member_id=member_id, ip=ip, reason=reason,
                     actor=actor, previous_status=previous)
        return self.revoke_member(session, member_id, reason=reason, ip=ip, actor=actor)

    def unlock_member(self, session: DbSession, member_id: int, *, ip: str | None = None,
                      actor: str | None = None) -> None:
        """Let a locked member sign in again (what was revoked stays revoked)."""
        member = session.get(Member, member_id)
        if member is None:
            raise UnknownMember(member_id)
        if member.status != MEMBER_LOCKED:
            raise NotLocked(member.status)
        member.status = MEMBER_ACTIVE
        audit.record(session, "member.unlocked", member_id=member_id, ip=ip, actor=actor)
        session.commit()

    # -- part of what a member holds (MY KOTRA, issue 6) --------------------------------

    def end_other_sessions(self, session: DbSession, member_id: int, *, keep_sid: str | None,
                           reason: str, ip: str | None = None) -> Revocation:
        """End every SSO session of the member but `keep_sid` (the browser asking: MY
        KOTRA's "sign out other sessions", a password change), their tokens and unexchanged
        codes; each relying party of an ended session gets a logout token naming that
        session's sid (Back-Channel Logout 1.0 §2.4). The kept session's tokens stay."""
        member = session.get(Member, member_id)
        if member is None:
            raise UnknownMember(member_id)
        live = [s for s in self.sessions.for_member(member_id) if s.sid != keep_sid]
        by_sid: dict[str | None, set[str]] = {}
        for sess in live:
            self.sessions.end(sess)
            by_sid.setdefault(sess.sid, set()).update(sess.clients)
        other = or_(Token.sid.is_(None), Token.sid != keep_sid) if keep_sid else None
        where = and_(Token.member_id == member_id, *([other] if other is not None else []))
        # Sessions the store forgot (expired) may still have live tokens: their sids too.
        for sid, client_id in session.execute(
                select(Token.sid, Token.client_id).where(where, Token.revoked_at.is_(None))
                .distinct()):
            by_sid.setdefault(sid, set()).add(client_id)
        code_other = (or_(AuthorizationCode.sid.is_(None), AuthorizationCode.sid != keep_sid)
                      if keep_sid else AuthorizationCode.member_id == member_id)
        codes = self._delete_codes(session, AuthorizationCode.member_id == member_id,
                                   code_other)
        tokens = self._revoke_tokens(session, where)
        notified: list[str] = []
        for sid, clients in sorted(by_sid.items(), key=lambda kv: kv[0] or ""):
            notified += self.outbox.enqueue(session, client_ids=clients, member_id=member_id,
                                            sub=member.subject, sid=sid, reason=reason)
        audit.record(session, "member.sessions_ended", member_id=member_id, ip=ip,
                     reason=reason, kept_sid=keep_sid, sids=[s.sid for s in live],
                     tokens_revoked=tokens, codes_revoked=codes, notified=notified)
        return self._commit(session, Revocation(len(live), tokens, codes, notified))

    def revoke_client(self, session: DbSession, member_id: int, client_id: str, *,
                      reason: str, ip: str | None = None) -> Revocation:
        """Withdraw what the member gave one relying party: its consent, its tokens and
        unexchanged codes, and tell it (a logout token naming the member, no session). The
        SSO sessions stay, but no longer count the party among theirs."""
        member = session.get(Member, member_id)
        if member is None:
            raise UnknownMember(member_id)
        session.execute(delete(Consent).where(Consent.member_id == member_id,
                                              Consent.client_id == client_id))
        codes = self._delete_codes(session, AuthorizationCode.member_id == member_id,
                                   AuthorizationCode.client_id == client_id)
        tokens = self._revoke_tokens(session, and_(Token.member_id == member_id,
                                                   Token.client_id == client_id))
        for sess in self.sessions.for_member(member_id):
            self.sessions.remove_client(sess, client_id)
        notified = self.outbox.enqueue(session, client_ids=[client_id], member_id=member_id,
                                       sub=member.subject, sid=None, reason=reason)
        audit.record(session, "consent.revoked", member_id=member_id, client_id=client_id,
                     ip=ip, reason=reason, tokens_revoked=tokens, codes_revoked=codes,
                     notified=notified)
        return self._commit(session, Revocation(0, tokens, codes, notified))

    # -- the steps ---------------------------------------------------------------------

    @staticmethod
    def _delete_codes(session: DbSession, *conditions: ColumnElement[bool]) -> int:
        result = session.execute(
            delete(AuthorizationCode).where(AuthorizationCode.used_at.is_(None), *conditions)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    @staticmethod
    def _token_clients(session: DbSession, where: ColumnElement[bool]) -> set[str]:
        # Every client that holds (or held, until purged) a token of the session or member:
        # its relying party may still have a session open, whatever the token's state.
        return set(session.scalars(select(Token.client_id).where(where).distinct()))

    def _revoke_tokens(self, session: DbSession, where: ColumnElement[bool]) -> int:
        result = session.execute(
            update(Token).where(Token.revoked_at.is_(None), where)
            .values(revoked_at=int(self.clock.now()))
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def _commit(self, session: DbSession, done: Revocation) -> Revocation:
        session.commit()
        if done.notified:
            self.outbox.wake()
        return done
