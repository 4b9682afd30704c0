"""A demo relying party ("KOTRA site") for kotra-idp.

It is a real OpenID Connect client: it reaches the provider only over HTTP
(discovery, JWKS, token, userinfo, revocation, end-session), signs users in
with the authorization code flow (PKCE S256, state, nonce, client_secret_basic)
through requests-oauthlib, validates ID tokens and back-channel logout tokens
with python-jose, and gates its services on the ``kotra_entitlements`` claim.

Usage::

    python -m clients.demo_site --site 1            # http://127.0.0.1:5001
    python -m clients.demo_site --site 2            # http://127.0.0.1:5002

Importing this package has no side effects; ``create_app`` builds an app without
touching the network (discovery is fetched lazily, on first use).

Modules, one concern each:

=================  ==============================================================
``app``            the app factory: blueprints, template filters, error page
``views``          the site's pages (home, services gated on entitlements)
``oidc``           sign-in (code flow + PKCE) and RP-Initiated Logout
``backchannel``    the back-channel logout endpoint
``tokens``         ID token and logout token validation
``provider``       discovery and JWKS over HTTP, cached
``site``           one site's registration and state; PKCE S256
``state``          in-process sessions and replay caches
``texts``          titles, service labels, Korean messages
``cli``            the command line (``python -m clients.demo_site``)
=================  ==============================================================
"""

from clients.demo_site.app import create_app
from clients.demo_site.errors import ProviderError, TokenValidationError
from clients.demo_site.provider import Provider
from clients.demo_site.site import DemoSite, pkce_s256
from clients.demo_site.state import ReplayCache, SessionStore
from clients.demo_site.tokens import BACKCHANNEL_EVENT, validate_id_token, validate_logout_token

__all__ = [
    "BACKCHANNEL_EVENT",
    "DemoSite",
    "Provider",
    "ProviderError",
    "ReplayCache",
    "SessionStore",
    "TokenValidationError",
    "create_app",
    "pkce_s256",
    "validate_id_token",
    "validate_logout_token",
]
