"""The provider's own consoles as first-party clients: MY KOTRA (`/my`) and the company
console (`/company`). Each signs in through the ordinary authorization flow (public client,
PKCE) and then reads the SSO session itself, so the code it ends with is deleted unexchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from idp.models import AuthorizationCode, OAuthClient
from idp.models.base import DbSession
from idp.models.tokens import token_hash
from idp.services.clients import add_client


@dataclass(frozen=True)
class Console:
    client_id: str
    callback: str  # path under the issuer
    name: str

    def redirect_uri(self, issuer: str) -> str:
        return issuer.rstrip("/") + self.callback

    def ensure_client(self, session: DbSession, issuer: str) -> None:
        """Register the console's client (public, PKCE, first party) or point it at `issuer`;
        commits only when something changed."""
        redirect_uri = self.redirect_uri(issuer)
        client = session.scalar(select(OAuthClient).where(
            OAuthClient.client_id == self.client_id))
        if client is None:
            try:
                add_client(session, client_id=self.client_id, name=self.name,
                           redirect_uris=[redirect_uri], grant_types=["authorization_code"],
                           token_endpoint_auth_method="none", first_party=True,
                           scope="openid")
                session.commit()
            except IntegrityError:
                session.rollback()  # another process registered it at the same moment
        elif client.redirect_uris != [redirect_uri]:
            client.redirect_uris = [redirect_uri]
            session.commit()

    def discard_code(self, session: DbSession, code: str) -> bool:
        """Delete the code the console's sign-in ended with, unexchanged: the console runs
        inside the provider and reads the SSO session itself, so the code must never be
        usable. Commits."""
        result = session.execute(delete(AuthorizationCode).where(
            AuthorizationCode.code_hash == token_hash(code),
            AuthorizationCode.client_id == self.client_id))
        session.commit()
        return bool(getattr(result, "rowcount", 0))
