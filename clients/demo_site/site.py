"""One demo site: its client registration, provider, sessions and replay caches."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

from requests_oauthlib import OAuth2Session

from clients.demo_site.provider import Provider
from clients.demo_site.state import ReplayCache, SessionStore
from clients.demo_site.texts import SITE_TITLES

PENDING_LOGIN_TTL = 600  # seconds a started login (or logout) may take


class DemoSite:
    """State of one demo site; available as ``app.extensions["demo_site"]``."""

    def __init__(self, site: int, issuer: str, client: Mapping):
        self.site = site
        self.title = SITE_TITLES.get(site, f"KOTRA 데모 사이트 {site}")
        self.issuer = issuer
        self.client_id: str = client["client_id"]
        self.client_secret: str = client["client_secret"]
        base = f"http://127.0.0.1:{5000 + site}"
        self.redirect_uri: str = client.get("redirect_uri") or f"{base}/callback"
        self.post_logout_redirect_uri: str = client.get("post_logout_redirect_uri") or f"{base}/"
        self.cookie_name = f"demo_site{site}_session"
        self.provider = Provider(issuer)
        self.sessions = SessionStore()
        self.replays = ReplayCache()
        self.logout_states = ReplayCache(ttl=PENDING_LOGIN_TTL)

    def close(self) -> None:
        self.provider.close()

    def oauth(self, **kwargs) -> OAuth2Session:
        return OAuth2Session(self.client_id, redirect_uri=self.redirect_uri, **kwargs)


def pkce_s256(verifier: str) -> str:
    """RFC 7636 S256 code challenge."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
