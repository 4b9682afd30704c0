"""Corporate certificate authentication requests (기업 범용인증서; issue 7, SPEC §3.4–3.5).

Like identity verification (idp/services/identity.py), a page that needs a company's
certificate starts a request for one purpose and takes its checked result once:

    ch = certificates.start(purpose="register", business_number="1248100998", browser=bid,
                            return_to="/company/register/<fid>/certified")
    # the browser gets ch.id and ch.to_sign, signs to_sign with the key it decrypted locally
    # and sends the proof; the web layer calls
    certificates.complete(ch.id, proof, browser=bid)      # -> CertifiedCompany (or refused)
    ...
    company = certificates.take(ch.id, browser=bid, purpose="register")   # once, on the page

The challenge (the text the browser signs) names the issuer, the purpose, the business
number and a random nonce, so a signature made for one request is useless for any other. A
challenge is bound to the browser, answered once (a second proof is "replayed"), lives
`CHALLENGE.ttl` seconds, and its business number is fixed when it starts: the browser cannot
change which company it claims after seeing the challenge.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from idp.services.flows import Flow, FlowKind, Flows
from idp.services.ports import (
    CertificateProof,
    CertificateRefused,
    CertificateVerifier,
    CertifiedCompany,
    Clock,
)

# register: company registration; login: the 기업정보 관리 tab (and step-up to certificate
# level); manage: the company console's fresh certificate (info edit, approval password);
# affiliate: a member joining a company by certificate (sign-up tab 4, MY KOTRA 소속기업).
PURPOSES = frozenset({"register", "login", "manage", "affiliate"})

# From the challenge to the page's take: picking files and typing a password takes a while.
CHALLENGE = FlowKind("certificate", ttl=600)


class CertificateError(Exception):
    """No usable result: `reason` is one of ports.CERTIFICATE_REASONS, or "pending" (no proof
    yet) or "purpose" (asked for another use). The page maps it to a message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Challenge:
    id: str
    purpose: str
    business_number: str
    return_to: str
    to_sign: str


class CertificateLogins:
    def __init__(self, flows: Flows, clock: Clock, issuer: str) -> None:
        self._flows = flows
        self._clock = clock
        self._issuer = issuer

    def start(self, *, purpose: str, business_number: str, browser: str,
              return_to: str) -> Challenge:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown certificate purpose {purpose!r}")
        nonce = secrets.token_urlsafe(32)
        to_sign = (f"kotra-idp certificate authentication\nissuer: {self._issuer}\n"
                   f"purpose: {purpose}\nbusiness_number: {business_number}\n"
                   f"nonce: {nonce}\nissued_at: {int(self._clock.now())}")
        flow = self._flows.start(CHALLENGE, {
            "purpose": purpose, "business_number": business_number, "return_to": return_to,
            "to_sign": to_sign, "result": None, "refusal": None,
        }, browser=browser)
        return _challenge(flow)

    def pending(self, challenge_id: str | None, *, browser: str | None) -> Challenge | None:
        """The challenge while no proof has been checked for it (None once answered)."""
        flow = self._flows.get(CHALLENGE, challenge_id, browser=browser)
        if flow is None or flow.data["result"] or flow.data["refusal"]:
            return None
        return _challenge(flow)

    def complete(self, challenge_id: str | None, proof: CertificateProof,
                 verifier: CertificateVerifier, *, browser: str | None) -> CertifiedCompany:
        """Check the proof for the challenge and record the result; CertificateRefused.
        A challenge is answered once: a second proof for it is "replayed"."""
        flow = self._flows.get(CHALLENGE, challenge_id, browser=browser)
        if flow is None or flow.data["result"] or flow.data["refusal"]:
            raise CertificateRefused("replayed")
        try:
            result = verifier.verify(proof, flow.data["to_sign"].encode(),
                                     flow.data["business_number"])
        except CertificateRefused as exc:
            self._flows.update(flow, {**flow.data, "refusal": exc.reason})
            raise
        if result.business_number != flow.data["business_number"]:  # a verifier's bug
            raise CertificateRefused("vid_mismatch")
        self._flows.update(flow, {**flow.data, "result": result.to_dict()})
        return result

    def take(self, challenge_id: str | None, *, browser: str | None,
             purpose: str) -> CertifiedCompany:
        """The checked result, once; CertificateError otherwise."""
        flow = self._flows.get(CHALLENGE, challenge_id, browser=browser)
        if flow is None:
            raise CertificateError("replayed")
        if flow.data["purpose"] != purpose:
            raise CertificateError("purpose")
        if flow.data["refusal"]:
            self._flows.discard(flow.id)
            raise CertificateError(flow.data["refusal"])
        if not flow.data["result"]:
            raise CertificateError("pending")
        if self._flows.consume(CHALLENGE, challenge_id, browser=browser) is None:
            raise CertificateError("replayed")  # a concurrent take won
        return CertifiedCompany.from_dict(flow.data["result"])

    def record(self, *, purpose: str, result: CertifiedCompany, browser: str) -> str:
        """A checked result recorded directly (tests, and the CLI's demo): its challenge id."""
        flow = self._flows.start(CHALLENGE, {
            "purpose": purpose, "business_number": result.business_number, "return_to": "/",
            "to_sign": "", "result": result.to_dict(), "refusal": None,
        }, browser=browser)
        return flow.id


def _challenge(flow: Flow) -> Challenge:
    d: dict[str, Any] = flow.data
    return Challenge(id=flow.id, purpose=d["purpose"], business_number=d["business_number"],
                     return_to=d["return_to"], to_sign=d["to_sign"])
