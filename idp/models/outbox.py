"""The outboxes: logout tokens still to be delivered to relying parties, emails still to send."""

from __future__ import annotations

from sqlalchemy import Double, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base, JSONText


class BackchannelLogout(Base):
    """One relying party to tell that a session (or every session of a member) ended.

    Written in the transaction that ends the session, so a logout that commits is never
    forgotten and one that rolls back tells nobody; deleted once delivered or given up.
    No foreign keys: a withdrawn member or a removed client must not take the row along
    before the worker has dealt with it.
    """

    __tablename__ = "backchannel_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column()
    # Claims of the logout token (Back-Channel Logout 1.0 §2.4); no sid: every session of sub.
    sub: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[float] = mapped_column(Double)
    # Attempts started so far (a claim counts: a worker that died mid-send used one).
    attempts: Mapped[int] = mapped_column(default=0)
    # When a worker may next take the row: the retry time, or the end of a worker's claim.
    next_attempt_at: Mapped[float] = mapped_column(Double)
    # The claim of the worker sending it now: its completion applies only while it holds it.
    claim: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_backchannel_outbox_next_attempt_at", "next_attempt_at"),)


class QueuedEmail(Base):
    """An email to send outside the request that asked for it (idp/services/mail_outbox.py):
    written in that request's transaction, deleted once sent or given up. No foreign key, as
    above: a withdrawn member's last notice must not go with the member's row."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Why it is sent ("find_id", "password_reset", ...): the audit event of its failures
    # (mail_outbox.FAILURE_EVENTS), with the member and the detail below.
    purpose: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[int | None] = mapped_column()
    detail: Mapped[dict | None] = mapped_column(JSONText)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    # As in backchannel_outbox: attempts started, when a worker may next take the row (the
    # retry time, or the end of a claim), the claim of the worker sending it now.
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[float] = mapped_column(Double)
    claim: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_mail_outbox_next_attempt_at", "next_attempt_at"),)
