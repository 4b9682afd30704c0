"""The relying parties' API (issue 7): the first answer to each Idempotency-Key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, JSONText, utcnow


class IdempotencyRecord(Base):
    """What the API answered (status and body) to a client's first request with a key.

    Written in the transaction of the change it answers (a ledger entry, a participation) or,
    for a refusal, on its own; the unique (client_id, idempotency_key) lets exactly one of
    several concurrent requests with one key decide the answer that every retry gets.
    """

    __tablename__ = "api_idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    # The operation and the SHA-256 of the request's meaning: the same key for another
    # request is a conflict.
    operation: Mapped[str] = mapped_column(String(40))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSONText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("client_id", "idempotency_key"),)
