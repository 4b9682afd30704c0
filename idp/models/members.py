"""Members, companies and affiliations (SPEC §1). The company capability extends these."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.models.base import Base, JSONText, utcnow


class MemberType(enum.StrEnum):
    GENERAL = "general"
    SIMPLE = "simple"
    COMPANY_MANAGER = "company_manager"


class AffiliationMethod(enum.StrEnum):
    CERTIFICATE = "certificate"
    APPROVAL_PASSWORD = "approval_password"


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Public, stable, non-reassigned subject identifier (OIDC Core §2 `sub`); not the login ID,
    # so that a login ID can change without relying parties losing the member.
    subject: Mapped[str] = mapped_column(String(64), unique=True)
    member_type: Mapped[str] = mapped_column(String(20), default=MemberType.GENERAL)
    # Lower-cased login ID for general members; NULL for principals without one.
    login_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(String(30))
    phone_verified: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Changes of profile data (OIDC `updated_at`); a login is not one.
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set by an operator: the next login must choose a new password before any site gets a
    # code (the password_change step of idp/oidc/authorize.STEPS).
    password_change_required: Mapped[bool] = mapped_column(default=False,
                                                           server_default=false())
    # Optional profile data of the sign-up wizard (manual §2, 회원정보 입력: 선택 입력).
    name_en: Mapped[str | None] = mapped_column(String(100))
    fax: Mapped[str | None] = mapped_column(String(30))
    department: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[str | None] = mapped_column(String(100))
    address_en: Mapped[str | None] = mapped_column(String(300))
    # Mobile carrier from the identity verification (SKT, KT, LGU, MVNO).
    phone_carrier: Mapped[str | None] = mapped_column(String(10))
    # Set when the member withdrew; the row stays, anonymised, for the audit trail's sake.
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    # For a company manager: the company this principal manages (SPEC §1, 기업정보 관리자).
    managed_company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )

    affiliation: Mapped[Affiliation | None] = relationship(
        primaryjoin="and_(Member.id == Affiliation.member_id, Affiliation.revoked_at.is_(None))",
        viewonly=True,
        uselist=False,
        lazy="joined",
    )

    __table_args__ = (
        CheckConstraint(
            "member_type in ('general', 'simple', 'company_manager')", name="member_type"
        ),
    )

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class CompanyStatus(enum.StrEnum):
    # Registered with a certificate, or approved by an operator: managers sign in, members join.
    ACTIVE = "active"
    # A new company (not in the directory) waiting for an operator's review (SPEC §3.4):
    # nobody signs in as its manager and no member can join it yet.
    PENDING = "pending"
    # Refused by an operator; the business number may be registered again.
    REJECTED = "rejected"


class Company(Base):
    """A registered company (기업회원). Its manager signs in as a `company_manager` member
    (members.managed_company_id); the company login password is that member's password."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    # 사업자등록번호: 10 digits, no dashes (idp.services.business_numbers).
    business_number: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=CompanyStatus.ACTIVE,
                                        server_default=CompanyStatus.ACTIVE.value)
    ceo_name: Mapped[str | None] = mapped_column(String(100))
    ceo_name_en: Mapped[str | None] = mapped_column(String(100))
    # 법인등록번호: 13 digits, no dash.
    corp_number: Mapped[str | None] = mapped_column(String(13))
    # The rest of the manual's company form (SPEC §3.4: address, phone, trade licence, 업태/업종,
    # sizes, ...), keyed by the form's field names; the registration flow defines the keys.
    profile: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    # 승인 비밀번호: 6 digits, argon2id like every password (SPEC §1); NULL until set.
    approval_password_hash: Mapped[str | None] = mapped_column(String(255))
    approval_password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("status in ('active', 'pending', 'rejected')", name="status"),
    )


class Affiliation(Base):
    """A general member's 소속: at most one live affiliation per member."""

    __tablename__ = "affiliations"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"),
                                            index=True)
    method: Mapped[str] = mapped_column(String(30))
    established_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Why it ended: "left" (the member), "revoked" (the company's manager), "company" (the
    # company was rejected or removed), "withdrawn" (the member withdrew).
    ended_by: Mapped[str | None] = mapped_column(String(20))

    company: Mapped[Company] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint("method in ('certificate', 'approval_password')", name="method"),
        UniqueConstraint("member_id", "company_id", "established_at"),
    )
