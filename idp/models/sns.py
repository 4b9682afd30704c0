"""SNS links: which Naver, Kakao, Google or Facebook account signs in which member (issue 9).

A link is identified by (provider, subject): the vendor's stable user id (Naver `id`, Kakao
`id` / ID token `sub`, Google `sub`, Facebook's app-scoped id). Never by the email: an email
the vendor reports is kept for "SNS 찾기" only and never links two accounts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, utcnow


class SnsLink(Base):
    __tablename__ = "sns_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           index=True)
    # naver | kakao | google | facebook
    provider: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    linked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("provider", "subject"),)


class InactivityNotice(Base):
    """The notice that a simple member not seen for almost 3 years will be deleted (issue 9,
    SPEC §4: 간편회원 3년 미이용 시 삭제), sent 30 days before. One per member and `last_seen`
    (the sign-in time the notice counted from): a re-run or a concurrent run sends nothing
    twice, and a member who signs in again and goes quiet again gets a new one."""

    __tablename__ = "sns_inactivity_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           index=True)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # email | sms | none (no address: recorded so that the deletion still follows)
    sent_by: Mapped[str] = mapped_column(String(10))

    __table_args__ = (UniqueConstraint("member_id", "last_seen"),)
