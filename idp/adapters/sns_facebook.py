"""Facebook Login, OAuth 2.0 with the versioned Graph API —
developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow and
developers.facebook.com/docs/graph-api/securing-requests (appsecret_proof).

Vendor shapes kept here: dialog and Graph URLs carry the API version (vNN.N); the code is
exchanged with GET /oauth/access_token; every Graph call carries appsecret_proof, the
HMAC-SHA256 of the access token keyed with the app secret; ids are app-scoped; the email is
absent when the user has none or declined it. PKCE S256 (code_challenge) on the dialog.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from idp.adapters.sns_base import HttpContext, authorization_url, call, fetch_token, within_budget
from idp.services.sns import SnsProfile, SnsRefused


def appsecret_proof(access_token: str, app_secret: str) -> str:
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


@dataclass
class FacebookSettings:
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    profile_url: str


class FacebookLogin:
    name = "facebook"
    oidc = False
    pkce = True

    def __init__(self, settings: FacebookSettings, http: HttpContext) -> None:
        self.settings = settings
        self.http = http

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str | None,
                          code_challenge: str | None) -> str:
        s = self.settings
        return authorization_url(
            self.http, s.authorize_url, client_id=s.client_id, redirect_uri=redirect_uri,
            scope=["public_profile", "email"], state=state, code_challenge=code_challenge,
            code_challenge_method="S256" if code_challenge else None)

    @within_budget
    def complete(self, *, code: str, redirect_uri: str, state: str, nonce: str | None,
                 code_verifier: str | None) -> SnsProfile:
        s = self.settings
        token = fetch_token(self.http, s.token_url, client_id=s.client_id,
                            client_secret=s.client_secret, redirect_uri=redirect_uri,
                            code=code, method="GET", code_verifier=code_verifier)
        access_token = str(token["access_token"])
        with self.http.session() as session:
            body = call(lambda: session.get(
                s.profile_url, timeout=self.http.timeout,
                params={"fields": "id,name,email",
                        "appsecret_proof": appsecret_proof(access_token, s.client_secret)},
                headers={"Authorization": f"Bearer {access_token}"}))
        return self.profile(body)

    @staticmethod
    def profile(body: Any) -> SnsProfile:
        if not isinstance(body, dict) or "error" in body or not body.get("id"):
            raise SnsRefused("Facebook Graph error or no id")
        email = body.get("email") or None
        return SnsProfile(provider="facebook", subject=str(body["id"]),
                          name=body.get("name") or None, email=email,
                          # Facebook only returns a confirmed primary address.
                          email_verified=bool(email), mobile=None)
