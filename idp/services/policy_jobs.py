"""The policies `idp jobs run` applies (issue 6, SPEC §4): safe from cron, idempotent.

- `reconsent`: how many members must agree again to the required terms at their next login
  (personal members every 2 years, company members every 5: SPEC §4, the manual's "개인회원 :
  2년 단위 재동의, 기업회원 : 5년 단위 재동의"). The login itself asks: the `terms` step of
  idp/oidc/authorize.STEPS, with idp/services/terms.has_missing_consents; this job only counts
  with the same rule, for the operator.
- `marketing_notices`: 정보통신망법 §50(8) and 시행령 §62의3 — whoever opted into marketing
  messages is told every 2 years what they consented to, when, and how to opt out. One notice
  per member per 2-year period of the opt-in (table `marketing_notices`; its unique key makes
  a re-run or a concurrent run send nothing twice). A notice that could not be sent is not
  recorded: the next run tries again.
- `purge`: expired codes, tokens, store entries (SSO sessions, interactions, verification
  requests and results, throttle counters: idp/services/maintenance.purge_expired) and old
  development-outbox messages.

No Flask: the CLI passes the session, the provider's parts and the time (tests a FakeClock).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from idp.models import Affiliation, MarketingConsent, Member, TermsConsent, TermsDocument
from idp.models.base import DbSession
from idp.models.policies import MarketingNotice
from idp.services import audit
from idp.services.maintenance import purge_dev_messages, purge_expired
from idp.services.notify import Notifier
from idp.services.ports import MessageNotSent
from idp.services.terms import is_company_member
from idp.stores import Store

KST = dt.timezone(dt.timedelta(hours=9))
CHANNEL_NAMES = {"email": ("이메일", "email"), "sms": ("문자메시지(SMS)", "SMS")}


def naive_utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


# -- re-consent ------------------------------------------------------------------------------

def reconsent_due(session: DbSession, *, now: dt.datetime, personal_days: int,
                  company_days: int) -> dict[str, int]:
    """Active members whose next login asks for the required terms again: never agreed to a
    current required document, agreed to an older version, or longer ago than the period of
    their kind (company managers and members affiliated to a company: `company_days`,
    everyone else: `personal_days`; terms.reconsent_period). The same rule as
    terms.has_missing_consents, in four queries for all members."""
    latest = (select(TermsDocument.kind, func.max(TermsDocument.version).label("version"))
              .group_by(TermsDocument.kind).subquery())
    required: dict[str, int] = dict(session.execute(  # type: ignore[arg-type]
        select(TermsDocument.kind, TermsDocument.version)
        .join(latest, (TermsDocument.kind == latest.c.kind)
              & (TermsDocument.version == latest.c.version))
        .where(TermsDocument.required.is_(True))).all())
    counts = {"personal": 0, "company": 0, "members": 0}
    members = session.execute(select(Member.id, Member.member_type).where(
        Member.status == "active", Member.withdrawn_at.is_(None))).all()
    counts["members"] = len(members)
    if not required:
        return {"due": 0, **counts}
    agreed: dict[int, dict[str, tuple[int, dt.datetime]]] = {}
    for member_id, kind, version, at in session.execute(
            select(TermsConsent.member_id, TermsConsent.kind, func.max(TermsConsent.version),
                   func.max(TermsConsent.at))
            .where(TermsConsent.agreed.is_(True), TermsConsent.kind.in_(list(required)))
            .group_by(TermsConsent.member_id, TermsConsent.kind)):
        agreed.setdefault(member_id, {})[kind] = (version, at)
    affiliated = set(session.scalars(select(Affiliation.member_id).where(
        Affiliation.revoked_at.is_(None))))
    for member_id, member_type in members:
        company = is_company_member(member_type, member_id in affiliated)
        oldest = now - dt.timedelta(days=company_days if company else personal_days)
        mine = agreed.get(member_id, {})
        if any(kind not in mine or mine[kind][0] < version or mine[kind][1] < oldest
               for kind, version in required.items()):
            counts["company" if company else "personal"] += 1
    return {"due": counts["personal"] + counts["company"], **counts}


# -- marketing reconfirmation ------------------------------------------------------------------

@dataclass
class DueNotice:
    member: Member
    # channel -> (the opt-in's time, the 2-year period after it now due)
    channels: dict[str, tuple[dt.datetime, int]] = field(default_factory=dict)


def _latest_opt_ins(session: DbSession, cutoff: dt.datetime
                    ) -> dict[int, dict[str, dt.datetime]]:
    """member -> channel -> the time of the opt-in in force, for opt-ins older than cutoff."""
    candidates = (select(MarketingConsent.member_id)
                  .where(MarketingConsent.agreed.is_(True), MarketingConsent.at <= cutoff)
                  .distinct())
    latest: dict[int, dict[str, MarketingConsent]] = {}
    for row in session.scalars(select(MarketingConsent)
                               .where(MarketingConsent.member_id.in_(candidates))
                               .order_by(MarketingConsent.at, MarketingConsent.id)):
        latest.setdefault(row.member_id, {})[row.channel] = row  # later rows replace
    return {member_id: {c: r.at for c, r in rows.items() if r.agreed and r.at <= cutoff}
            for member_id, rows in latest.items()}


def due_marketing_notices(session: DbSession, *, now: dt.datetime,
                          period_days: int) -> list[DueNotice]:
    """Members with an opt-in at least one period old whose current period has no notice."""
    opt_ins = {m: c for m, c in _latest_opt_ins(
        session, now - dt.timedelta(days=period_days)).items() if c}
    if not opt_ins:
        return []
    sent = {tuple(row) for row in session.execute(
        select(MarketingNotice.member_id, MarketingNotice.channel, MarketingNotice.consent_at,
               MarketingNotice.period)
        .where(MarketingNotice.member_id.in_(list(opt_ins))))}
    members = {m.id: m for m in session.scalars(select(Member).where(
        Member.id.in_(list(opt_ins)), Member.status == "active",
        Member.withdrawn_at.is_(None)))}
    due = []
    for member_id in sorted(opt_ins):
        member = members.get(member_id)
        if member is None:
            continue
        notice = DueNotice(member)
        for channel, at in sorted(opt_ins[member_id].items()):
            period = (now - at).days // period_days
            if period >= 1 and (member_id, channel, at, period) not in sent:
                notice.channels[channel] = (at, period)
        if notice.channels:
            due.append(notice)
    return due


def _kst(at: dt.datetime) -> str:
    return at.replace(tzinfo=dt.UTC).astimezone(KST).strftime("%Y-%m-%d")


def notice_text(member: Member, opted_in: dict[str, dt.datetime], *, my_url: str
                ) -> tuple[str, str]:
    """The reconfirmation notice (시행령 §62의3 ②: the sender, the date and fact of the
    consent, how to keep or withdraw it): subject and text, Korean then English."""
    items_ko = "\n".join(f"  - {CHANNEL_NAMES[c][0]}: {_kst(at)} 수신 동의"
                         for c, at in sorted(opted_in.items()))
    items_en = "\n".join(f"  - {CHANNEL_NAMES[c][1]}: consented on {_kst(at)}"
                         for c, at in sorted(opted_in.items()))
    subject = "[KOTRA] 광고성 정보 수신동의 여부 확인 안내 / Your marketing consent"
    text = (
        f"{member.name} 님, 안녕하세요. 대한무역투자진흥공사(KOTRA)입니다.\n\n"
        "「정보통신망 이용촉진 및 정보보호 등에 관한 법률」 제50조제8항에 따라, 광고성 정보 "
        "수신에 동의하신 회원님께 2년마다 수신동의 여부를 알려 드립니다.\n\n"
        f"■ 전송자: 대한무역투자진흥공사(KOTRA)\n■ 수신 동의 내역:\n{items_ko}\n\n"
        "계속 받으시려면 따로 하실 일은 없습니다. 수신을 원하지 않으시면 언제든지 "
        f"MY KOTRA > 수신동의 관리({my_url})에서 철회하실 수 있습니다.\n\n"
        "---\n"
        f"Dear {member.name}, as the Korean Act on Promotion of Information and Communications "
        "Network Utilization (Article 50(8)) requires every two years, KOTRA reminds you that "
        f"you agreed to receive marketing messages:\n{items_en}\n"
        "Nothing needs to be done to keep receiving them. To stop them, withdraw your consent "
        f"at any time in MY KOTRA ({my_url}).\n"
    )
    return subject, text


def sms_text(opted_in: dict[str, dt.datetime], *, my_url: str) -> str:
    dates = ", ".join(f"{CHANNEL_NAMES[c][0]} {_kst(at)}" for c, at in sorted(opted_in.items()))
    return (f"[KOTRA] 광고성 정보 수신동의 확인 안내: {dates} 수신에 동의하셨습니다. "
            f"철회: MY KOTRA {my_url}")


def send_marketing_notices(session: DbSession, notify: Notifier, *, now: dt.datetime,
                           period_days: int, my_url: str) -> dict[str, int]:
    """Send each due notice once (email, else SMS to the member's mobile), committing per
    member; count due, sent, failed (not recorded: retried next run) and no_address."""
    counts = {"due": 0, "sent": 0, "failed": 0, "no_address": 0, "skipped": 0}
    for notice in due_marketing_notices(session, now=now, period_days=period_days):
        counts["due"] += 1
        member = notice.member
        by = "email" if member.email else "sms" if member.phone else None
        if by is None:
            counts["no_address"] += 1
            continue
        for channel, (at, period) in notice.channels.items():
            session.add(MarketingNotice(member_id=member.id, channel=channel, consent_at=at,
                                        period=period, sent_at=now, sent_by=by))
        try:
            session.flush()  # claims the notice: a concurrent run waits here, then skips
        except IntegrityError:
            session.rollback()
            counts["skipped"] += 1
            continue
        opted_in = {c: at for c, (at, _period) in notice.channels.items()}
        try:
            if by == "email":
                subject, text = notice_text(member, opted_in, my_url=my_url)
                notify.email(to=str(member.email), subject=subject, text=text)
            else:
                notify.sms(to=str(member.phone), text=sms_text(opted_in, my_url=my_url))
        except MessageNotSent as exc:
            session.rollback()
            audit.record(session, "marketing.notice_failed", member_id=member.id, by=by,
                         reason=str(exc)[:200])
            session.commit()
            counts["failed"] += 1
            continue
        audit.record(session, "marketing.notice_sent", member_id=member.id, by=by,
                     channels=sorted(opted_in))
        session.commit()
        counts["sent"] += 1
    return counts


# -- purge -------------------------------------------------------------------------------------

def purge(session: DbSession, store: Store, *, now: float, dev_messages_days: int
          ) -> dict[str, int]:
    """Expired codes, tokens, store entries, and development-outbox messages older than
    `dev_messages_days`. Commits."""
    counts = purge_expired(session, store, now=now)
    counts["dev_messages"] = purge_dev_messages(
        session, older_than=naive_utc(now) - dt.timedelta(days=dev_messages_days))
    session.commit()
    return counts


# -- running them --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], dict[str, int]]


def run_jobs(jobs: list[Job], *, progress: Callable[[str, dict[str, Any]], None],
             on_error: Callable[[], None] = lambda: None) -> dict[str, dict[str, Any]]:
    """Run each job, timing it; call `progress(name, result)` after each. A job that fails
    is reported with its error (after `on_error`, e.g. a rollback) and the others still
    run."""
    summary: dict[str, dict[str, Any]] = {}
    for job in jobs:
        started = time.perf_counter()
        result: dict[str, Any]
        try:
            result = dict(job.run())
        except Exception as exc:  # noqa: BLE001 — one job's failure must not stop the others
            on_error()
            result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        summary[job.name] = result
        progress(job.name, result)
    return summary
