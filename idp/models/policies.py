"""What the policy jobs (`idp jobs run`, issue 6) remember between runs.

`marketing_notices`: the reconfirmation notice of a marketing opt-in (정보통신망법 §50(8),
시행령 §62의3: every 2 years after the consent), one row per member, channel, consent and
2-year period. The unique constraint makes a re-run, or two runs at once from cron, send each
notice once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.models.base import Base


class MarketingNotice(Base):
    __tablename__ = "marketing_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # email | sms (the opt-in reconfirmed)
    # The opt-in being reconfirmed (MarketingConsent.at) and which 2-year period after it.
    consent_at: Mapped[dt.datetime] = mapped_column(DateTime)
    period: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # How the notice went: email or sms.
    sent_by: Mapped[str] = mapped_column(String(10))

    __table_args__ = (UniqueConstraint("member_id", "channel", "consent_at", "period"),)
