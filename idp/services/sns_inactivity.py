"""Simple members not seen for 3 years are deleted, after a notice 30 days before (issue 9;
SPEC §4; the manual's 간편회원 약관 "3년간 미이용 시 회원정보 삭제").

`idp jobs run` (job `sns_inactive`) calls `run`:

- last seen = `members.last_login_at` (kept by every sign-in, SNS or password), or
  `created_at` for a member who never signed in after joining;
- a simple member last seen `inactive_days - notice_days` ago gets the notice once: by email,
  else SMS (`provider.notify`), recorded in `sns_inactivity_notices` keyed by (member, last
  seen) whose unique key makes a re-run or a concurrent run send nothing twice. A notice that
  could not be sent is not recorded: the next run tries again (and the deletion waits);
- a simple member last seen `inactive_days` ago whose notice for that same last-seen time
  went out at least `notice_days` ago is deleted exactly as a withdrawal deletes
  (idp/services/my_account.anonymise: personal data gone, the audit trail kept without it),
  its SNS links removed and every session, code and token revoked (Revoker.revoke_member,
  with back-channel logout). A member who signed in after the notice has a newer last-seen
  time: nothing is due.

Pure code: the CLI passes the session, the provider's parts and the time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from idp.models import Member, MemberType
from idp.models.base import DbSession
from idp.models.sns import InactivityNotice
from idp.services import audit
from idp.services.my_account import anonymise
from idp.services.notify import Notifier
from idp.services.ports import MessageNotSent
from idp.services.revocation import Revoker

KST = dt.timezone(dt.timedelta(hours=9))


def _simple_members_seen_before(session: DbSession, cutoff: dt.datetime
                                ) -> list[tuple[Member, dt.datetime]]:
    last_seen = func.coalesce(Member.last_login_at, Member.created_at)
    rows = session.execute(
        select(Member, last_seen).where(
            Member.member_type == MemberType.SIMPLE, Member.status == "active",
            Member.withdrawn_at.is_(None), last_seen <= cutoff)
        .order_by(Member.id)).all()
    return [(m, seen) for m, seen in rows]


def notice_text(member: Member, *, delete_on: dt.datetime, login_url: str) -> tuple[str, str]:
    """(subject, text), Korean then English."""
    day = delete_on.replace(tzinfo=dt.UTC).astimezone(KST).strftime("%Y-%m-%d")
    subject = "[KOTRA] 간편회원 장기 미이용 회원정보 삭제 예정 안내 / Your account will be deleted"
    text = (
        f"{member.name} 님, 안녕하세요. 대한무역투자진흥공사(KOTRA)입니다.\n\n"
        "간편회원 약관에 따라 3년간 이용하지 않은 간편회원의 회원정보는 삭제됩니다. "
        f"회원님의 회원정보는 {day}에 삭제될 예정입니다.\n"
        f"계속 이용하시려면 그 전에 가입하신 SNS 계정으로 로그인해 주세요: {login_url}\n\n"
        "---\n"
        f"Dear {member.name}, simple (SNS) accounts not used for three years are deleted. "
        f"Your account will be deleted on {day} (KST). To keep it, sign in with your SNS "
        f"account before then: {login_url}\n"
    )
    return subject, text


def sms_text(*, delete_on: dt.datetime, login_url: str) -> str:
    day = delete_on.replace(tzinfo=dt.UTC).astimezone(KST).strftime("%Y-%m-%d")
    return (f"[KOTRA] 3년간 이용하지 않은 간편회원 정보가 {day}에 삭제될 예정입니다. "
            f"계속 이용하시려면 SNS 계정으로 로그인해 주세요. {login_url}")


def send_notices(session: DbSession, notify: Notifier, *, now: dt.datetime, inactive_days: int,
                 notice_days: int, login_url: str) -> dict[str, int]:
    """The notice, once per member and last-seen time; commits per member."""
    counts = {"notified": 0, "failed": 0, "no_address": 0, "skipped": 0}
    cutoff = now - dt.timedelta(days=inactive_days - notice_days)
    candidates = _simple_members_seen_before(session, cutoff)
    if not candidates:
        return counts
    sent = {tuple(r) for r in session.execute(
        select(InactivityNotice.member_id, InactivityNotice.last_seen).where(
            InactivityNotice.member_id.in_([m.id for m, _ in candidates])))}
    for member, seen in candidates:
        if (member.id, seen) in sent:
            continue
        member_id = member.id
        by = "email" if member.email else "sms" if member.phone else "none"
        session.add(InactivityNotice(member_id=member_id, last_seen=seen, sent_at=now,
                                     sent_by=by))
        try:
            session.flush()  # claims the notice: a concurrent run waits here, then skips
        except IntegrityError:
            session.rollback()
            counts["skipped"] += 1
            continue
        # Deleted no sooner than notice_days after the notice, nor 3 years after last seen.
        delete_on = max(seen + dt.timedelta(days=inactive_days),
                        now + dt.timedelta(days=notice_days))
        try:
            if by == "email":
                subject, text = notice_text(member, delete_on=delete_on, login_url=login_url)
                notify.email(to=str(member.email), subject=subject, text=text)
            elif by == "sms":
                notify.sms(to=str(member.phone), text=sms_text(delete_on=delete_on,
                                                                login_url=login_url))
        except MessageNotSent as exc:
            session.rollback()
            audit.record(session, "member.inactive_notice_failed", member_id=member_id, by=by,
                         reason=str(exc)[:200])
            session.commit()
            counts["failed"] += 1
            continue
        audit.record(session, "member.inactive_notice_sent", member_id=member_id, by=by)
        session.commit()
        counts["no_address" if by == "none" else "notified"] += 1
    return counts


def delete_inactive(session: DbSession, revoker: Revoker, *, now: dt.datetime,
                    inactive_days: int, notice_days: int) -> dict[str, int]:
    """Delete (as a withdrawal does) the simple members due; commits per member."""
    counts = {"deleted": 0}
    cutoff = now - dt.timedelta(days=inactive_days)
    noticed_by = now - dt.timedelta(days=notice_days)
    for member, seen in _simple_members_seen_before(session, cutoff):
        notice = session.scalar(select(InactivityNotice.id).where(
            InactivityNotice.member_id == member.id, InactivityNotice.last_seen == seen,
            InactivityNotice.sent_at <= noticed_by))
        if notice is None:
            continue  # no notice yet for this last-seen time, or too recent
        member_id = member.id
        anonymise(session, member, now)  # also removes its SNS links
        audit.record(session, "member.deleted_inactive", member_id=member_id,
                     days=inactive_days)
        revoker.revoke_member(session, member_id, reason="inactive_deleted")  # commits
        counts["deleted"] += 1
    return counts


def run(session: DbSession, notify: Notifier, revoker: Revoker, *, now: dt.datetime,
        inactive_days: int, notice_days: int, login_url: str) -> dict[str, int]:
    """Deletions first (their notices went out a run ago at least), then the new notices."""
    deleted = delete_inactive(session, revoker, now=now, inactive_days=inactive_days,
                              notice_days=notice_days)
    notified = send_notices(session, notify, now=now, inactive_days=inactive_days,
                            notice_days=notice_days, login_url=login_url)
    return {**deleted, **notified}
