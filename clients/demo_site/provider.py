"""The OpenID provider as a relying party sees it over HTTP: discovery and JWKS, cached."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests
from jose import jwk
from jose.exceptions import JOSEError

from clients.demo_site.errors import ProviderError, TokenValidationError

ALLOWED_ALGS = ("RS256", "ES256")
HTTP_TIMEOUT = 5.0


def _http_get_json(http: requests.Session, url: str) -> dict:
    try:
        resp = http.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ProviderError(f"GET {url} failed: {exc.__class__.__name__}") from None
    if resp.status_code != 200:
        raise ProviderError(f"GET {url} answered {resp.status_code}")
    try:
        data = resp.json()
    except ValueError:
        raise ProviderError(f"GET {url} did not answer JSON") from None
    if not isinstance(data, dict):
        raise ProviderError(f"GET {url} did not answer a JSON object")
    return data


def _infer_alg(key: Mapping) -> str | None:
    """The JWS algorithm a JWK is for: its ``alg`` or, lacking one, the usual one for its type."""
    if key.get("alg"):
        return str(key["alg"])
    if key.get("kty") == "RSA":
        return "RS256"
    if key.get("kty") == "EC" and key.get("crv") == "P-256":
        return "ES256"
    return None


class Provider:
    """The OpenID provider as seen over HTTP: discovery document and JWKS, cached.

    ``fetch_json(url) -> dict`` does every GET; tests may replace it.
    """

    def __init__(self, issuer: str, http: requests.Session | None = None):
        self.issuer = issuer
        self.http = http or requests.Session()
        self.fetch_json: Callable[[str], dict] = lambda url: _http_get_json(self.http, url)
        self._lock = threading.Lock()
        self._metadata: dict | None = None
        self._jwks: list[dict] | None = None

    def close(self) -> None:
        self.http.close()

    # -- discovery --------------------------------------------------------
    @property
    def metadata(self) -> dict:
        with self._lock:
            if self._metadata is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                meta = self.fetch_json(url)
                if meta.get("issuer") != self.issuer:
                    raise ProviderError("discovery issuer does not match the configured issuer")
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(meta.get(name), str):
                        raise ProviderError(f"discovery lacks {name}")
                self._metadata = meta
            return self._metadata

    def endpoint(self, name: str) -> str | None:
        value = self.metadata.get(name)
        return value if isinstance(value, str) and value else None

    # -- keys ---------------------------------------------------------------
    def _fetch_jwks(self) -> list[dict]:
        data = self.fetch_json(self.metadata["jwks_uri"])
        keys = data.get("keys")
        if not isinstance(keys, list):
            raise ProviderError("JWKS has no keys array")
        return [k for k in keys if isinstance(k, dict)]

    def _find(self, keys: list[dict], kid: str | None, alg: str) -> list[dict]:
        found = []
        for key in keys:
            if key.get("use") not in (None, "sig"):
                continue
            ops = key.get("key_ops")
            if ops is not None and "verify" not in ops:
                continue
            if kid is not None and key.get("kid") != kid:
                continue
            if _infer_alg(key) != alg:  # the algorithm is pinned to the key's own
                continue
            found.append(key)
        return found

    def signing_key(self, header: Mapping) -> tuple[Any, str]:
        """The verification key and algorithm for a JWS header, or TokenValidationError.

        The header's ``alg`` must be in ALLOWED_ALGS and equal to the key's
        algorithm. An unknown ``kid`` makes the JWKS be fetched once more.
        """
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGS:
            raise TokenValidationError("unacceptable signing algorithm")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenValidationError("bad kid")
        try:
            with self._lock:
                cached = self._jwks
            fetched = cached is None
            if fetched:
                cached = self._fetch_jwks()
                with self._lock:
                    self._jwks = cached
            found = self._find(cached, kid, alg)
            if not found and not fetched:  # unknown kid: the keys may have rotated
                fresh = self._fetch_jwks()
                with self._lock:
                    self._jwks = fresh
                found = self._find(fresh, kid, alg)
        except ProviderError as exc:
            raise TokenValidationError(f"cannot get the provider's keys: {exc}") from None
        if len(found) != 1:
            raise TokenValidationError("no unique provider key for this token")
        try:
            return jwk.construct(found[0], algorithm=alg), alg
        except JOSEError:
            raise TokenValidationError("unusable provider key") from None
