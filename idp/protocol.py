"""What this provider supports of the protocols, stated once.

The code that checks a request and the discovery document (idp/oidc/discovery.py) both read
these constants, so what the provider announces is what it enforces. Pure data: no imports,
usable from services, configuration and the web layer alike.
"""

from __future__ import annotations

# JWS algorithms the key service can generate, publish and verify (RFC 7518 §3.1). The
# operator enables a subset with [keys] allowed_algs; `none` is never among them (RFC 8725 §3.1).
SIGNING_ALGS = ("RS256", "ES256")

# Client authentication at the token and revocation endpoints (RFC 6749 §2.3, OIDC Core §9).
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
# Where a public client ("none") has no business: introspection and client_credentials.
CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

# OIDC Core §3.1.2.1 `prompt` values the authorization pipeline understands.
PROMPT_VALUES = ("none", "login", "consent", "select_account")

# The code flow only (OIDC Core §3.1), answered in the query (OAuth 2.0 Multiple Response Types).
RESPONSE_TYPES = ("code",)
RESPONSE_MODES = ("query",)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
# RFC 7636 §4.2; `plain` must not be used (RFC 9700 §2.1.1).
CODE_CHALLENGE_METHODS = ("S256",)

# Languages of the pages (Korean first: the default); a catalog exists for each but Korean,
# the language of the source strings (idp/translations).
UI_LOCALES = ("ko", "en")
