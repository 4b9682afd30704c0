"""Versioned terms documents and each member's answers (issue 6, SPEC §3.1–3.3 and §4).

A document is one version of one kind (이용약관, 개인정보 수집·이용 동의, ...); the current
document of a kind is its highest version. Consents are history rows, never updated: what a
member answered to which version, when, and where (sign-up, conversion, re-consent).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, utcnow


class TermsDocument(Base):
    __tablename__ = "terms_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    title_ko: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # A required document must be agreed to before sign-up ends or a login resumes.
    required: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "version"),)


class TermsConsent(Base):
    """One answer of a member to one version of a document."""

    __tablename__ = "terms_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    agreed: Mapped[bool]
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    # Where it was given: signup, sns_signup, conversion, reconsent, demo.
    source: Mapped[str] = mapped_column(String(20))


class MarketingConsent(Base):
    """One opt-in or opt-out of marketing messages on one channel (email, sms), with its date."""

    __tablename__ = "marketing_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    agreed: Mapped[bool]
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(20))
