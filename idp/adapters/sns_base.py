"""What the four SNS adapters share: the requests-oauthlib session, timeouts and the mapping of
failures, cached JSON documents (JWKS, discovery) and ID token verification with joserfc.

Failures are sorted in one place: a vendor that cannot be reached, times out or answers 5xx
is `SnsUnavailable` ("잠시 후 다시 시도해 주세요"); anything it answers that fails a check is
`SnsRefused`. No JWT is read before its signature is verified with a key of the vendor's JWKS
and an algorithm pinned for that vendor (never `none`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from oauthlib.oauth2 import OAuth2Error
from requests.adapters import BaseAdapter
from requests_oauthlib import OAuth2Session

from idp.config import is_loopback
from idp.services.ports import Clock
from idp.services.sns import SnsRefused, SnsUnavailable

# Seconds an ID token's iat/exp may be off (clocks drift); OIDC Core §3.1.3.7 allows some.
LEEWAY = 30


# The monotonic time by which the callback being handled must be done with the vendor.
_DEADLINE: ContextVar[float | None] = ContextVar("sns_deadline", default=None)
F = TypeVar("F", bound=Callable[..., Any])


class HttpContext:
    """The HTTP side every adapter of an app shares: timeout, caches, and (tests) a transport
    that routes the vendor's URLs to an in-process emulator.

    Each call waits at most `timeout`; all the calls of one callback together (token, JWKS,
    profile) at most `budget` seconds, so that a slow vendor is "잠시 후 다시 시도해 주세요"
    within a few seconds however many calls it takes (`within_budget`)."""

    def __init__(self, *, timeout: float, cache_seconds: int, clock: Clock,
                 transport: BaseAdapter | None = None, budget: float | None = None) -> None:
        self._timeout = timeout
        self.budget = budget if budget is not None else timeout
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.transport = transport
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @property
    def timeout(self) -> float:
        """The timeout of the next call: `timeout`, or less when the callback's budget is
        nearly spent; SnsUnavailable once it is spent."""
        deadline = _DEADLINE.get()
        if deadline is None:
            return self._timeout
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SnsUnavailable("the vendor's calls took longer than the callback's budget")
        return min(self._timeout, remaining)

    @contextmanager
    def deadline(self) -> Iterator[None]:
        token = _DEADLINE.set(time.monotonic() + self.budget)
        try:
            yield
        finally:
            _DEADLINE.reset(token)

    def mount(self, session: requests.Session) -> requests.Session:
        if self.transport is not None:
            session.mount("http://", self.transport)
            session.mount("https://", self.transport)
        return session

    def session(self) -> requests.Session:
        return self.mount(requests.Session())

    def get_json(self, url: str, *, refresh: bool = False) -> Any:
        """A vendor document (JWKS, discovery), cached for `cache_seconds`."""
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and not refresh and cached[0] > now:
            return cached[1]
        with self.session() as s:
            body = call(lambda: s.get(url, timeout=self.timeout,
                                      headers={"Accept": "application/json"}))
        with self._lock:
            self._cache[url] = (now + self.cache_seconds, body)
        return body

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def within_budget(method: F) -> F:
    """For an adapter's `complete`: every vendor call it makes shares the callback's budget."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.http.deadline():
            return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


def call(request: Callable[[], requests.Response]) -> Any:
    """Run one request; its JSON body, or SnsUnavailable / SnsRefused."""
    try:
        resp = request()
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SnsUnavailable(f"vendor unreachable: {type(exc).__name__}") from exc
    except requests.RequestException as exc:
        raise SnsRefused(f"request failed: {exc}") from exc
    return json_of(resp)


def json_of(resp: requests.Response) -> Any:
    if resp.status_code >= 500 or resp.status_code == 429:
        raise SnsUnavailable(f"vendor answered {resp.status_code}")
    try:
        body = resp.json()
    except ValueError as exc:
        raise SnsRefused(f"vendor answered {resp.status_code} without JSON") from exc
    return body


def _unavailable_on_5xx(resp: requests.Response) -> requests.Response:
    """requests-oauthlib parses any token response; a 5xx is an outage, not a refusal."""
    if resp.status_code >= 500 or resp.status_code == 429:
        raise SnsUnavailable(f"token endpoint answered {resp.status_code}")
    return resp


def _as_https(url: str) -> tuple[str, bool]:
    """oauthlib refuses http URLs (InsecureTransportError); an emulator on a loopback address
    (development, tests; refused in production by idp/config.py) is given as https to it and
    put back to http in the request hook."""
    parts = urlsplit(url)
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return "https" + url[4:], True
    return url, False


def _back_to_http(url: str, headers: dict[str, str], kwargs: dict[str, Any]
                  ) -> tuple[str, dict[str, str], dict[str, Any]]:
    parts = urlsplit(url)
    if parts.scheme == "https" and is_loopback(parts.hostname):
        url = "http" + url[5:]
    return url, headers, kwargs


class _Session(OAuth2Session):
    """requests-oauthlib's session, letting an emulator on a loopback address be http."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any
                ) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(url)
        if parts.scheme == "http" and is_loopback(parts.hostname) and not self.token:
            kwargs.pop("withhold_token", None)
            return requests.Session.request(self, method, url, *args, **kwargs)
        return super().request(method, url, *args, **kwargs)


def oauth_session(http: HttpContext, *, client_id: str, redirect_uri: str,
                  scope: list[str] | None = None) -> OAuth2Session:
    s = _Session(client_id, redirect_uri=redirect_uri, scope=scope)
    s.register_compliance_hook("access_token_response", _unavailable_on_5xx)
    s.register_compliance_hook("access_token_request", _back_to_http)
    http.mount(s)
    return s


def authorization_url(http: HttpContext, url: str, *, client_id: str, redirect_uri: str,
                      scope: list[str] | None, state: str, **params: str | None) -> str:
    """The vendor's authorization request (RFC 6749 §4.1.1) built by requests-oauthlib."""
    target, rewritten = _as_https(url)
    s = oauth_session(http, client_id=client_id, redirect_uri=redirect_uri, scope=scope)
    with s:
        built, _ = s.authorization_url(target, state=state,
                                       **{k: v for k, v in params.items() if v is not None})
    return "http" + built[5:] if rewritten else built


def fetch_token(http: HttpContext, url: str, *, client_id: str, client_secret: str,
                redirect_uri: str, code: str, method: str = "POST",
                **params: str | None) -> dict[str, Any]:
    """The token request (RFC 6749 §4.1.3) with the client secret in the body
    (client_secret_post), and PKCE's code_verifier when given. OAuth errors in the body —
    whatever the HTTP status, as Naver answers 200 — are SnsRefused."""
    target, _ = _as_https(url)
    s = oauth_session(http, client_id=client_id, redirect_uri=redirect_uri)
    try:
        with s:
            token = s.fetch_token(
                target, code=code, method=method, include_client_id=True,
                client_secret=client_secret, timeout=http.timeout,
                **{k: v for k, v in params.items() if v is not None})
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SnsUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
    except (OAuth2Error, ValueError, requests.RequestException) as exc:
        # oauthlib raises on an `error` member (RFC 6749 §5.2), a missing access_token or a
        # body that is not JSON.
        raise SnsRefused(f"token request refused: {exc}") from exc
    return dict(token)


# ---------------------------------------------------------------------------------------------
# ID tokens (OpenID Connect Core §3.1.3.7)

def _keyset(document: Any) -> KeySet:
    try:
        return KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise SnsRefused(f"unusable JWKS: {exc}") from exc


def _kids(document: Any) -> set[str]:
    keys = document.get("keys") if isinstance(document, Mapping) else None
    return {str(k.get("kid")) for k in keys or () if isinstance(k, Mapping)}


def verify_id_token(http: HttpContext, id_token: str, *, jwks_url: str,
                    algorithms: Collection[str], issuers: Collection[str], audience: str,
                    nonce: str | None) -> dict[str, Any]:
    """The ID token's claims once its signature (a key of the vendor's JWKS, an algorithm of
    `algorithms`), issuer, audience, expiry and nonce are checked; else SnsRefused."""
    try:
        header = jws.extract_compact(id_token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise SnsRefused(f"malformed ID token: {exc}") from exc
    alg = header.get("alg")
    if alg not in algorithms:  # `none` included: RFC 8725 §3.1
        raise SnsRefused(f"ID token algorithm {alg!r} is not one of {sorted(algorithms)}")
    kid = header.get("kid")
    document = http.get_json(jwks_url)
    if kid is not None and str(kid) not in _kids(document):
        document = http.get_json(jwks_url, refresh=True)  # the vendor rotated: look once more
        if str(kid) not in _kids(document):
            raise SnsRefused(f"ID token signed with an unknown key {kid!r}")
    try:
        token = jwt.decode(id_token, _keyset(document), algorithms=list(algorithms))
    except JoseError as exc:
        raise SnsRefused(f"ID token signature: {exc.error}") from exc
    claims = token.claims
    checks: dict[str, Any] = {
        "iss": {"essential": True, "values": list(issuers)},
        "aud": {"essential": True, "value": audience},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    if nonce is not None:
        checks["nonce"] = {"essential": True, "value": nonce}
    registry = jwt.JWTClaimsRegistry(now=lambda: int(http.clock.now()), leeway=LEEWAY,
                                     **checks)
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise SnsRefused(f"ID token claims: {exc.description or exc.error}") from exc
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != audience:
        raise SnsRefused("ID token for several audiences without our azp")
    return dict(claims)
