"""Accounts of the old KOTRA sites, imported from their member database (SPEC §6).

One row per old account (a person may have several, on several sites). A row stays `pending`
until its owner converts it into a unified member (`converted`, member_id set) or converts
another of their old accounts, which marks this one `merged` into the same member. Old
passwords are kept as exported and verified by idp.services.legacy_passwords; the CI is kept
only as a keyed hash (idp.services.legacy_import.ci_hash), never in the clear.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, utcnow


class LegacyMemberType(enum.StrEnum):
    PERSONAL = "personal"  # 개인회원
    MASTER = "master"  # 기업회원 MASTER
    REGULAR = "regular"  # 기업회원 정회원
    ASSOCIATE = "associate"  # 기업회원 준회원


class LegacyStatus(enum.StrEnum):
    PENDING = "pending"
    CONVERTED = "converted"  # this old account became the unified member (member_id)
    MERGED = "merged"  # another old account of the same person was converted; folded into it


class AwareDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime on both engines: stored in UTC, read back with tzinfo=UTC
    (SQLite keeps no offset, PostgreSQL's timestamptz does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("AwareDateTime needs a timezone-aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class LegacyAccount(Base):
    __tablename__ = "legacy_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The old site's name as exported (e.g. "무역투자24"); an old ID is unique per site only.
    site: Mapped[str] = mapped_column(String(100))
    # The old login ID exactly as exported (shown to the member).
    legacy_id: Mapped[str] = mapped_column(String(100))
    # legacy_id stripped and lower-cased: what a login looks up (old IDs were case-insensitive).
    legacy_id_key: Mapped[str] = mapped_column(String(100), index=True)
    member_type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    # Digits only (010-1234-5678 → 01012345678).
    mobile: Mapped[str | None] = mapped_column(String(20))
    # 사업자등록번호: 10 digits with a valid check digit, no dashes.
    business_number: Mapped[str | None] = mapped_column(String(10))
    company_name: Mapped[str | None] = mapped_column(String(200))
    joined_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime())
    # The old hash as exported; verified by idp.services.legacy_passwords, never re-hashed
    # here (conversion replaces it with argon2id on the member).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_scheme: Mapped[str | None] = mapped_column(String(20))
    password_salt: Mapped[str | None] = mapped_column(String(255))
    # HMAC-SHA256 (hex) of the CI under a key derived from the secret key; the CI is not kept.
    ci_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default=LegacyStatus.PENDING)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    converted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # SHA-256 (hex) of the imported fields: a re-import of an unchanged row writes nothing.
    row_digest: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("site", "legacy_id", name="uq_legacy_accounts_site_legacy_id"),
        Index("ix_legacy_accounts_name_email", "name", "email"),
        Index("ix_legacy_accounts_name_mobile", "name", "mobile"),
        CheckConstraint(
            "member_type in ('personal', 'master', 'regular', 'associate')", name="member_type"
        ),
        CheckConstraint("status in ('pending', 'converted', 'merged')", name="status"),
    )

    @property
    def is_pending(self) -> bool:
        return self.status == LegacyStatus.PENDING
