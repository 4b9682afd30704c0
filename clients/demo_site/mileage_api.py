"""The provider's service and mileage API as the demo site calls it, over HTTP only.

The site authenticates as itself: an access token from the client_credentials grant at the
provider's token endpoint (RFC 6749 §4.4), cached until shortly before it expires and sent as a
bearer token in the Authorization header (RFC 6750 §2.1). Errors come back as RFC 9457 problem
details; `ApiProblem.code` is the last part of their `type` (urn:kotra:problem:<code>).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from clients.demo_site.errors import ProviderError
from clients.demo_site.provider import HTTP_TIMEOUT, Provider

API_SCOPES = "kotra.services.write kotra.mileage.read kotra.mileage.write"
TOKEN_MARGIN = 30  # seconds before expiry when a cached token is renewed


class ApiProblem(Exception):
    """A problem details answer (RFC 9457)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('type')}")
        self.status = status
        self.body = body
        self.code = str(body.get("type", "")).rsplit(":", 1)[-1]


class MileageApi:
    """Calls /api/v1 of the provider with the site's client credentials."""

    def __init__(self, provider: Provider, client_id: str, client_secret: str) -> None:
        self.provider = provider
        self.client_id = client_id
        self.client_secret = client_secret
        self.base = provider.issuer.rstrip("/") + "/api/v1"
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    # -- the token ------------------------------------------------------------------------
    def token(self, *, fresh: bool = False) -> str:
        with self._lock:
            if not fresh and self._token and self._expires - TOKEN_MARGIN > time.time():
                return self._token
        url = self.provider.metadata["token_endpoint"]
        try:
            resp = self.provider.http.post(
                url, data={"grant_type": "client_credentials", "scope": API_SCOPES},
                auth=(self.client_id, self.client_secret), timeout=HTTP_TIMEOUT)
            data = resp.json()
        except (requests.RequestException, ValueError):
            raise ProviderError("client_credentials token request failed") from None
        if resp.status_code != 200 or not isinstance(data, dict) or not data.get("access_token"):
            raise ProviderError(f"token endpoint answered {resp.status_code}")
        with self._lock:
            self._token = str(data["access_token"])
            self._expires = time.time() + float(data.get("expires_in") or 60)
            return self._token

    # -- calls ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, json: Any = None, key: str | None = None,
              params: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self.token(fresh=attempt == 1)}",
                       "Accept": "application/json, application/problem+json"}
            if key:
                headers["Idempotency-Key"] = key
            try:
                resp = self.provider.http.request(method, self.base + path, json=json,
                                                  params=params, headers=headers,
                                                  timeout=HTTP_TIMEOUT)
                body = resp.json()
            except (requests.RequestException, ValueError):
                raise ProviderError(f"{method} {path} failed") from None
            if resp.status_code == 401 and attempt == 0:
                continue  # the cached token was revoked or expired early: get a new one
            if not isinstance(body, dict):
                raise ProviderError(f"{method} {path} did not answer a JSON object")
            if resp.status_code >= 400:
                raise ApiProblem(resp.status_code, body)
            return body
        raise ProviderError("the API refused a fresh token")  # pragma: no cover

    def balance(self, business_number: str) -> dict[str, Any]:
        return self._call("GET", f"/companies/{business_number}/mileage")

    def entries(self, business_number: str, limit: int = 10) -> list[dict[str, Any]]:
        page = self._call("GET", f"/companies/{business_number}/mileage/entries",
                          params={"limit": limit})
        return list(page.get("items") or [])

    def record_participation(self, business_number: str, *, member: str, service: str,
                             site: str, date: str, key: str) -> dict[str, Any]:
        return self._call("POST", f"/companies/{business_number}/participations", key=key,
                          json={"member": member, "service": service, "site": site,
                                "date": date})

    def use(self, business_number: str, *, member: str, member_access_token: str,
            amount: int, reason: str, service: str, key: str) -> dict[str, Any]:
        """Use in the member's name; `member_access_token` is the access token the provider
        gave this site for the member at the certificate step-up (the proof the API asks)."""
        return self._call("POST", f"/companies/{business_number}/mileage/uses", key=key,
                          json={"member": member, "member_access_token": member_access_token,
                                "amount": amount, "reason": reason, "service": service})
