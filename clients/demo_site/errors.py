"""The two ways talking to the provider fails."""

from __future__ import annotations


class TokenValidationError(Exception):
    """An ID token or logout token failed validation (message is safe to show)."""


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable."""
