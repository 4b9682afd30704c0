"""Authorization codes and tokens. Only hashes of the secrets are stored."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, JSONText, utcnow


def token_hash(value: str) -> str:
    """SHA-256 of a random bearer secret: lookups by hash, nothing usable in a dump."""
    return hashlib.sha256(value.encode()).hexdigest()


# migrations/versions/0018_partial_token_indexes.py
PARTIAL_INDEXES = {
    "ix_tokens_member_client": ("member_id", "client_id"),
    "ix_tokens_code_hash": ("code_hash",),
    "ix_tokens_sid": ("sid",),
}


class AuthorizationCode(Base):
    """Read back as readmodels.CodeRecord, which carries Authlib's methods."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    # Indexed: deleting a member (withdrawal, inactivity) cascades here.
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    sid: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[int] = mapped_column()
    acr: Mapped[str | None] = mapped_column(String(100))
    amr: Mapped[list[str] | None] = mapped_column(JSONText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Token(Base):
    """One access token and, for user grants, its refresh token.

    Refresh tokens rotate (RFC 9700 §4.14.2): each refresh creates a new row in the same
    `family_id`; presenting a rotated refresh token again revokes the whole family.
    """

    __tablename__ = "tokens"
    # Read back as readmodels.TokenRecord, which carries Authlib's TokenMixin methods.

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    # No index of its own: ix_tokens_member_client leads with it (lookups and the cascade
    # use that one), and every token insert would pay for a second.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    # Scope of the access token (may be narrower than the grant on a refresh).
    scope: Mapped[str] = mapped_column(String(500), default="")
    # Scope of the grant the refresh token carries: RFC 6749 §6 keeps it whole across
    # rotations even when one refresh asked for less.
    refresh_scope: Mapped[str | None] = mapped_column(String(500))
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    sid: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[int | None] = mapped_column()
    acr: Mapped[str | None] = mapped_column(String(100))
    amr: Mapped[list[str] | None] = mapped_column(JSONText)
    issued_at: Mapped[int] = mapped_column()
    access_expires_at: Mapped[int] = mapped_column()
    refresh_expires_at: Mapped[int | None] = mapped_column()
    rotated_at: Mapped[int | None] = mapped_column()
    revoked_at: Mapped[int | None] = mapped_column()

    # member_id, code_hash and sid are empty on a client_credentials token: those indexes
    # cover only the rows that have them (partial indexes; every lookup compares them with a
    # value, which implies IS NOT NULL), so a service's token costs three index writes fewer.
    __table_args__ = tuple(
        Index(name, *columns, sqlite_where=text(f"{columns[0]} IS NOT NULL"),
              postgresql_where=text(f"{columns[0]} IS NOT NULL"))
        for name, columns in PARTIAL_INDEXES.items())

