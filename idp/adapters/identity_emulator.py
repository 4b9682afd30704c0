"""A local emulator of the identity-verification vendors' popups (development and testing).

Never in production: `emulator = True`, and idp.wiring refuses a production start that picks
it. The popups themselves are pages of this app (idp/web/identity_emulator.py, served only
when IDP_ENV is development or testing) and behave like the vendors' windows: carrier, name,
birthdate and gender, phone, a 6-digit SMS code with a 3-minute countdown, resend and an
attempt limit for 휴대폰; an app to approve in for 간편인증; a card for 신용카드.

It speaks a protocol of the same shape as the real ones: `begin` hands the browser a signed
request (like NICE's enc_data + integrity_value), and the popup posts back a signed result
that `finish` checks (HMAC-SHA256 with a key derived from secret_key), binds to the request
id and to this request's transaction, and turns into a VerifiedIdentity.

CI and DI are derived from the person, deterministically, so that the same person gets the
same CI and DI every time (and the demo members' identities can be seeded):

    CI = Base64(SHA-512("emulator-ci|" + name + "|" + YYYYMMDD + "|" + mobile digits))[:88]
    DI = hex(SHA-256("emulator-di|kotra|" + name + "|" + YYYYMMDD + "|" + mobile digits))
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from idp.services.ports import VendorStart, VerificationFailed, VerifiedIdentity

START_PATH = "/dev/verify/start"


def emulator_ci_di(name: str, birthdate: dt.date, mobile: str) -> tuple[str, str]:
    """The emulator's CI and DI of a person (see the module docstring)."""
    person = f"{name.strip()}|{birthdate:%Y%m%d}|{''.join(c for c in mobile if c.isdigit())}"
    ci = base64.b64encode(hashlib.sha512(f"emulator-ci|{person}".encode()).digest()).decode()
    di = hashlib.sha256(f"emulator-di|kotra|{person}".encode()).hexdigest()
    return ci[:88], di


def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"idp-identity-emulator|" + secret_key.encode()).digest()


def sign(payload: Mapping[str, Any], secret_key: str) -> tuple[str, str]:
    """(data, sig): Base64url JSON and its HMAC-SHA256, as the emulator's 'vendor' sends."""
    data = base64.urlsafe_b64encode(json.dumps(payload, ensure_ascii=False,
                                               separators=(",", ":")).encode()).decode()
    sig = base64.urlsafe_b64encode(hmac.new(_key(secret_key), data.encode(),
                                            hashlib.sha256).digest()).decode()
    return data, sig


def unsign(data: str, sig: str, secret_key: str) -> dict[str, Any] | None:
    """The payload when `sig` is the HMAC of `data`, else None."""
    expected = base64.urlsafe_b64encode(hmac.new(_key(secret_key), data.encode(),
                                                 hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(data.encode()))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class EmulatorIdentityVerifier:
    """Every method (simple, mobile, card) through the local emulator pages."""

    vendor = "emulator"
    emulator = True  # never in production (idp.wiring.refuse_emulators_in_production)

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **_: Any) -> EmulatorIdentityVerifier:
        return cls(str(settings["secret_key"]))

    def begin(self, request_id: str, method: str, callback_url: str) -> VendorStart:
        tx = secrets.token_urlsafe(12)
        data, sig = sign({"rid": request_id, "method": method, "tx": tx,
                          "callback": callback_url}, self.secret_key)
        parts = urlsplit(callback_url)
        url = f"{parts.scheme}://{parts.netloc}{START_PATH}?{urlencode({'req': data, 'sig': sig})}"
        return VendorStart(url=url, http_method="GET", state={"tx": tx})

    def finish(self, request_id: str, method: str, state: Mapping[str, Any],
               params: Mapping[str, str]) -> VerifiedIdentity:
        result = unsign(params.get("result", ""), params.get("sig", ""), self.secret_key)
        if result is None:
            raise VerificationFailed("invalid", "emulator result signature does not match")
        if (result.get("rid") != request_id or result.get("method") != method
                or not state.get("tx") or result.get("tx") != state.get("tx")):
            raise VerificationFailed("invalid", "emulator result of another request")
        outcome = result.get("outcome")
        if outcome in ("cancelled", "failed"):
            raise VerificationFailed(str(outcome), "emulator")
        if outcome != "ok":
            raise VerificationFailed("invalid", f"emulator outcome {outcome!r}")
        p = result.get("person") or {}
        try:
            birthdate = dt.date.fromisoformat(str(p["birthdate"]))
            ci, di = emulator_ci_di(str(p["name"]), birthdate, str(p["mobile"]))
            return VerifiedIdentity(
                name=str(p["name"]), birthdate=birthdate, gender=p.get("gender"),
                nationality=str(p.get("nationality") or "domestic"),
                mobile=str(p["mobile"]), carrier=p.get("carrier"), ci=ci, di=di,
                method=method, vendor=self.vendor, corporate=bool(p.get("corporate")),
            )
        except (KeyError, ValueError, TypeError):
            raise VerificationFailed("invalid", "emulator person incomplete") from None
