"""A member's verified identity (본인확인) and the development outbox (issue 6, SPEC §3.1).

CI and DI are personal data (KOREA-FACTS, 본인확인): stored encrypted (AES-GCM,
idp/services/personal_data.py) with a keyed hash beside each for look-ups. DI is unique: the
database itself refuses a second account for one person, even when two sign-ups race.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, utcnow


class MemberIdentity(Base):
    __tablename__ = "member_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True)
    # Keyed hashes (HMAC-SHA256, hex) for look-ups; the values themselves only encrypted.
    ci_hash: Mapped[str] = mapped_column(String(64), unique=True)
    di_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ci_sealed: Mapped[str] = mapped_column(Text)
    di_sealed: Mapped[str] = mapped_column(Text)
    # The verified name (as the vendor reported it), birth date, gender M/F, domestic/foreign.
    name: Mapped[str] = mapped_column(String(100))
    birthdate: Mapped[dt.date] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(1))
    nationality: Mapped[str] = mapped_column(String(10))
    carrier: Mapped[str | None] = mapped_column(String(10))
    # How it was verified: simple (간편인증), mobile (휴대폰), card (신용카드); and by whom.
    method: Mapped[str] = mapped_column(String(20))
    vendor: Mapped[str] = mapped_column(String(30))
    verified_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DevMessage(Base):
    """A message the development outbox 'sent' (IDP_ENV development/testing only)."""

    __tablename__ = "dev_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
