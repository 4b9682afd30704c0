"""Verification of the old sites' password hashes (SPEC §6), in constant time.

Only verification: an old hash is never produced here. Conversion replaces it by argon2id
(idp.services.passwords) on the unified member.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt

SCHEMES = ("bcrypt", "pbkdf2_sha256", "sha256", "sha256_salted", "mysql41")


def verify_legacy_password(
    scheme: str, stored_hash: str, salt: str | None, password: str
) -> bool:
    """True when `password` matches `stored_hash` under `scheme`; False otherwise (also for an
    unknown scheme or a malformed hash: an import validates both, so neither should occur)."""
    raise NotImplementedError


def dummy_verify() -> None:
    """Spend about what a real check costs, for a login ID that has no old account."""
    raise NotImplementedError
