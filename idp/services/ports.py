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


# --- Companies (issue 7, KOREA-FACTS: Business numbers, Corporate certificates) -----------

@dataclass(frozen=True)
class BusinessStatus:
    """The tax office's answer for one 사업자등록번호 (국세청 사업자등록 상태조회)."""

    business_number: str  # 10 digits
    # "active" (01 계속사업자) | "suspended" (02 휴업자) | "closed" (03 폐업자)
    # | "unregistered" (국세청에 등록되지 않은 사업자등록번호)
    state: str
    tax_type: str | None = None  # the vendor's 과세유형 text, as given
    closed_on: dt.date | None = None  # end_dt, for a closed business


class BusinessRegistryUnavailable(Exception):
    """The tax office did not answer, answered an error, or refused our key: "try again
    later", never "not registered"."""


class BusinessRegistry(Protocol):
    """The tax office's business-status look-up, batched (at most 100 numbers a call)."""

    def status(self, business_numbers: list[str]) -> dict[str, BusinessStatus]:
        """Every number asked for is in the answer; raise BusinessRegistryUnavailable."""
        ...


@dataclass(frozen=True)
class DirectoryRecord:
    """KOTRA's existing record of a company: what the forms autofill (SPEC §3.3 tab 4, §3.4)."""

    business_number: str
    name_ko: str
    ceo_ko: str
    name_en: str | None = None
    ceo_en: str | None = None
    corp_number: str | None = None
    postcode: str | None = None
    address_ko: str | None = None
    address_en: str | None = None
    phone: str | None = None
    fax: str | None = None
    email: str | None = None
    homepage: str | None = None


class CompanyDirectory(Protocol):
    def find(self, business_number: str) -> DirectoryRecord | None:
        ...


@dataclass(frozen=True)
class CertificateProof:
    """What the browser sends after signing a challenge with a corporate certificate's key.
    The private key and its password never leave the browser; R is what the VID check needs."""

    certificate: bytes  # the signing certificate, DER (signCert.der)
    signature: bytes  # RSASSA-PKCS1-v1_5 with SHA-256 over `signed` (the challenge text)
    random_r: bytes | None  # R from the decrypted key (1.2.410.200004.10.1.1.3); None: none
    # Intermediate certificates the browser had (a .pfx may carry them), DER.
    chain: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class CertifiedCompany:
    """A checked corporate-certificate authentication: the certificate chains to a trust
    anchor, is valid and not revoked, has an allowed corporate policy, signed our challenge,
    and its VID matches `business_number` (never read from the CN)."""

    business_number: str
    subject: str  # RFC 4514 subject DN, for display and the audit trail
    issuer: str
    serial: str  # hex
    policy_oid: str
    not_after: dt.datetime  # naive UTC
    # "good" | "soft" (revocation could not be checked; IDP_NPKI_REVOCATION=soft accepted it)
    revocation: str = "good"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["not_after"] = self.not_after.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CertifiedCompany:
        return cls(**{**data, "not_after": dt.datetime.fromisoformat(data["not_after"])})


class CertificateRefused(Exception):
    """The certificate authentication failed; `reason` is one of CERTIFICATE_REASONS (each
    has its own message on the page and its own audit reason)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


CERTIFICATE_REASONS = (
    "malformed",  # not a certificate / signature / R we can parse
    "bad_signature",  # the signature does not verify with the certificate's key
    "replayed",  # the challenge is unknown, used, expired or another browser's
    "expired",  # outside notBefore..notAfter (of the leaf or of a CA)
    "untrusted",  # no chain to a configured trust anchor
    "key_usage",  # the leaf may not sign (keyUsage digitalSignature / nonRepudiation)
    "personal",  # a personal certificate where a corporate one is needed
    "policy",  # a corporate certificate of a kind not in IDP_NPKI_ALLOWED_POLICIES
    "revoked",  # on the CA's CRL or OCSP says revoked
    "revocation_unavailable",  # the CA's CRL/OCSP did not answer (IDP_NPKI_REVOCATION=strict)
    "no_vid",  # the certificate has no VID, or the key file no R
    "vid_mismatch",  # the VID is not that of the business number claimed
)


class CertificateVerifier(Protocol):
    """The NPKI rules (KOREA-FACTS, Corporate certificates) for one proof."""

    def verify(self, proof: CertificateProof, signed: bytes, business_number: str
               ) -> CertifiedCompany:
        """Check everything in CertifiedCompany's docstring; raise CertificateRefused."""
        ...
