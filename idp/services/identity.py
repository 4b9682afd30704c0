"""Identity verification requests and their results (본인확인; issue 6, SPEC §3.1, §3.6–3.7).

A page that needs a verified person (sign-up step 2, 간편인증 login, find ID, password reset,
re-authentication in MY KOTRA, ...) starts a request for one purpose; the web layer sends the
browser to the vendor through an `IdentityVerifier` adapter and, at the vendor's callback,
records the checked result on the request. The page then takes the result, once:

    req = verifications.start(purpose="signup", method="mobile", browser=bid,
                              return_to="/signup/abc/verified")
    ...  # vendor round trip; the callback view calls verifications.complete(req, identity)
    identity = verifications.take(request_id, browser=bid, purpose="signup")

A result is bound to the browser that started the request and to its purpose, lives a few
minutes, is handed out once and is never taken from anything the browser sends: the browser
only carries the request id. Under-14s (they need a guardian's consent, KOREA-FACTS) and
corporate subscribers are refused here, for every purpose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from idp.services.flows import Flow, FlowKind, Flows
from idp.services.ports import Clock, VerifiedIdentity

PURPOSES = frozenset({"signup", "login", "find_id", "reset_password", "reauth", "sns_find",
                      "conversion"})
METHODS = ("simple", "mobile", "card")  # 간편인증, 휴대폰, 신용카드 (the manual's order)
MIN_AGE = 14
KST = dt.timezone(dt.timedelta(hours=9))

# The request, from start to take: the vendor round trip plus the time to finish the page.
VERIFICATION = FlowKind("verification", ttl=600)


class VerificationError(Exception):
    """No usable result: reason is one of the REASONS below (the page maps it to a message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# expired: unknown, used, expired or another browser's request; pending: no answer yet;
# cancelled / failed / invalid: the vendor's answer (VerificationFailed.reason);
# unavailable: the vendor did not answer; under_14; corporate; purpose: asked for another use.
REASONS = ("expired", "pending", "cancelled", "failed", "invalid", "unavailable", "under_14",
           "corporate", "purpose")


@dataclass(frozen=True)
class VerificationRequest:
    id: str
    purpose: str
    method: str
    return_to: str
    state: dict[str, Any]


def age_on(birthdate: dt.date, today: dt.date) -> int:
    """Full years (만 나이) on `today`."""
    return today.year - birthdate.year - ((today.month, today.day) < (birthdate.month,
                                                                      birthdate.day))


class Verifications:
    def __init__(self, flows: Flows, clock: Clock) -> None:
        self._flows = flows
        self._clock = clock

    def start(self, *, purpose: str, method: str, browser: str,
              return_to: str) -> VerificationRequest:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown verification purpose {purpose!r}")
        if method not in METHODS:
            raise ValueError(f"unknown verification method {method!r}")
        flow = self._flows.start(VERIFICATION, {
            "purpose": purpose, "method": method, "return_to": return_to, "state": {},
            "result": None, "refusal": None,
        }, browser=browser)
        return _request(flow)

    def pending(self, request_id: str | None, *, browser: str | None
                ) -> VerificationRequest | None:
        """The request while the vendor has not answered (None once answered or expired)."""
        flow = self._flows.get(VERIFICATION, request_id, browser=browser)
        if flow is None or flow.data["result"] or flow.data["refusal"]:
            return None
        return _request(flow)

    def remember_vendor_state(self, req: VerificationRequest, state: dict[str, Any],
                              *, browser: str) -> None:
        flow = self._flows.get(VERIFICATION, req.id, browser=browser)
        if flow is not None:
            self._flows.update(flow, {**flow.data, "state": state})

    def complete(self, req: VerificationRequest, identity: VerifiedIdentity, *,
                 browser: str) -> str | None:
        """Record the vendor's checked answer; the refusal reason when it cannot be used.
        A second answer for one request is ignored (a replayed callback)."""
        flow = self._flows.get(VERIFICATION, req.id, browser=browser)
        if flow is None or flow.data["result"] or flow.data["refusal"]:
            return "expired"
        refusal = self._refusal(identity)
        self._flows.update(flow, {**flow.data, "state": {},
                                  "result": None if refusal else identity.to_dict(),
                                  "refusal": refusal})
        return refusal

    def fail(self, req: VerificationRequest, reason: str, *, browser: str) -> None:
        flow = self._flows.get(VERIFICATION, req.id, browser=browser)
        if flow is not None and not flow.data["result"]:
            self._flows.update(flow, {**flow.data, "state": {}, "refusal": reason})

    def take(self, request_id: str | None, *, browser: str | None,
             purpose: str) -> VerifiedIdentity:
        """The verified identity, once; VerificationError otherwise."""
        flow = self._flows.get(VERIFICATION, request_id, browser=browser)
        if flow is None:
            raise VerificationError("expired")
        if flow.data["purpose"] != purpose:
            raise VerificationError("purpose")
        if flow.data["refusal"]:
            self._flows.discard(flow.id)
            raise VerificationError(flow.data["refusal"])
        if not flow.data["result"]:
            raise VerificationError("pending")
        if self._flows.consume(VERIFICATION, request_id, browser=browser) is None:
            raise VerificationError("expired")  # a concurrent take won
        return VerifiedIdentity.from_dict(flow.data["result"])

    def _refusal(self, identity: VerifiedIdentity) -> str | None:
        if identity.corporate:
            return "corporate"
        today = dt.datetime.fromtimestamp(self._clock.now(), KST).date()
        if age_on(identity.birthdate, today) < MIN_AGE:
            return "under_14"
        return None


def _request(flow: Flow) -> VerificationRequest:
    d = flow.data
    return VerificationRequest(id=flow.id, purpose=d["purpose"], method=d["method"],
                               return_to=d["return_to"], state=dict(d["state"]))
