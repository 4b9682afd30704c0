"""Naver Login (네이버 로그인), OAuth 2.0 — developers.naver.com/docs/login/api/api.md and
developers.naver.com/docs/login/profile/profile.md.

Vendor shapes kept here: the token endpoint answers errors with HTTP 200
(`{"error": "invalid_request", "error_description": ...}`) and `expires_in` as a string; the
profile API wraps the user in `{resultcode, message, response: {id, email, name, mobile}}`
and may report an error with HTTP 200 and resultcode != "00". Naver takes `state` on the token
request too. No PKCE and no ID token: state is the CSRF defence (RFC 9700 §4.7.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.adapters.sns_base import HttpContext, authorization_url, call, fetch_token, within_budget
from idp.services.sns import SnsProfile, SnsRefused


@dataclass
class NaverSettings:
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    profile_url: str


class NaverLogin:
    name = "naver"
    oidc = False
    pkce = False

    def __init__(self, settings: NaverSettings, http: HttpContext) -> None:
        self.settings = settings
        self.http = http

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str | None,
                          code_challenge: str | None) -> str:
        s = self.settings
        return authorization_url(self.http, s.authorize_url, client_id=s.client_id,
                                 redirect_uri=redirect_uri, scope=None, state=state)

    @within_budget
    def complete(self, *, code: str, redirect_uri: str, state: str, nonce: str | None,
                 code_verifier: str | None) -> SnsProfile:
        s = self.settings
        token = fetch_token(self.http, s.token_url, client_id=s.client_id,
                            client_secret=s.client_secret, redirect_uri=redirect_uri,
                            code=code, state=state)
        with self.http.session() as session:
            body = call(lambda: session.get(
                s.profile_url, timeout=self.http.timeout,
                headers={"Authorization": f"Bearer {token['access_token']}"}))
        return self.profile(body)

    @staticmethod
    def profile(body: Any) -> SnsProfile:
        """The `response` of a resultcode "00" answer; anything else is refused."""
        if not isinstance(body, dict) or body.get("resultcode") != "00":
            code = body.get("resultcode") if isinstance(body, dict) else None
            raise SnsRefused(f"Naver profile error resultcode={code!r}")
        user = body.get("response")
        if not isinstance(user, dict) or not user.get("id"):
            raise SnsRefused("Naver profile without an id")
        email = user.get("email") or None
        return SnsProfile(
            provider="naver", subject=str(user["id"]), name=user.get("name") or None,
            email=email,
            # Naver gives the address of the Naver account (verified by Naver).
            email_verified=bool(email), mobile=user.get("mobile") or None,
        )
