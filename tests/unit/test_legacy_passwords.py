"""Old sites' password schemes: vectors from the reference libraries (passlib, bcrypt, hashlib,
Django's PBKDF2 format), right and wrong passwords, malformed hashes."""

from __future__ import annotations

import hashlib

import bcrypt
import pytest
from passlib.hash import bcrypt as passlib_bcrypt
from passlib.hash import django_pbkdf2_sha256, hex_sha256, mysql41

from idp.services import legacy_passwords
from idp.services.legacy_passwords import (
    SCHEMES,
    dummy_verify,
    hash_format_error,
    verify_legacy_password,
)

PASSWORD = "옛비밀번호!2019"
WRONG = "옛비밀번호!2018"


def _vectors() -> list[tuple[str, str, str | None, str]]:
    """(scheme, stored hash, salt, password), each hash made by a reference implementation."""
    return [
        ("bcrypt", bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4, prefix=b"2b")).decode(),
         None, PASSWORD),
        ("bcrypt", bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4, prefix=b"2a")).decode(),
         None, PASSWORD),
        ("bcrypt", passlib_bcrypt.using(rounds=4, ident="2y").hash(PASSWORD), None, PASSWORD),
        ("pbkdf2_sha256",
         django_pbkdf2_sha256.using(rounds=1000, salt="Qx7c2yHwZk1p").hash(PASSWORD),
         None, PASSWORD),
        ("sha256", hex_sha256.hash(PASSWORD), None, PASSWORD),
        ("sha256", hashlib.sha256(PASSWORD.encode()).hexdigest().upper(), None, PASSWORD),
        ("sha256_salted", hashlib.sha256(("s4lt" + PASSWORD).encode()).hexdigest(), "s4lt",
         PASSWORD),
        ("mysql41", mysql41.hash(PASSWORD), None, PASSWORD),
    ]


# Published values, independent of any library installed here.
KNOWN = [
    # MySQL 4.1+ PASSWORD('password') (the MySQL manual's example).
    ("mysql41", "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", None, "password"),
    # SHA-256("password"), FIPS 180-4 implementations agree.
    ("sha256", "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", None,
     "password"),
    # Django's own test vector (django/tests/auth_tests/test_hashers.py, Django 2.x).
    ("pbkdf2_sha256",
     "pbkdf2_sha256$100000$seasalt$BNZ6eyaNc8qFTJPjrAq99hSYb73EgAdytAtdBg2Sdcc=", None,
     "lètmein"),
]


@pytest.mark.parametrize(("scheme", "stored", "salt", "password"), _vectors() + KNOWN)
def test_right_password_is_accepted(scheme: str, stored: str, salt: str | None,
                                    password: str) -> None:
    assert hash_format_error(scheme, stored, salt) is None
    assert verify_legacy_password(scheme, stored, salt, password) is True


@pytest.mark.parametrize(("scheme", "stored", "salt", "password"), _vectors() + KNOWN)
def test_wrong_password_is_refused(scheme: str, stored: str, salt: str | None,
                                   password: str) -> None:
    assert verify_legacy_password(scheme, stored, salt, password + "x") is False
    assert verify_legacy_password(scheme, stored, salt, "") is False


def test_every_scheme_has_a_vector() -> None:
    assert {v[0] for v in _vectors()} == set(SCHEMES)


def test_salted_sha256_needs_the_right_salt() -> None:
    stored = hashlib.sha256(("s4lt" + PASSWORD).encode()).hexdigest()
    assert verify_legacy_password("sha256_salted", stored, "s4lt", PASSWORD)
    assert not verify_legacy_password("sha256_salted", stored, "other", PASSWORD)
    # password followed by salt is not the scheme
    swapped = hashlib.sha256((PASSWORD + "s4lt").encode()).hexdigest()
    assert not verify_legacy_password("sha256_salted", swapped, "s4lt", PASSWORD)


def test_bcrypt_reads_only_the_first_72_bytes_like_the_old_site() -> None:
    long_password = "a" * 72
    stored = passlib_bcrypt.using(rounds=4).hash(long_password)
    assert verify_legacy_password("bcrypt", stored, None, long_password + "ignored")
    assert not verify_legacy_password("bcrypt", stored, None, "a" * 71)


@pytest.mark.parametrize(
    ("scheme", "stored", "salt", "reason"),
    [
        ("md5", "5f4dcc3b5aa765d61d8327deb882cf99", None, "unknown_password_scheme"),
        (None, "x", None, "unknown_password_scheme"),
        ("bcrypt", "", None, "missing_password_hash"),
        ("bcrypt", "$2b$04$short", None, "malformed_password_hash"),
        ("bcrypt", "$2b$31$" + "a" * 53, None, "malformed_password_hash"),  # cost too high
        ("pbkdf2_sha256", "pbkdf2_sha256$1000$salt", None, "malformed_password_hash"),
        ("pbkdf2_sha256", "pbkdf2_sha256$99999999$salt$AAAA", None, "malformed_password_hash"),
        ("pbkdf2_sha256", "pbkdf2_sha256$1000$salt$A!!A", None, "malformed_password_hash"),
        ("sha256", "abc", None, "malformed_password_hash"),
        ("sha256_salted", "0" * 64, None, "missing_password_salt"),
        ("mysql41", "2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", None, "malformed_password_hash"),
    ],
)
def test_malformed_hashes_are_named_and_never_verify(
    scheme: str | None, stored: str, salt: str | None, reason: str
) -> None:
    assert hash_format_error(scheme, stored, salt) == reason
    assert verify_legacy_password(scheme or "", stored, salt, "password") is False


def test_fast_schemes_cost_as_much_as_an_unknown_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """sha256, sha256_salted and mysql41 also pay dummy_verify(): no timing oracle."""
    calls: list[int] = []
    monkeypatch.setattr(legacy_passwords, "dummy_verify", lambda: calls.append(1))
    for scheme, stored, salt, password in _vectors():
        calls.clear()
        verify_legacy_password(scheme, stored, salt, password)
        verify_legacy_password(scheme, stored, salt, WRONG)
        expected = 2 if scheme in ("sha256", "sha256_salted", "mysql41") else 0
        assert len(calls) == expected, scheme


def test_dummy_verify_does_a_real_bcrypt_check(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        seen.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(legacy_passwords.bcrypt, "checkpw", spy)
    dummy_verify()
    assert seen and seen[0].startswith(b"$2b$%02d$" % legacy_passwords.DUMMY_BCRYPT_COST)
