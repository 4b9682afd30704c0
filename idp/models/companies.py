"""What the company capability keeps beside `companies` (issue 7, SPEC §3.4–3.5, §5).

- `company_directory`: KOTRA's existing company records, loaded with
  `idp companies import-directory FILE`; read to autofill a registration or an affiliation.
- `company_requests`: what waits for an operator — a new company's registration (with its
  사업자등록증 upload) or a registered company's name change.
- `uploads`: documents people send (PDF, PNG, JPEG), sealed with the personal-data key.
- `operators`: KOTRA staff of the operator console (password + TOTP).
- `service_participations`, `mileage_accounts`, `mileage_ledger`: what relying parties report
  over the service and mileage API, shown in the company console. The ledger is append-only;
  the account row holds the balance that a use decrements only while it stays >= 0.
- `company_notices`: what the company console shows its manager (e.g. the approval password
  locked after too many wrong tries).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, JSONText, utcnow


class CompanyDirectoryEntry(Base):
    __tablename__ = "company_directory"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_number: Mapped[str] = mapped_column(String(10), unique=True)
    name_ko: Mapped[str] = mapped_column(String(200))
    ceo_ko: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(200))
    ceo_en: Mapped[str | None] = mapped_column(String(100))
    corp_number: Mapped[str | None] = mapped_column(String(13))
    postcode: Mapped[str | None] = mapped_column(String(10))
    address_ko: Mapped[str | None] = mapped_column(String(300))
    address_en: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(30))
    fax: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    homepage: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Upload(Base):
    """A document a person sent, sealed (AES-GCM, provider.personal_data) in the database:
    outside any web root and shared by every process. Only operators read it back."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random public handle (the row id is never in a URL).
    handle: Mapped[str] = mapped_column(String(43), unique=True)
    # Checked from the content's magic bytes, never from the browser's header.
    content_type: Mapped[str] = mapped_column(String(50))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Operator(Base):
    """KOTRA staff (SPEC §1): created by `idp operators add`; password and TOTP at sign-in."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    login_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The TOTP secret (RFC 6238), sealed with the personal-data key.
    totp_sealed: Mapped[str] = mapped_column(String(255))
    # The last accepted TOTP time step: a code is accepted once (no replay in its window).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class CompanyRequest(Base):
    """Work for an operator: kind "registration" (a new company, not in the directory; the
    company row exists with status pending) or "name_change" (data: the new names)."""

    __tablename__ = "company_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    # The general member who applied (a registration), or NULL (a manager's name change).
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id",
                                                               ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id",
                                                              ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("kind in ('registration', 'name_change')", name="kind"),
        CheckConstraint("status in ('pending', 'approved', 'rejected')", name="status"),
    )


class ServiceParticipation(Base):
    """A relying party's report that a company (and one of its members) took part in a
    service on a date (SPEC §5): the company console lists them."""

    __tablename__ = "service_participations"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    service: Mapped[str] = mapped_column(String(200))
    # The reporting relying party (its client_id) and its site's name.
    client_id: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(200))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("client_id", "idempotency_key"),)


class MileageAccount(Base):
    """A company's mileage balance; a use is `UPDATE ... SET balance = balance - n WHERE
    balance >= n`, so concurrent uses never take it below zero."""

    __tablename__ = "mileage_accounts"

    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (CheckConstraint("balance >= 0", name="balance"),)


class MileageEntry(Base):
    """One earn (+) or use (−) of a company's mileage: append-only."""

    __tablename__ = "mileage_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    service: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    # The request's fingerprint: the same key with a different body is a conflict.
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key"),
        CheckConstraint("kind in ('earn', 'use')", name="kind"),
        CheckConstraint("amount > 0", name="amount"),
    )


class CompanyNotice(Base):
    """A notice for the company's manager, shown in the company console until read."""

    __tablename__ = "company_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    # e.g. "approval_password_locked", "affiliation_joined", "registration_approved"
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
