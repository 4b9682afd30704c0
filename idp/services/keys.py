"""Signing keys kept in the database (private halves encrypted), rotated by `idp keys rotate`.

The JWKS publishes every live key plus retired keys until the tokens they signed have expired
(OIDC Core §10.1.1: a signer rotating keys keeps old keys published while they may be used).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from idp.models import SigningKey
from idp.models.base import DbSession, utcnow
from idp.protocol import SIGNING_ALGS
from idp.services import audit

# The key type of each algorithm (RFC 7518 §3.3 RSASSA-PKCS1-v1_5, §3.4 ECDSA P-256).
KEY_TYPES: dict[str, type[RSAKey] | type[ECKey]] = {"RS256": RSAKey, "ES256": ECKey}
assert set(KEY_TYPES) == set(SIGNING_ALGS)


class KeyCipher:
    """AES-256-GCM with a key derived (HKDF-SHA256) from the provider's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._aead = AESGCM(
            HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"kotra-idp signing keys"
            ).derive(secret_key.encode())
        )

    def encrypt(self, plaintext: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext, None)).decode()

    def decrypt(self, token: str) -> bytes:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], None)


def _generate(alg: str, kid: str, rsa_bits: int) -> RSAKey | ECKey:
    params: Any = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "RS256":
        return RSAKey.generate_key(rsa_bits, params, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", params, private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def _import(alg: str, key: bytes | dict[str, Any], kid: str) -> RSAKey | ECKey:
    params: Any = {"kid": kid, "alg": alg, "use": "sig"}
    return KEY_TYPES[alg].import_key(key, params)


def rotate_key(session: DbSession, cipher: KeyCipher, *, alg: str, rsa_bits: int = 2048) -> str:
    """Add a new active key for `alg`, retire the previous one; return the new kid."""
    if alg not in SIGNING_ALGS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    now = utcnow()
    for previous in session.scalars(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
    ):
        previous.retired_at = now
    kid = f"{alg.lower()}-{now:%Y%m%d}-{secrets.token_hex(4)}"
    key = _generate(alg, kid, rsa_bits)
    session.add(
        SigningKey(
            kid=kid,
            alg=alg,
            private_key_encrypted=cipher.encrypt(key.as_pem(private=True)),
            public_jwk=key.as_dict(private=False),
            created_at=now,
        )
    )
    session.flush()
    audit.record(session, "keys.rotated", kid=kid, alg=alg)
    return kid


def ensure_keys(session: DbSession, cipher: KeyCipher, *, algs: tuple[str, ...] | list[str],
                rsa_bits: int = 2048) -> list[str]:
    """Create an active key for every algorithm that has none; return the kids created."""
    created = []
    for alg in algs:
        active = session.scalar(
            select(SigningKey.id).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        )
        if active is None:
            created.append(rotate_key(session, cipher, alg=alg, rsa_bits=rsa_bits))
    return created


@dataclass(frozen=True)
class KeySetSnapshot:
    signing: dict[str, RSAKey | ECKey]  # alg -> active private key
    public: dict[str, RSAKey | ECKey]  # kid -> public key (live and recently retired)
    jwks: dict[str, Any]
    jwks_json: bytes  # the JWKS document, serialised once per load
    loaded_at: float


class KeyRing:
    """Per-process cache of the key set, re-read after `cache_seconds`."""

    def __init__(self, cipher: KeyCipher, *, cache_seconds: int, keep_retired_seconds: int):
        self._cipher = cipher
        self._cache_seconds = cache_seconds
        self._keep_retired = dt.timedelta(seconds=keep_retired_seconds)
        self._snapshot: KeySetSnapshot | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._snapshot = None

    def may_reload(self, min_interval: float = 5.0) -> bool:
        """Drop the cache for an unknown kid, at most every `min_interval` seconds (so that
        forged kids cannot make every request re-read and decrypt the key set)."""
        snap = self._snapshot
        if snap is not None and time.monotonic() - snap.loaded_at < min_interval:
            return False
        self._snapshot = None
        return True

    def fresh(self) -> KeySetSnapshot | None:
        """The cached key set if still fresh (no database access), else None."""
        snap = self._snapshot
        if snap is not None and time.monotonic() - snap.loaded_at < self._cache_seconds:
            return snap
        return None

    def snapshot(self, session: DbSession) -> KeySetSnapshot:
        snap = self._snapshot
        if snap is not None and time.monotonic() - snap.loaded_at < self._cache_seconds:
            return snap
        with self._lock:
            snap = self._load(session)
            self._snapshot = snap
            return snap

    def _load(self, session: DbSession) -> KeySetSnapshot:
        cutoff = utcnow() - self._keep_retired
        rows = session.scalars(
            select(SigningKey)
            .where((SigningKey.retired_at.is_(None)) | (SigningKey.retired_at > cutoff))
            .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        ).all()
        signing: dict[str, RSAKey | ECKey] = {}
        public: dict[str, RSAKey | ECKey] = {}
        jwks = []
        # Publish before use: a new key signs only once every process's cached JWKS can list
        # it (older than the cache period); until then its predecessor goes on signing.
        ripe = utcnow() - dt.timedelta(seconds=self._cache_seconds)
        chosen: dict[str, SigningKey] = {}
        for row in rows:  # newest first
            if row.alg not in chosen or (chosen[row.alg].created_at > ripe
                                         and row.created_at <= ripe):
                chosen[row.alg] = row
        for alg, row in chosen.items():
            signing[alg] = _import(alg, self._cipher.decrypt(row.private_key_encrypted), row.kid)
        for row in rows:
            public[row.kid] = _import(row.alg, row.public_jwk, row.kid)
            jwks.append(row.public_jwk)
        document = {"keys": jwks}
        return KeySetSnapshot(signing, public, document, json.dumps(document).encode(),
                              time.monotonic())

    def signing_key(self, session: DbSession, alg: str) -> RSAKey | ECKey:
        key = self.snapshot(session).signing.get(alg)
        if key is None:
            self.invalidate()
            key = self.snapshot(session).signing.get(alg)
        if key is None:
            raise LookupError(f"no active signing key for {alg}; run `idp keys rotate`")
        return key
