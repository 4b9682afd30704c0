"""Sensitive personal data at rest: AES-GCM encryption and keyed hashes for look-ups (issue 6).

CI and DI from identity verification (KOREA-FACTS, 본인확인) are never stored in clear:

    pd = PersonalData(key)
    row.ci_sealed = pd.seal(identity.ci, "ci")    # AES-256-GCM, fresh 96-bit nonce
    row.ci_hash = pd.lookup_hash("ci", identity.ci)  # HMAC-SHA256: equal values, equal hashes
    pd.open(row.ci_sealed, "ci")                    # -> the CI again

The kind ("ci", "di", ...) is bound into each ciphertext as associated data and into each
hash, so a sealed DI cannot be passed off as a CI. The encryption key and the hash key are
derived (HKDF-SHA256) from one configured master key, `personal_data.key`
(IDP_PERSONAL_DATA_KEY, base64 of 32 bytes) or, when that is empty, from `secret_key`.
A sealed value is "v1.<base64url(nonce + ciphertext + tag)>"; the version prefix leaves room
for a key rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."


class PersonalDataError(ValueError):
    """A sealed value that does not open with this key (tampered, another key or kind)."""


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kotra-idp personal data",
                info=info).derive(master)


def master_key(configured: str, secret_key: str) -> bytes:
    """The master key: `personal_data.key` (base64 of 32 bytes) or, when empty, secret_key."""
    if configured:
        raw = base64.b64decode(configured, validate=True)
        if len(raw) != 32:
            raise ValueError("personal_data.key (IDP_PERSONAL_DATA_KEY): base64 of 32 bytes")
        return raw
    if not secret_key:
        raise ValueError("personal data needs personal_data.key or secret_key")
    return secret_key.encode()


class PersonalData:
    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(_derive(master, b"aes-256-gcm"))
        self._mac_key = _derive(master, b"hmac-sha256 lookup")

    def seal(self, value: str, kind: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, value.encode(), kind.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + ct).decode().rstrip("=")

    def open(self, sealed: str, kind: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise PersonalDataError("unknown format")
        body = sealed[len(_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._aead.decrypt(raw[:12], raw[12:], kind.encode()).decode()
        except Exception as exc:  # InvalidTag, binascii.Error, short input
            raise PersonalDataError("does not open with this key") from exc

    def lookup_hash(self, kind: str, value: str) -> str:
        return hmac.new(self._mac_key, kind.encode() + b"\0" + value.encode(),
                        hashlib.sha256).hexdigest()


def inicis_di_key(master: bytes) -> bytes:
    """The key of the DIs derived for KG이니시스, which reports none
    (idp/adapters/identity_inicis.py), from the master key: the same person gets the same DI
    until the master key changes (`idp personal-data reseal` then re-derives the stored ones)."""
    return hmac.new(master, b"idp-inicis-di", hashlib.sha256).digest()


def inicis_di(di_key: bytes, ci: str) -> str:
    """The DI derived for the person whose CI is `ci`: "INI" + Base64(HMAC-SHA256(key, CI))."""
    return "INI" + base64.b64encode(
        hmac.new(di_key, ci.encode(), hashlib.sha256).digest()).decode()
