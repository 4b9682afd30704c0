"""Verification of the old sites' password hashes (SPEC §6, issue 8), in constant time.

Only verification: an old hash is never produced here. Conversion replaces it by argon2id
(idp.services.passwords) on the unified member. Formats:

| scheme          | stored hash                                              | salt column |
|-----------------|----------------------------------------------------------|-------------|
| `bcrypt`        | modular crypt `$2a$`/`$2b$`/`$2y$<cost>$<53 chars>`       | unused      |
| `pbkdf2_sha256` | Django's `pbkdf2_sha256$<iterations>$<salt>$<base64>`     | unused      |
| `sha256`        | 64 hex digits of SHA-256(UTF-8 password)                 | unused      |
| `sha256_salted` | 64 hex digits of SHA-256(salt ‖ password), both UTF-8    | required    |
| `mysql41`       | MySQL PASSWORD(): `*` + 40 hex digits of SHA-1(SHA-1(pw)) | unused      |

Timing: every comparison is constant time (hmac.compare_digest, bcrypt.checkpw). The fast
schemes (sha256, sha256_salted, mysql41) also spend `dummy_verify()`'s cost, so a check costs
at least as much as a check for an unknown login ID: the response time does not tell a legacy ID
(or its scheme) from an unknown one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re

import bcrypt

SCHEMES = ("bcrypt", "pbkdf2_sha256", "sha256", "sha256_salted", "mysql41")

# Schemes whose own check is too cheap to hide behind; they pay dummy_verify() too.
_FAST_SCHEMES = frozenset({"sha256", "sha256_salted", "mysql41"})

# Bounds that keep an imported hash from turning a login into a denial of service.
MAX_PBKDF2_ITERATIONS = 2_000_000
MAX_BCRYPT_COST = 14
# The cost of the old sites' bcrypt hashes, and so of dummy_verify().
DUMMY_BCRYPT_COST = 10

_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_PBKDF2 = re.compile(r"^pbkdf2_sha256\$(\d{1,9})\$([^$]{1,255})\$([A-Za-z0-9+/]+={0,2})$")
_HEX64 = re.compile(r"^[0-9A-Fa-f]{64}$")
_MYSQL41 = re.compile(r"^\*[0-9A-Fa-f]{40}$")


def hash_format_error(scheme: str | None, stored_hash: str | None, salt: str | None) -> str | None:
    """Why (scheme, hash, salt) cannot be verified later, or None when it can (the import's
    check; the reasons are codes for the rejects file)."""
    if scheme not in SCHEMES:
        return "unknown_password_scheme"
    if not stored_hash:
        return "missing_password_hash"
    if scheme == "bcrypt":
        m = _BCRYPT.match(stored_hash)
        if m is None or not 4 <= int(m.group(1)) <= MAX_BCRYPT_COST:
            return "malformed_password_hash"
    elif scheme == "pbkdf2_sha256":
        m = _PBKDF2.match(stored_hash)
        if m is None or not 1 <= int(m.group(1)) <= MAX_PBKDF2_ITERATIONS:
            return "malformed_password_hash"
        try:
            base64.b64decode(m.group(3), validate=True)
        except binascii.Error:
            return "malformed_password_hash"
    elif scheme in ("sha256", "sha256_salted"):
        if _HEX64.match(stored_hash) is None:
            return "malformed_password_hash"
        if scheme == "sha256_salted" and not salt:
            return "missing_password_salt"
    elif _MYSQL41.match(stored_hash) is None:
        return "malformed_password_hash"
    return None


def verify_legacy_password(
    scheme: str, stored_hash: str, salt: str | None, password: str
) -> bool:
    """True when `password` matches `stored_hash` under `scheme`. False otherwise, also for an
    unknown scheme or a malformed hash (the import rejects both, so neither should be stored)."""
    if hash_format_error(scheme, stored_hash, salt) is not None:
        dummy_verify()
        return False
    secret = password.encode("utf-8")
    if scheme == "bcrypt":
        return _verify_bcrypt(stored_hash, secret)
    if scheme == "pbkdf2_sha256":
        return _verify_pbkdf2_sha256(stored_hash, secret)
    if scheme == "sha256":
        computed = hashlib.sha256(secret).hexdigest()
        ok = hmac.compare_digest(computed, stored_hash.lower())
    elif scheme == "sha256_salted":
        computed = hashlib.sha256((salt or "").encode("utf-8") + secret).hexdigest()
        ok = hmac.compare_digest(computed, stored_hash.lower())
    else:  # mysql41
        computed = "*" + hashlib.sha1(hashlib.sha1(secret).digest()).hexdigest().upper()  # noqa: S324 - the old scheme
        ok = hmac.compare_digest(computed, stored_hash.upper())
    assert scheme in _FAST_SCHEMES
    dummy_verify()
    return ok


def _verify_bcrypt(stored_hash: str, secret: bytes) -> bool:
    # $2y$ (PHP) and $2a$ are the same algorithm as $2b$ for the passwords the old sites took;
    # bcrypt reads only the first 72 bytes (bcrypt>=5 refuses longer input instead).
    normalised = "$2b$" + stored_hash[4:]
    try:
        return bcrypt.checkpw(secret[:72], normalised.encode("ascii"))
    except ValueError:
        return False


def _verify_pbkdf2_sha256(stored_hash: str, secret: bytes) -> bool:
    # Django's PBKDF2PasswordHasher: base64 of pbkdf2_hmac(sha256, password, salt, iterations).
    _, iterations, salt, encoded = stored_hash.split("$", 3)
    expected = base64.b64decode(encoded)
    computed = hashlib.pbkdf2_hmac(
        "sha256", secret, salt.encode("utf-8"), int(iterations), dklen=len(expected) or None
    )
    return hmac.compare_digest(computed, expected)


@functools.cache
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(b"kotra-idp legacy dummy", bcrypt.gensalt(DUMMY_BCRYPT_COST))


def dummy_verify() -> None:
    """Spend what a typical old-password check costs (bcrypt at the old sites' cost), for a
    login ID that has no old account: no timing oracle."""
    bcrypt.checkpw(b"not the password", _dummy_hash())
