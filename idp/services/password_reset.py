"""비밀번호 재설정: a member's ID, an identity verification whose CI matches the account, then
a new password (issue 6; manual chapter 08; SPEC §3.7).

One flow per attempt, bound to the browser (idp/services/flows.py):

    flow = begin(flows, login_id="kotra12345", ia=uid, browser=bid)       # 1. the ID
    ...  # the page shows verify_buttons("reset_password", ...); the vendor round trip
    match_identity(session, p, flow, identity, ip=ip)                      # 2. CI matches?
    ...  # the new password twice
    done = change_password(session, p, fid, browser=bid, password=pw, confirm=pw, ip=ip)

Whatever does not match — an unknown ID, an account without a verified identity, another
person's CI, an inactive account, an old site's account not yet converted (issue 8: not a
member) — raises the same `NotMatched`, counted against the ID and the client IP
(`provider.throttle` kinds `reset_account` and `reset_ip`): the page never tells which.

The last step consumes the flow (single use: a double submit changes the password once),
sets the password and, in the same transaction, queues a notice by email (a courtesy, sent by
the mail worker; a refusal is retried, then recorded in the audit trail, and the reset stands)
and revokes every SSO session, token and code of the member with back-channel logout to the
relying parties (`Revoker.revoke_member`); then lifts the sign-in throttle's lock on the
account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from idp.errors import InvalidInput, LoginThrottled
from idp.models import Member, MemberIdentity
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.flows import Flow, FlowKind, Flows
from idp.services.mail_outbox import MailOutbox
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.personal_data import PersonalData
from idp.services.ports import Clock, VerifiedIdentity
from idp.services.revocation import Revoker
from idp.services.throttle import Throttle, ThrottleRule, ip_bucket
from idp.stores import Store

# The whole reset, from the ID to the new password (the verification itself lives 10 min).
RESET = FlowKind("password_reset", ttl=1200)
# How long the done page can be shown again (a double submit lands there).
DONE_TTL = 600
# Throttle kinds (idp.wiring.build_throttle adds their rules).
ACCOUNT, IP = "reset_account", "reset_ip"
KST = dt.timezone(dt.timedelta(hours=9))
LOGIN_ID_MAX = 40


class NotMatched(Exception):
    """No active member has this ID with this verified person's CI (one answer for all)."""


class ResetGone(Exception):
    """The flow is expired, used, another browser's, or not at this step."""


class PasswordUnchanged(Exception):
    """The new password is the current one."""


class ResetProvider(Protocol):
    """What the reset needs of the provider (idp.wiring.Provider has all of it)."""

    clock: Clock
    store: Store
    flows: Flows
    throttle: Throttle
    passwords: Passwords
    policy: PasswordPolicy
    personal_data: PersonalData
    revocation: Revoker
    mail: MailOutbox


def throttle_rules(settings: dict[str, Any]) -> dict[str, ThrottleRule]:
    """The reset's throttle rules (config [password_reset]): locks, no per-attempt delay
    (each attempt costs the person a real identity verification already)."""
    s = settings["password_reset"]
    return {
        ACCOUNT: ThrottleRule(delay_after=s["account_lock_after"], delay_base=0, delay_max=0,
                              lock_after=s["account_lock_after"],
                              lock_seconds=s["lock_seconds"],
                              window_seconds=s["window_seconds"]),
        IP: ThrottleRule(delay_after=s["ip_lock_after"], delay_base=0, delay_max=0,
                         lock_after=s["ip_lock_after"], lock_seconds=s["lock_seconds"],
                         window_seconds=s["window_seconds"]),
    }


def normalise_login_id(login_id: str) -> str:
    """The key the ID is looked up and throttled by; InvalidInput when empty or absurd."""
    key = (login_id or "").strip().lower()
    if not key or len(key) > LOGIN_ID_MAX or any(ord(c) < 32 or c == "\x7f" for c in key):
        raise InvalidInput("login_id", "required")
    return key


def begin(flows: Flows, *, login_id: str, ia: str | None, browser: str) -> Flow:
    """Step 1: remember the ID (nothing is looked up yet: no account enumeration here)."""
    return flows.start(RESET, {"login_id": normalise_login_id(login_id), "ia": ia or None,
                               "member_id": None}, browser=browser)


def current(flows: Flows, fid: str | None, *, browser: str | None) -> Flow:
    flow = flows.get(RESET, fid, browser=browser)
    if flow is None:
        raise ResetGone()
    return flow


def match_identity(session: DbSession, p: ResetProvider, flow: Flow,
                   identity: VerifiedIdentity, *, ip: str) -> int:
    """Step 2: the verified person must be the account's (CI keyed hashes equal).

    Raises LoginThrottled (nothing checked) when the ID or the IP must wait, NotMatched for
    every kind of mismatch (counted as a failure). Commits the throttle state and the audit.
    """
    key = flow.data["login_id"]
    try:
        attempt = p.throttle.reserve(**{ACCOUNT: key, IP: ip_bucket(ip)})
    except LoginThrottled as exc:
        audit.record(session, "password_reset.throttled", ip=ip, retry_after=exc.retry_after,
                     locked=exc.locked)
        session.commit()
        raise
    offered = p.personal_data.lookup_hash("ci", identity.ci)
    row = session.execute(
        select(Member.id, Member.status, Member.withdrawn_at, MemberIdentity.ci_hash)
        .outerjoin(MemberIdentity, MemberIdentity.member_id == Member.id)
        .where(Member.login_id == key)).first()
    ok = (row is not None and row.status == "active" and row.withdrawn_at is None
          and row.ci_hash is not None and secrets.compare_digest(row.ci_hash, offered))
    if not ok or row is None:
        p.throttle.failed(attempt)
        reason = ("unknown_id" if row is None else "inactive" if row.status != "active"
                  or row.withdrawn_at is not None else "no_identity" if row.ci_hash is None
                  else "ci_mismatch")
        audit.record(session, "password_reset.refused", member_id=row.id if row else None,
                     ip=ip, reason=reason)
        session.commit()
        raise NotMatched()
    p.throttle.succeeded(attempt, forgive=(ACCOUNT,))
    p.flows.update(flow, {**flow.data, "member_id": int(row.id)})
    audit.record(session, "password_reset.verified", member_id=row.id, ip=ip,
                 method=identity.method)
    session.commit()
    return int(row.id)


def verified_member(session: DbSession, flow: Flow) -> Member:
    """The member the flow verified (step 3 and after), or ResetGone."""
    member_id = flow.data.get("member_id")
    member = session.get(Member, member_id) if member_id else None
    if member is None or member.status != "active":
        raise ResetGone()
    return member


def check_new_password(p: ResetProvider, member: Member, *, password: str,
                       confirm: str) -> None:
    """InvalidInput (field password or confirm) or PasswordUnchanged."""
    p.policy.check_password(password, login_id=member.login_id, name=member.name)
    if password != confirm:
        raise InvalidInput("confirm", "the two passwords differ")
    if p.passwords.verify(member.password_hash, password):
        raise PasswordUnchanged()


@dataclass(frozen=True)
class ResetDone:
    member_id: int
    login_id: str
    ia: str | None
    sessions_ended: int
    notified: list[str]


def change_password(session: DbSession, p: ResetProvider, fid: str, *, browser: str,
                    password: str, confirm: str, ip: str) -> ResetDone:
    """Step 3: check the new password, then use the flow (once) and set it.

    Raises ResetGone (expired, used: a double submit), InvalidInput, PasswordUnchanged.
    Commits: the password, the revocation of everything the member holds (back-channel
    logout queued), the audit; then the notice by email.
    """
    flow = current(p.flows, fid, browser=browser)
    member = verified_member(session, flow)
    check_new_password(p, member, password=password, confirm=confirm)
    if p.flows.consume(RESET, fid, browser=browser) is None:
        raise ResetGone()  # the other request of a double submit had it
    member.password_hash = p.passwords.hash(password)
    member.password_change_required = False
    member.updated_at = utcnow()
    audit.record(session, "member.password_changed", member_id=member.id, ip=ip,
                 reason="reset")
    # The notice is queued first, so that it commits with the new password.
    _notify(session, p, member)
    # The same transaction: revoke_member commits the new password with the revocation.
    revoked = p.revocation.revoke_member(session, member.id, reason="password_reset", ip=ip)
    login_id = member.login_id or flow.data["login_id"]
    # A forgotten password often follows a lock: the new one works at once.
    p.throttle.reset(account=login_id, **{ACCOUNT: login_id})
    audit.record(session, "password_reset.completed", member_id=member.id, ip=ip,
                 sessions_ended=revoked.sessions, tokens_revoked=revoked.tokens,
                 notified=revoked.notified)
    session.commit()
    p.mail.wake()
    p.store.put(_done_key(fid), {"browser": _h(browser), "login_id": login_id,
                                 "ia": flow.data.get("ia")}, DONE_TTL)
    session.commit()  # (the database store keeps the record in the caller's transaction)
    return ResetDone(member.id, login_id, flow.data.get("ia"), revoked.sessions,
                     list(revoked.notified))


def finished(store: Store, fid: str, *, browser: str | None) -> dict[str, Any] | None:
    """What a completed reset left for its done page (this browser's only)."""
    if not fid or not browser:
        return None
    data = store.get(_done_key(fid))
    if data is None or not secrets.compare_digest(str(data["browser"]), _h(browser)):
        return None
    return dict(data)


def notice_text(member: Member, at: dt.datetime) -> tuple[str, str]:
    """The email after a reset (Korean, then English): subject and body."""
    when = at.replace(tzinfo=dt.UTC).astimezone(KST).strftime("%Y-%m-%d %H:%M")
    subject = "[KOTRA] 비밀번호가 재설정되었습니다 / Your password was reset"
    text = (
        f"{member.name} 님,\n\n"
        f"KOTRA 통합회원 아이디 {member.login_id}의 비밀번호가 {when}(한국시간)에 본인확인을 거쳐 "
        "재설정되었습니다. 보안을 위해 모든 기기와 사이트에서 로그아웃되었습니다.\n"
        "본인이 재설정하지 않았다면 즉시 KOTRA 고객지원(1600-7119)으로 연락해 주세요.\n\n"
        f"The password of the KOTRA ID {member.login_id} was reset on {when} (KST) after an "
        "identity verification, and every session was signed out. If you did not do this, "
        "call KOTRA support at +82-1600-7119 at once.\n"
    )
    return subject, text


def _notify(session: DbSession, p: ResetProvider, member: Member) -> None:
    if not member.email:
        audit.record(session, "password_reset.notice_failed", member_id=member.id,
                     reason="no_email")
        return
    now = dt.datetime.fromtimestamp(p.clock.now(), dt.UTC).replace(tzinfo=None)
    subject, text = notice_text(member, now)
    # Queued in the reset's transaction and sent by the mail worker (the caller wakes it);
    # a refusal is retried, then audited as password_reset.notice_failed.
    p.mail.enqueue(session, purpose="password_reset", to=member.email, subject=subject,
                   text=text, member_id=member.id)


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _done_key(fid: str) -> str:
    return f"password-reset-done:{_h(fid)}"
