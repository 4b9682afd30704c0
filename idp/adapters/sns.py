"""The SNS adapters of one app, built from the `[naver]`, `[kakao]`, `[google]` and
`[facebook]` settings (idp/wiring.py holds the one instance, `Provider.sns`).

A provider without a client_id is not offered. `{issuer}` in a URL stands for the issuer the
app runs at (the development and testing overlays point at the emulators of
idp/web/sns_emulators.py); production refuses such URLs (idp/config.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from idp.services.ports import Clock
from idp.services.sns import PROVIDERS, SnsProvider

if TYPE_CHECKING:
    from requests.adapters import BaseAdapter

    from idp.adapters.sns_base import HttpContext


@cache
def _builders() -> dict[str, tuple[type, Callable[..., Any]]]:
    # The adapters (requests, requests-oauthlib, oauthlib: about 5 MB) are imported at the
    # first SNS login, not with the app (issue 10, memory).
    from idp.adapters.sns_facebook import FacebookLogin, FacebookSettings
    from idp.adapters.sns_google import GoogleLogin, GoogleSettings
    from idp.adapters.sns_kakao import KakaoLogin, KakaoSettings
    from idp.adapters.sns_naver import NaverLogin, NaverSettings

    return {
        "naver": (NaverSettings, NaverLogin),
        "kakao": (KakaoSettings, KakaoLogin),
        "google": (GoogleSettings, GoogleLogin),
        "facebook": (FacebookSettings, FacebookLogin),
    }


class SnsDirectory:
    """The configured SNS providers, in the manual's order."""

    def __init__(self, settings: dict[str, Any], clock: Clock,
                 transport: BaseAdapter | None = None) -> None:
        self.settings = settings
        section = settings["sns"]
        self.ttl = int(section["transaction_ttl"])
        self._clock, self._transport = clock, transport
        self._http: HttpContext | None = None

    @property
    def http(self) -> HttpContext:
        """The HTTP context the adapters share, made on first use."""
        if self._http is None:
            from idp.adapters.sns_base import HttpContext

            section = self.settings["sns"]
            self._http = HttpContext(timeout=float(section["timeout"]),
                                     cache_seconds=int(section["jwks_cache_seconds"]),
                                     clock=self._clock, transport=self._transport,
                                     budget=float(section["callback_seconds"]))
        return self._http

    @property
    def clock(self) -> Clock:
        return self._http.clock if self._http is not None else self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = clock
        if self._http is not None:
            self._http.clock = clock

    def names(self) -> list[str]:
        return [n for n in PROVIDERS if self.settings[n]["client_id"]]

    def get(self, name: str) -> SnsProvider | None:
        if name not in PROVIDERS or name not in self.names():
            return None
        settings_cls, adapter_cls = _builders()[name]
        issuer = str(self.settings["issuer"])
        values = {k: (v.replace("{issuer}", issuer) if isinstance(v, str) else v)
                  for k, v in self.settings[name].items()}
        adapter: SnsProvider = adapter_cls(settings_cls(**values), self.http)
        return adapter

    def callback_url(self, name: str) -> str:
        """`<issuer>/sns/<provider>/callback`: what is registered with each vendor."""
        return f"{self.settings['issuer']}/sns/{name}/callback"
