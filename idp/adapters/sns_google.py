"""Google Identity, OpenID Connect by discovery — developers.google.com/identity/openid-connect.

Vendor shapes kept here: endpoints and keys come from the discovery document; Google's ID
tokens carry `iss` as "https://accounts.google.com" or "accounts.google.com" (both accepted,
as Google documents); RS256; PKCE S256 and a nonce on every request. Name and email come from
the verified ID token, completed from the userinfo endpoint when it lacks them (a provider
that keeps claims out of the ID token, as node-oidc-provider does by default).
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
class GoogleSettings:
    client_id: str
    client_secret: str
    discovery_url: str


def issuers_for(issuer: str) -> list[str]:
    """Google's two spellings of its issuer: with and without the scheme
    ("https://accounts.google.com" and "accounts.google.com")."""
    if "://" in issuer:
        return [issuer, issuer.split("://", 1)[1]]
    return [issuer, "https://" + issuer]


class GoogleLogin:
    name = "google"
    oidc = True
    pkce = True

    def __init__(self, settings: GoogleSettings, http: HttpContext) -> None:
        self.settings = settings
        self.http = http

    def discovery(self) -> dict[str, Any]:
        doc = self.http.get_json(self.settings.discovery_url)
        needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(doc, dict) or any(not isinstance(doc.get(k), str) for k in needed):
            raise SnsRefused("Google discovery document incomplete")
        return doc

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str | None,
                          code_challenge: str | None) -> str:
        doc = self.discovery()
        return authorization_url(
            self.http, doc["authorization_endpoint"], client_id=self.settings.client_id,
            redirect_uri=redirect_uri, scope=["openid", "email", "profile"], state=state,
            nonce=nonce, code_challenge=code_challenge,
            code_challenge_method="S256" if code_challenge else None)

    @within_budget
    def complete(self, *, code: str, redirect_uri: str, state: str, nonce: str | None,
                 code_verifier: str | None) -> SnsProfile:
        s = self.settings
        doc = self.discovery()
        token = fetch_token(self.http, doc["token_endpoint"], client_id=s.client_id,
                            client_secret=s.client_secret, redirect_uri=redirect_uri,
                            code=code, code_verifier=code_verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SnsRefused("Google token response without an ID token")
        claims = verify_id_token(self.http, id_token, jwks_url=doc["jwks_uri"],
                                 algorithms=ALGORITHMS, issuers=issuers_for(doc["issuer"]),
                                 audience=s.client_id, nonce=nonce)
        if ("name" not in claims or "email" not in claims) and doc.get("userinfo_endpoint"):
            with self.http.session() as session:
                info = call(lambda: session.get(
                    doc["userinfo_endpoint"], timeout=self.http.timeout,
                    headers={"Authorization": f"Bearer {token['access_token']}"}))
            # OIDC Core §5.3.2: userinfo of another subject must not be used.
            if isinstance(info, dict) and info.get("sub") == claims["sub"]:
                claims = {**info, **claims}
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        return SnsProfile(
            provider="google", subject=str(claims["sub"]),
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            email=email, email_verified=bool(email and claims.get("email_verified") is True),
            mobile=None,
        )
