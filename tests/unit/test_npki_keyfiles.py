"""NPKI key files (idp/npki_keyfiles.py): round trips, wrong passwords, a real-world vector."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from idp import npki_keyfiles as kf

VECTOR = json.loads((Path(__file__).parent.parent / "data" / "npki"
                     / "pypinksign_vector.json").read_text())
R = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "(주)한국이디에스")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))


@pytest.mark.parametrize("scheme", ["seed-cbc-sha1", "pbes2-seed", "pbes2-aes256"])
@pytest.mark.parametrize("random_r", [R, None])
def test_sign_pri_round_trip(key: rsa.RSAPrivateKey, scheme: kf.Scheme,
                             random_r: bytes | None) -> None:
    data = kf.write_sign_pri(key, "인증서암호1!", random_r, scheme, iterations=1000)
    back, r = kf.read_sign_pri(data, "인증서암호1!")
    assert back.private_numbers() == key.private_numbers()
    assert r == random_r


@pytest.mark.parametrize("scheme", ["seed-cbc-sha1", "pbes2-seed"])
def test_sign_pri_wrong_password(key: rsa.RSAPrivateKey, scheme: kf.Scheme) -> None:
    data = kf.write_sign_pri(key, "right-password", R, scheme)
    with pytest.raises(kf.WrongPassword):
        kf.read_sign_pri(data, "wrong-password")


def test_sign_pri_oids_and_parameters(key: rsa.RSAPrivateKey) -> None:
    salt = bytes(range(8))
    data = kf.write_sign_pri(key, "pw", R, "seed-cbc-sha1", salt=salt)
    epki = kf._EncryptedPrivateKeyInfo.load(data)
    assert epki["algorithm"]["algorithm"].dotted == "1.2.410.200004.1.15"
    params = kf._Pbkdf1Params.load(epki["algorithm"]["parameters"].dump())
    assert params["salt"].native == salt and params["iterations"].native == 2048
    # key = dk[0:16], iv = SHA1(dk[16:20])[0:16], dk = PBKDF1-SHA1(password, salt, 2048)
    dk = hashlib.sha1(b"pw" + salt).digest()
    for _ in range(2047):
        dk = hashlib.sha1(dk).digest()
    pki = kf.seed_cbc_decrypt(dk[:16], hashlib.sha1(dk[16:20]).digest()[:16],
                              epki["encrypted_data"].native)
    assert kf.parse_private_key_info(pki)[1] == R

    pbes2 = kf._EncryptedPrivateKeyInfo.load(kf.write_sign_pri(key, "pw", R, "pbes2-seed"))
    assert pbes2["algorithm"]["algorithm"].dotted == "1.2.840.113549.1.5.13"
    p2 = kf._Pbes2Params.load(pbes2["algorithm"]["parameters"].dump())
    assert p2["scheme"]["algorithm"].dotted == "1.2.410.200004.1.4"
    assert p2["kdf"]["algorithm"].dotted == "1.2.840.113549.1.5.12"


def test_r_attribute_is_a_bit_string_under_kisa_oid(key: rsa.RSAPrivateKey) -> None:
    pki = kf._PrivateKeyInfo.load(kf.private_key_info(key, R))
    (attribute,) = list(pki["attributes"])
    assert attribute["type"].dotted == "1.2.410.200004.10.1.1.3"
    assert attribute["values"][0].dump()[0] == 0x03  # BIT STRING


def test_garbage_is_not_a_key_file() -> None:
    with pytest.raises(kf.KeyFileError):
        kf.read_sign_pri(b"\x30\x03\x02\x01\x00", "pw")


def test_pypinksign_vector_sign_pri() -> None:
    """A yessign test certificate's signPri.key (seedCBCWithSHA1) from PyPinkSign's tests."""
    key, r = kf.read_sign_pri(base64.b64decode(VECTOR["signPri"]), VECTOR["password"])
    assert key.private_numbers().public_numbers.n == int(VECTOR["n"])
    assert r is not None and r.hex() == VECTOR["r_hex"]
    signature = key.sign(VECTOR["test_msg"].encode(), padding.PKCS1v15(), hashes.SHA256())
    assert signature.hex() == VECTOR["sign_hex"]


def test_pypinksign_vector_pfx_keeps_r_in_the_private_key_info() -> None:
    """The same certificate exported as a (3DES) pfx: R sits in the PrivateKeyInfo's attributes."""
    key, cert, _, r = kf.read_pfx(base64.b64decode(VECTOR["pfx"]), VECTOR["password"])
    assert cert.serial_number == VECTOR["serial"]
    assert r is not None and r.hex() == VECTOR["r_hex"]
    assert key.private_numbers().public_numbers.n == int(VECTOR["n"])


@pytest.mark.parametrize(("random_r", "legacy"), [(R, False), (None, False), (None, True)])
def test_pfx_round_trip(key: rsa.RSAPrivateKey, cert: x509.Certificate,
                        random_r: bytes | None, legacy: bool) -> None:
    data = kf.write_pfx(cert, key, "파일암호", [cert], random_r=random_r, legacy=legacy)
    # cryptography (OpenSSL) opens it and checks the MAC: our RFC 7292 KDF is right.
    k2, c2, chain = pkcs12.load_key_and_certificates(data, "파일암호".encode())[:3]
    assert c2 == cert and chain == [cert]
    back, c3, _, r = kf.read_pfx(data, "파일암호")
    assert back.private_numbers() == key.private_numbers() and c3 == cert
    assert r == random_r
    with pytest.raises(kf.WrongPassword):
        kf.read_pfx(data, "틀린암호")


def test_pkcs12_kdf_matches_rfc7292_known_answer() -> None:
    # OpenSSL's PKCS12_key_gen_uni test vector (smeg, SHA-1, 1 iteration, ID 1).
    out = kf.pkcs12_kdf("smeg", bytes.fromhex("0a58cf64530d823f"), 1, 1, 24, "sha1")
    assert out.hex() == "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"
