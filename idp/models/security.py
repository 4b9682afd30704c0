"""Signing keys, consents, the audit log and the key-value store of the embedded mode."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, JSONText, utcnow


class SigningKey(Base):
    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(10))
    # PKCS#8 PEM, encrypted with a key derived from IDP_SECRET_KEY (AES-GCM).
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSONText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Set when a newer key of the same alg took over; the key stays in the JWKS until
    # every token it signed has expired.
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Consent(Base):
    """What a member granted a third-party client, remembered per client."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(500))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("member_id", "client_id"),)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(50), index=True)
    member_id: Mapped[int | None] = mapped_column()
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    # The event's particulars as one JSON object (never a JSON string holding JSON).
    detail: Mapped[dict | None] = mapped_column(JSONText)
    # The id of the HTTP request that caused the event (X-Request-ID, also in the logs).
    request_id: Mapped[str | None] = mapped_column(String(64))

    # A member's own trail, newest first (per-member audit views, withdrawal).
    __table_args__ = (Index("ix_audit_events_member_at", "member_id", "at"),)


class KeyValue(Base):
    """Embedded-mode store for SSO sessions, interactions and throttle counters."""

    __tablename__ = "kv_store"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column()

    __table_args__ = (Index("ix_kv_store_expires_at", "expires_at"),)


class KeyValueSetMember(Base):
    """Embedded-mode sets (a session's relying parties, a member's sessions): one row per
    member, each with its own expiry, so adding and removing are single statements."""

    __tablename__ = "kv_set"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[float] = mapped_column()

    __table_args__ = (Index("ix_kv_set_expires_at", "expires_at"),)
