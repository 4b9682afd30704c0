"""Kakao Login, OpenID Connect — developers.kakao.com/docs/latest/ko/kakaologin/rest-api and
.../kakaologin/utils#oidc.

Vendor shapes kept here: the token request authenticates with client_secret_post only; the ID
token is RS256, issuer https://kauth.kakao.com, audience the REST API key; the profile
(/v2/user/me) nests what the user agreed to share in `kakao_account`, where any field may be
absent (declined) and the phone is "+82 10-1234-5678". PKCE S256 and a nonce on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.adapters.sns_base import (
    HttpContext,
    authorization_url,
    call,
    fetch_token,
    verify_id_token,
    within_budget,
)
from idp.services.sns import SnsProfile, SnsRefused

ALGORITHMS = ("RS256",)


@dataclass
class KakaoSettings:
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    profile_url: str
    issuer: str
    jwks_url: str


class KakaoLogin:
    name = "kakao"
    oidc = True
    pkce = True

    def __init__(self, settings: KakaoSettings, http: HttpContext) -> None:
        self.settings = settings
        self.http = http

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str | None,
                          code_challenge: str | None) -> str:
        s = self.settings
        return authorization_url(
            self.http, s.authorize_url, client_id=s.client_id, redirect_uri=redirect_uri,
            scope=["openid"], state=state, nonce=nonce, code_challenge=code_challenge,
            code_challenge_method="S256" if code_challenge else None)

    @within_budget
    def complete(self, *, code: str, redirect_uri: str, state: str, nonce: str | None,
                 code_verifier: str | None) -> SnsProfile:
        s = self.settings
        token = fetch_token(self.http, s.token_url, client_id=s.client_id,
                            client_secret=s.client_secret, redirect_uri=redirect_uri,
                            code=code, code_verifier=code_verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SnsRefused("Kakao token response without an ID token")
        claims = verify_id_token(self.http, id_token, jwks_url=s.jwks_url,
                                 algorithms=ALGORITHMS, issuers=[s.issuer],
                                 audience=s.client_id, nonce=nonce)
        with self.http.session() as session:
            body = call(lambda: session.get(
                s.profile_url, timeout=self.http.timeout,
                headers={"Authorization": f"Bearer {token['access_token']}"}))
        return self.profile(body, subject=str(claims["sub"]))

    @staticmethod
    def profile(body: Any, *, subject: str) -> SnsProfile:
        if not isinstance(body, dict) or "id" not in body:
            raise SnsRefused("Kakao profile without an id")
        if str(body["id"]) != subject:
            raise SnsRefused("Kakao profile of another user than the ID token's")
        account = body.get("kakao_account") or {}
        if not isinstance(account, dict):
            account = {}
        email = account.get("email") if account.get("is_email_valid", True) else None
        return SnsProfile(
            provider="kakao", subject=subject, name=account.get("name") or None,
            email=email or None,
            email_verified=bool(email and account.get("is_email_verified")),
            mobile=account.get("phone_number") or None,
        )
