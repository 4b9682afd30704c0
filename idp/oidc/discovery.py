"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS document."""

from __future__ import annotations

from typing import Any

from idp.protocol import (
    CLIENT_AUTH_METHODS,
    CODE_CHALLENGE_METHODS,
    CONFIDENTIAL_AUTH_METHODS,
    GRANT_TYPES,
    PROMPT_VALUES,
    RESPONSE_MODES,
    RESPONSE_TYPES,
    UI_LOCALES,
)
from idp.services.claims import ACR_LEVELS, CLAIMS_SUPPORTED, SCOPES_SUPPORTED


def provider_metadata(issuer: str, allowed_algs: list[str]) -> dict[str, Any]:
    """The metadata, from the constants the endpoints check (idp/protocol.py) and the
    algorithms the operator enabled ([keys] allowed_algs)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(allowed_algs),
        "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_AUTH_METHODS),
        "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS),
        "claims_supported": CLAIMS_SUPPORTED,
        # Acted on for the ID token's `acr` (OIDC Core §5.5.1.1); other claims follow scope.
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        # The spec default is true; say explicitly that request_uri is not supported.
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "authorization_response_iss_parameter_supported": True,
        "acr_values_supported": list(ACR_LEVELS),
        "prompt_values_supported": list(PROMPT_VALUES),
        "ui_locales_supported": list(UI_LOCALES),
        "claims_locales_supported": ["ko"],
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
