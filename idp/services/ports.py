"""Ports: the interfaces between the use cases and the outside world.

Each port has a real adapter and an emulator or fake beside it (idp/adapters/), picked once
in the composition root (idp/wiring.py) from configuration. Services depend on these
Protocols only, never on an adapter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class Clock(Protocol):
    """The time, so that tests move it instead of sleeping."""

    def now(self) -> float:
        """Seconds since the epoch (like time.time())."""
        ...


@dataclass(frozen=True)
class BackchannelDelivery:
    """What became of one POST of a logout token (Back-Channel Logout 1.0 §2.8)."""

    delivered: bool
    # The relying party's HTTP status, None when it was never reached (or did not answer).
    status: int | None = None
    # Why it was not delivered, for the audit trail and the retry (never the token itself).
    error: str | None = None


class BackchannelSender(Protocol):
    """Delivers a signed logout token to a relying party's `backchannel_logout_uri`."""

    def send(self, uri: str, logout_token: str) -> BackchannelDelivery:
        """POST it (§2.5); never raises for a relying party that fails, answers it."""
        ...


# --- Identity verification (본인확인; issue 6, KOREA-FACTS) --------------------------------

@dataclass(frozen=True)
class VerifiedIdentity:
    """What a vendor's identity verification established about a person.

    Built by an adapter from the vendor's (checked, decrypted) answer, never from anything the
    browser sent in clear. CI and DI are personal data: seal them before storing
    (idp/services/personal_data.py).
    """

    name: str
    birthdate: dt.date
    gender: str | None  # "M" | "F"; None when the vendor does not say (KG이니시스 통합인증)
    nationality: str  # "domestic" | "foreign"
    mobile: str | None  # digits only, e.g. "01012345678"
    carrier: str | None  # "SKT" | "KT" | "LGU" | "MVNO"
    ci: str
    di: str
    method: str  # "simple" (간편인증) | "mobile" (휴대폰) | "card" (신용카드)
    vendor: str  # "inicis", "nice", "kcb", "emulator", ...
    # The vendor reported a corporate subscriber (법인 명의): not a person, refused.
    corporate: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["birthdate"] = self.birthdate.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VerifiedIdentity:
        return cls(**{**d, "birthdate": dt.date.fromisoformat(d["birthdate"])})


@dataclass(frozen=True)
class VendorStart:
    """Where to send the browser to start a vendor's verification: a GET to `url`, or an
    auto-submitted POST of `fields` to it; `state` is kept server-side for `finish`."""

    url: str
    http_method: str = "GET"
    fields: Mapping[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)


class VerificationFailed(Exception):
    """The vendor's answer is a refusal, a cancellation or does not check out."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason  # "cancelled" | "failed" | "invalid" (tampered, foreign, replayed)


class VendorUnavailable(Exception):
    """The vendor did not answer in time or answered with a server error."""


class IdentityVerifier(Protocol):
    """One vendor's identity verification for one or more methods (simple, mobile, card)."""

    vendor: str

    def begin(self, request_id: str, method: str, callback_url: str) -> VendorStart:
        ...

    def finish(self, request_id: str, method: str, state: Mapping[str, Any],
               params: Mapping[str, str]) -> VerifiedIdentity:
        """Check the vendor's answer posted or redirected to the callback (with `state` from
        `begin`) and return the identity; raise VerificationFailed or VendorUnavailable."""
        ...


# --- Email and SMS (issue 6) --------------------------------------------------------------

@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class SmsMessage:
    to: str  # digits only, e.g. "01012345678"
    text: str


class MessageNotSent(Exception):
    """The mail server or the SMS gateway refused the message or did not answer."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Send it or raise MessageNotSent."""
        ...


class SmsSender(Protocol):
    def send(self, message: SmsMessage) -> None:
        """Send it or raise MessageNotSent."""
        ...
