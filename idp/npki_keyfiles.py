"""NPKI key files: signPri.key (KISA's encrypted PKCS#8) and .pfx/.p12, written and read.

The Korean PKI keeps a signing key as `NPKI/<CA>/USER/<cn=...>/signPri.key`, a PKCS#8
EncryptedPrivateKeyInfo (RFC 5958 §3) under one of KISA's password-based schemes:

- ``seed-cbc-sha1``: seedCBCWithSHA1 (1.2.410.200004.1.15), parameters
  SEQUENCE {salt OCTET STRING (8), iterationCount INTEGER}; PBKDF1-SHA1 (RFC 8018 §5.1)
  derives 20 bytes dk; the SEED key is dk[0:16] and the IV is SHA1(dk[16:20])[0:16].
- ``pbes2-seed``: PBES2 (RFC 8018 §6.2) with PBKDF2-HMAC-SHA1 and SEED-CBC
  (1.2.410.200004.1.4, parameter: the 16-byte IV).

SEED itself is RFC 4269. Once decrypted, the PrivateKeyInfo's attributes ([0] IMPLICIT SET OF
Attribute) carry the key's random number R under 1.2.410.200004.10.1.1.3 as a BIT STRING; the
server needs R for the VID check (KOREA-FACTS). Some keys have no R.

A .pfx/.p12 (RFC 7292) made by a Korean CA's export also keeps R as an attribute of the
PrivateKeyInfo inside the pkcs8ShroudedKeyBag (not as a bag attribute). `cryptography` drops
PrivateKeyInfo attributes when it writes PKCS#12, so `write_pfx` with an R builds the file
itself (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC for the key, a SHA-256 MAC per RFC 7292
Appendix B); without an R it lets `cryptography` write it. A pfx without R makes the server
refuse with ``no_vid`` (idp/web/certificate.py), as a signPri.key without R does.

This module only turns bytes into keys and back: it is used by the tests, by the demo PKI that
`make run` ships and by the browser widget's tests (static/npki/). It never sees a request.
"""

# SHA-1 and 3DES are what KISA's key formats and legacy pfx files are made of (read-side
# interoperability and test fixtures), not choices of ours.
# ruff: noqa: S303, S324

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any, Literal

from asn1crypto import cms, core, pkcs12
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED, TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

OID_SEED_CBC_WITH_SHA1 = "1.2.410.200004.1.15"
OID_SEED_CBC = "1.2.410.200004.1.4"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_HMAC_SHA1 = "1.2.840.113549.2.7"
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
OID_RANDOM_NUM = "1.2.410.200004.10.1.1.3"  # KISA identifyData randomNum (R)

Scheme = Literal["seed-cbc-sha1", "pbes2-seed", "pbes2-aes256"]


class KeyFileError(ValueError):
    """Not a key file this module understands (structure or algorithm)."""


class WrongPassword(KeyFileError):
    """The password does not decrypt the key (bad padding or no PrivateKeyInfo inside)."""


# --- ASN.1 shapes (our own, so that KISA's OIDs need no registration in asn1crypto) ---------

class _AlgorithmIdentifier(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier),
               ("parameters", core.Any, {"optional": True})]


class _EncryptedPrivateKeyInfo(core.Sequence):  # RFC 5958 §3
    _fields = [("algorithm", _AlgorithmIdentifier), ("encrypted_data", core.OctetString)]


class _Pbkdf1Params(core.Sequence):  # seedCBCWithSHA1's parameters
    _fields = [("salt", core.OctetString), ("iterations", core.Integer)]


class _Pbes2Params(core.Sequence):  # RFC 8018 A.4
    _fields = [("kdf", _AlgorithmIdentifier), ("scheme", _AlgorithmIdentifier)]


class _Pbkdf2Params(core.Sequence):  # RFC 8018 A.2
    _fields = [("salt", core.OctetString), ("iterations", core.Integer),
               ("key_length", core.Integer, {"optional": True}),
               ("prf", _AlgorithmIdentifier, {"optional": True})]


class _AttributeValues(core.SetOf):
    _child_spec = core.Any


class _Attribute(core.Sequence):
    _fields = [("type", core.ObjectIdentifier), ("values", _AttributeValues)]


class _Attributes(core.SetOf):
    _child_spec = _Attribute


class _PrivateKeyInfo(core.Sequence):  # RFC 5958 §2 (v1)
    _fields = [("version", core.Integer), ("algorithm", _AlgorithmIdentifier),
               ("private_key", core.OctetString),
               ("attributes", _Attributes, {"implicit": 0, "optional": True})]


# --- primitives ---------------------------------------------------------------------------

def pbkdf1_sha1(password: bytes, salt: bytes, iterations: int, length: int = 20) -> bytes:
    """PBKDF1 with SHA-1 (RFC 8018 §5.1)."""
    if length > 20:
        raise ValueError("PBKDF1-SHA1 yields at most 20 bytes")
    t = hashlib.sha1(password + salt).digest()
    for _ in range(iterations - 1):
        t = hashlib.sha1(t).digest()
    return t[:length]


def _pbkdf2(password: bytes, salt: bytes, iterations: int, length: int,
            prf: str = OID_HMAC_SHA1) -> bytes:
    algorithm: hashes.HashAlgorithm
    if prf == OID_HMAC_SHA1:
        algorithm = hashes.SHA1()
    elif prf == OID_HMAC_SHA256:
        algorithm = hashes.SHA256()
    else:
        raise KeyFileError(f"unsupported PBKDF2 PRF {prf}")
    return PBKDF2HMAC(algorithm=algorithm, length=length, salt=salt,
                      iterations=iterations).derive(password)


def _cbc(cipher: Any, iv: bytes, data: bytes, *, encrypt: bool, block: int = 128) -> bytes:
    c = Cipher(cipher, modes.CBC(iv))
    if encrypt:
        padder = padding.PKCS7(block).padder()
        enc = c.encryptor()
        return enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
    if not data or len(data) % (block // 8):
        raise WrongPassword("ciphertext is not a whole number of blocks")
    dec = c.decryptor()
    plain = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(block).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError as exc:
        raise WrongPassword("bad padding") from exc


def seed_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SEED-128 (RFC 4269) in CBC mode with PKCS#7 padding."""
    return _cbc(SEED(key), iv, plaintext, encrypt=True)


def seed_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    return _cbc(SEED(key), iv, ciphertext, encrypt=False)


def seed_cbc_sha1_key_iv(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """seedCBCWithSHA1: key = dk[0:16], iv = SHA1(dk[16:20])[0:16] (dk = PBKDF1-SHA1)."""
    dk = pbkdf1_sha1(password, salt, iterations, 20)
    return dk[:16], hashlib.sha1(dk[16:20]).digest()[:16]


# --- PrivateKeyInfo with R -------------------------------------------------------------------

def private_key_info(private_key: RSAPrivateKey, random_r: bytes | None) -> bytes:
    """The DER PrivateKeyInfo of `private_key`, with R as the randomNum attribute if given."""
    der = private_key.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    if random_r is None:
        return der
    pki = _PrivateKeyInfo.load(der)
    value = core.Any.load(core.OctetBitString(random_r).dump())
    pki["attributes"] = _Attributes([_Attribute({"type": OID_RANDOM_NUM, "values": [value]})])
    return bytes(pki.dump(force=True))


def parse_private_key_info(der: bytes) -> tuple[RSAPrivateKey, bytes | None]:
    """(key, R) from a DER PrivateKeyInfo; WrongPassword if it is not one."""
    try:
        pki = _PrivateKeyInfo.load(der, strict=True)
        pki.native  # noqa: B018 -- parses every field now, so garbage fails here
        random_r = None
        attributes = pki["attributes"]
        if attributes.native is not None:
            for attribute in attributes:
                if attribute["type"].dotted == OID_RANDOM_NUM:
                    bits = core.OctetBitString.load(attribute["values"][0].dump())
                    random_r = bytes(bits.native)
        plain = _PrivateKeyInfo({"version": pki["version"], "algorithm": pki["algorithm"],
                                 "private_key": pki["private_key"]})
        key = serialization.load_der_private_key(plain.dump(), password=None)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise WrongPassword("the decrypted bytes are not a PrivateKeyInfo") from exc
    if not isinstance(key, RSAPrivateKey):
        raise KeyFileError("not an RSA key")
    return key, random_r


# --- EncryptedPrivateKeyInfo -------------------------------------------------------------------

def encrypt_private_key_info(pki: bytes, password: str | bytes, scheme: Scheme = "seed-cbc-sha1",
                             iterations: int = 2048, salt: bytes | None = None,
                             iv: bytes | None = None) -> bytes:
    """A DER EncryptedPrivateKeyInfo holding `pki` under `scheme`."""
    pw = password.encode() if isinstance(password, str) else password
    salt = os.urandom(8) if salt is None else salt
    if scheme == "seed-cbc-sha1":
        if len(salt) != 8:
            raise ValueError("seedCBCWithSHA1 takes an 8-byte salt")
        key, derived_iv = seed_cbc_sha1_key_iv(pw, salt, iterations)
        params = _Pbkdf1Params({"salt": salt, "iterations": iterations})
        algorithm = _AlgorithmIdentifier({"algorithm": OID_SEED_CBC_WITH_SHA1,
                                          "parameters": core.Any.load(params.dump())})
        data = seed_cbc_encrypt(key, derived_iv, pki)
    elif scheme in ("pbes2-seed", "pbes2-aes256"):
        iv = os.urandom(16) if iv is None else iv
        if scheme == "pbes2-seed":
            prf, key_len, enc_oid = OID_HMAC_SHA1, 16, OID_SEED_CBC
        else:
            prf, key_len, enc_oid = OID_HMAC_SHA256, 32, OID_AES256_CBC
        key = _pbkdf2(pw, salt, iterations, key_len, prf)
        kdf_params: dict[str, Any] = {"salt": salt, "iterations": iterations}
        if prf != OID_HMAC_SHA1:
            kdf_params["prf"] = _AlgorithmIdentifier({"algorithm": prf,
                                                      "parameters": core.Null()})
        pbes2 = _Pbes2Params({
            "kdf": _AlgorithmIdentifier({"algorithm": OID_PBKDF2, "parameters": core.Any.load(
                _Pbkdf2Params(kdf_params).dump())}),
            "scheme": _AlgorithmIdentifier({"algorithm": enc_oid, "parameters": core.Any.load(
                core.OctetString(iv).dump())}),
        })
        algorithm = _AlgorithmIdentifier({"algorithm": OID_PBES2,
                                          "parameters": core.Any.load(pbes2.dump())})
        cipher = SEED(key) if scheme == "pbes2-seed" else algorithms.AES(key)
        data = _cbc(cipher, iv, pki, encrypt=True)
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return bytes(_EncryptedPrivateKeyInfo({"algorithm": algorithm,
                                           "encrypted_data": data}).dump())


def decrypt_private_key_info(data: bytes, password: str | bytes) -> bytes:
    """The DER PrivateKeyInfo inside an EncryptedPrivateKeyInfo (KISA or PBES2 schemes)."""
    pw = password.encode() if isinstance(password, str) else password
    try:
        epki = _EncryptedPrivateKeyInfo.load(data, strict=True)
        oid = epki["algorithm"]["algorithm"].dotted
        params = epki["algorithm"]["parameters"]
        encrypted = bytes(epki["encrypted_data"].native)
        if oid == OID_SEED_CBC_WITH_SHA1:
            p1 = _Pbkdf1Params.load(params.dump())
            key, iv = seed_cbc_sha1_key_iv(pw, bytes(p1["salt"].native), p1["iterations"].native)
            return seed_cbc_decrypt(key, iv, encrypted)
        if oid == OID_PBE_SHA1_3DES:  # RFC 7292 Appendix C (legacy pfx)
            p1 = _Pbkdf1Params.load(params.dump())
            salt, count = bytes(p1["salt"].native), p1["iterations"].native
            text = pw.decode()
            key = pkcs12_kdf(text, salt, count, 1, 24, "sha1")
            iv = pkcs12_kdf(text, salt, count, 2, 8, "sha1")
            return _cbc(TripleDES(key), iv, encrypted, encrypt=False, block=64)
        if oid != OID_PBES2:
            raise KeyFileError(f"unsupported key encryption {oid}")
        p2 = _Pbes2Params.load(params.dump())
        if p2["kdf"]["algorithm"].dotted != OID_PBKDF2:
            raise KeyFileError("PBES2 without PBKDF2")
        kdf = _Pbkdf2Params.load(p2["kdf"]["parameters"].dump())
        prf = OID_HMAC_SHA1 if kdf["prf"].native is None else kdf["prf"]["algorithm"].dotted
        enc_oid = p2["scheme"]["algorithm"].dotted
        iv = bytes(core.OctetString.load(p2["scheme"]["parameters"].dump()).native)
        sizes = {OID_SEED_CBC: 16, OID_AES128_CBC: 16, OID_AES256_CBC: 32}
        if enc_oid not in sizes:
            raise KeyFileError(f"unsupported PBES2 cipher {enc_oid}")
        key = _pbkdf2(pw, bytes(kdf["salt"].native), kdf["iterations"].native, sizes[enc_oid],
                      prf)
        cipher = SEED(key) if enc_oid == OID_SEED_CBC else algorithms.AES(key)
        return _cbc(cipher, iv, encrypted, encrypt=False)
    except (KeyFileError, WrongPassword):
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise KeyFileError("not an EncryptedPrivateKeyInfo") from exc


def write_sign_pri(private_key: RSAPrivateKey, password: str | bytes, random_r: bytes | None,
                   scheme: Scheme = "seed-cbc-sha1", iterations: int = 2048,
                   salt: bytes | None = None, iv: bytes | None = None) -> bytes:
    """signPri.key: `private_key` with R, encrypted under `scheme` (seed-cbc-sha1 by default)."""
    return encrypt_private_key_info(private_key_info(private_key, random_r), password, scheme,
                                    iterations, salt, iv)


def read_sign_pri(data: bytes, password: str | bytes) -> tuple[RSAPrivateKey, bytes | None]:
    """(key, R or None) from signPri.key; WrongPassword or KeyFileError otherwise."""
    return parse_private_key_info(decrypt_private_key_info(data, password))


# --- PKCS#12 ---------------------------------------------------------------------------------

def pkcs12_kdf(password: str, salt: bytes, iterations: int, purpose: int, length: int,
               hash_name: str = "sha256") -> bytes:
    """RFC 7292 Appendix B.2 (purpose 1 key, 2 IV, 3 MAC key); BMPString password + 00 00."""
    pw = (password.encode("utf-16-be") + b"\0\0") if password else b""
    u = hashlib.new(hash_name).digest_size
    v = 64
    d = bytes([purpose]) * v

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        n = v * ((len(data) + v - 1) // v)
        return (data * (n // len(data) + 1))[:n]

    i = stretch(salt) + stretch(pw)
    out = b""
    while len(out) < length:
        a = d + i
        for _ in range(iterations):
            a = hashlib.new(hash_name, a).digest()
        out += a
        b = int.from_bytes((a * (v // u + 1))[:v], "big")
        blocks = []
        for j in range(0, len(i), v):
            n = (int.from_bytes(i[j:j + v], "big") + b + 1) % (1 << (8 * v))
            blocks.append(n.to_bytes(v, "big"))
        i = b"".join(blocks)
    return out[:length]


def _cert_bag(cert: x509.Certificate, local_key_id: bytes | None) -> pkcs12.SafeBag:
    bag: dict[str, Any] = {
        "bag_id": "cert_bag",
        "bag_value": pkcs12.CertBag({"cert_id": "x509", "cert_value": asn1_x509.Certificate.load(
            cert.public_bytes(serialization.Encoding.DER))}),
    }
    if local_key_id is not None:
        bag["bag_attributes"] = [{"type": "local_key_id", "values": [local_key_id]}]
    return pkcs12.SafeBag(bag)


def write_pfx(cert: x509.Certificate, key: RSAPrivateKey, password: str,
              chain: list[x509.Certificate] | tuple[x509.Certificate, ...] = (),
              random_r: bytes | None = None, legacy: bool = False,
              iterations: int = 2048) -> bytes:
    """A .pfx: the key (with R in its PrivateKeyInfo when given), its certificate and chain.

    Without R, `cryptography` writes it: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) by default, or
    the legacy pbeWithSHAAnd3-KeyTripleDES-CBC with `legacy=True`. With R we write it (see the
    module docstring): only the key is encrypted, the certificates are public anyway.
    """
    if random_r is None:
        encryption: serialization.KeySerializationEncryption
        builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(iterations)
        if legacy:
            encryption = (builder
                          .key_cert_algorithm(crypto_pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                          .hmac_hash(hashes.SHA1()).build(password.encode()))
        else:
            encryption = (builder.key_cert_algorithm(crypto_pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                          .hmac_hash(hashes.SHA256()).build(password.encode()))
        return crypto_pkcs12.serialize_key_and_certificates(
            b"signCert", key, cert, list(chain) or None, encryption)
    if legacy:
        raise ValueError("R is only written with PBES2")
    local_key_id = cert.fingerprint(hashes.SHA1())
    shrouded = asn1_keys.EncryptedPrivateKeyInfo.load(encrypt_private_key_info(
        private_key_info(key, random_r), password, "pbes2-aes256", iterations))
    key_bag = pkcs12.SafeBag({
        "bag_id": "pkcs8_shrouded_key_bag", "bag_value": shrouded,
        "bag_attributes": [{"type": "local_key_id", "values": [local_key_id]}]})
    certs = pkcs12.SafeContents([_cert_bag(cert, local_key_id)]
                                + [_cert_bag(c, None) for c in chain])
    keys_contents = pkcs12.SafeContents([key_bag])
    auth_safe = pkcs12.AuthenticatedSafe([
        cms.ContentInfo({"content_type": "data", "content": certs.dump()}),
        cms.ContentInfo({"content_type": "data", "content": keys_contents.dump()}),
    ])
    content = auth_safe.dump()
    mac_salt = os.urandom(16)
    mac_key = pkcs12_kdf(password, mac_salt, iterations, 3, 32)
    digest = hmac.new(mac_key, content, hashlib.sha256).digest()
    pfx = pkcs12.Pfx({
        "version": "v3",
        "auth_safe": cms.ContentInfo({"content_type": "data", "content": content}),
        "mac_data": {"mac": {"digest_algorithm": {"algorithm": "sha256"}, "digest": digest},
                     "mac_salt": mac_salt, "iterations": iterations},
    })
    return bytes(pfx.dump())


def read_pfx(data: bytes, password: str) -> tuple[RSAPrivateKey, x509.Certificate,
                                                  list[x509.Certificate], bytes | None]:
    """(key, certificate, chain, R or None) from a .pfx; `cryptography` checks the MAC."""
    try:
        key, cert, chain = crypto_pkcs12.load_key_and_certificates(data, password.encode())
    except ValueError as exc:
        raise WrongPassword("the pfx does not open with this password") from exc
    if not isinstance(key, RSAPrivateKey) or cert is None:
        raise KeyFileError("no RSA key and certificate in the pfx")
    random_r = None
    pfx = pkcs12.Pfx.load(data)
    for info in pfx.authenticated_safe:
        if info["content_type"].native != "data":
            continue  # encryptedData holds certificates only (we never put keys there)
        for bag in pkcs12.SafeContents.load(info["content"].native):
            if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                _, random_r = parse_private_key_info(
                    decrypt_private_key_info(bag["bag_value"].untag().dump(), password))
    return key, cert, list(chain), random_r


__all__ = [
    "KeyFileError", "Scheme", "WrongPassword", "decrypt_private_key_info",
    "encrypt_private_key_info", "parse_private_key_info", "pbkdf1_sha1", "pkcs12_kdf",
    "private_key_info", "read_pfx", "read_sign_pri", "seed_cbc_decrypt", "seed_cbc_encrypt",
    "seed_cbc_sha1_key_iv", "write_pfx", "write_sign_pri",
]
