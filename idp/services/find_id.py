"""아이디 찾기 (find ID), manual chapter 07 and SPEC §3.6: three ways, one answer shape.

- by mobile: name + mobile; a one-time SMS code (idp/services/sms_codes.py) goes to that
  number whether or not a member has it, and only the person holding the phone, having typed
  the code, learns whether an ID exists (the masked ID and the join date, or "none");
- by 간편인증: the verified CI finds the member (`MemberIdentity.ci_hash`);
- by email: name + email; the result goes to that address; the page says the same whether or
  not an account matched.

IDs are masked (KOREA-FACTS: first 2–3 characters; the manual shows "kot*****"), the join
date and time shown in Korean time as the manual does ("2022-12-12 13:29:28"). Look-ups are
rate-limited per client IP and per target (phone number, email address), hour by hour on the
Clock, whatever their answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from idp.models import Member
from idp.models.base import DbSession
from idp.models.identity import MemberIdentity
from idp.services.personal_data import PersonalData
from idp.services.ports import Clock
from idp.services.throttle import ip_bucket
from idp.stores import Store

KST = dt.timezone(dt.timedelta(hours=9), "KST")
HOUR = 3600
# Korean mobile numbers: 010 (and the old 011, 016, 017, 018, 019) + 7 or 8 digits.
MOBILE = re.compile(r"01[016789][0-9]{7,8}")
WITHDRAWN = "withdrawn"


def normalize_mobile(value: str) -> str | None:
    """Digits only ("010-1234-5678" -> "01012345678"), or None when not a mobile number."""
    digits = "".join(c for c in value if c.isdigit())
    return digits if MOBILE.fullmatch(digits) else None


def mask_login_id(login_id: str) -> str:
    """The first 3 characters (2 of a short ID), the rest as '*': kotra01 -> kot****."""
    shown = 2 if len(login_id) <= 6 else 3
    return login_id[:shown] + "*" * (len(login_id) - shown)


def joined_at_kst(value: dt.datetime) -> str:
    """A stored (naive UTC) time as the manual shows it, in Korean time."""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class FoundId:
    masked_id: str
    joined_at: str  # KST, "YYYY-MM-DD HH:MM:SS"
    member_id: int


def _found(members: list[Member]) -> list[FoundId]:
    return [FoundId(mask_login_id(m.login_id or ""), joined_at_kst(m.created_at), m.id)
            for m in sorted(members, key=lambda m: m.created_at)]


def _members() -> Select[Member]:
    """Members who have an ID to find: not withdrawn."""
    return select(Member).where(Member.login_id.is_not(None), Member.withdrawn_at.is_(None),
                                Member.status != WITHDRAWN)


def find_by_mobile(session: DbSession, *, name: str, mobile: str) -> list[FoundId]:
    """Members with this name and mobile number (stored with or without hyphens)."""
    candidates = session.scalars(_members().where(Member.name == name.strip())).all()
    return _found([m for m in candidates if m.phone and
                   "".join(c for c in m.phone if c.isdigit()) == mobile])


def find_by_ci(session: DbSession, personal_data: PersonalData, ci: str) -> list[FoundId]:
    """The member whose verified identity has this CI."""
    digest = personal_data.lookup_hash("ci", ci)
    members = session.scalars(_members().join(
        MemberIdentity, MemberIdentity.member_id == Member.id).where(
        MemberIdentity.ci_hash == digest)).all()
    return _found(list(members))


def find_by_email(session: DbSession, *, name: str, email: str) -> list[FoundId]:
    """Members with this name and email address (the address compared case-insensitively)."""
    members = session.scalars(_members().where(
        Member.name == name.strip(),
        func.lower(Member.email) == email.strip().lower())).all()
    return _found(list(members))


def result_email(found: list[FoundId], *, name: str) -> tuple[str, str]:
    """(subject, text) of the email that answers a find-ID request by email."""
    lines = [f"{name} 님, 요청하신 KOTRA 통합회원 아이디 찾기 결과를 알려 드립니다.", ""]
    for f in found:
        lines += [f"아이디: {f.masked_id}", f"가입일자: {f.joined_at}", ""]
    lines += ["아이디의 일부는 개인정보 보호를 위해 * 로 표시됩니다. 비밀번호가 기억나지 않으시면 "
              "로그인 화면의 [비밀번호 재설정]을 이용해 주세요.",
              "본인이 요청하지 않으셨다면 이 메일을 무시하셔도 됩니다."]
    return "[KOTRA] 아이디 찾기 결과 안내", "\n".join(lines)


class FindIdThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class FindIdLimits:
    """Look-ups per client IP and per target per hour (fixed windows on the Clock)."""

    def __init__(self, store: Store, clock: Clock, *, per_ip_per_hour: int,
                 per_target_per_hour: int) -> None:
        self._store, self._clock = store, clock
        self.per_ip, self.per_target = per_ip_per_hour, per_target_per_hour

    @staticmethod
    def _h(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()[:40]

    def count(self, *, ip: str, target: str | None = None) -> None:
        """Count one look-up; raise FindIdThrottled past either limit."""
        now = self._clock.now()
        hour = int(now // HOUR)
        retry = HOUR - int(now % HOUR)
        if self._store.incr(f"findid-ip:{self._h(ip_bucket(ip))}:{hour}", HOUR * 2) > \
                self.per_ip:
            raise FindIdThrottled(retry)
        if target is not None and self._store.incr(
                f"findid-target:{self._h(target.lower())}:{hour}", HOUR * 2) > self.per_target:
            raise FindIdThrottled(retry)
