"""Services with no web in the way: policy, hashing, claims, config (throttle: test_throttle)."""

from __future__ import annotations

import datetime as dt

import pytest

from idp.config import load_settings
from idp.errors import InvalidInput
from idp.services.claims import EntitlementMatrix, acr_satisfies
from idp.services.passwords import PasswordPolicy, Passwords


@pytest.mark.parametrize("login_id", ["abc12", "a" * 21 + "1", "abcdefgh", "12345678", "abc 123",
                                      "한글아이디123"])
def test_login_id_policy_refuses(login_id):
    with pytest.raises(InvalidInput):
        PasswordPolicy().check_login_id(login_id)


def test_login_id_policy_normalises_case():
    assert PasswordPolicy().check_login_id("Kotra2026") == "kotra2026"


@pytest.mark.parametrize("password", ["Short!1a", "nodigits!!ab", "NoSymbol123", "12345678!!",
                                      "x1!" * 11])
def test_password_policy_refuses(password):
    with pytest.raises(InvalidInput):
        PasswordPolicy().check_password(password)


def test_argon2id_hash_verify_and_rehash_when_parameters_change():
    weak = Passwords({"time_cost": 1, "memory_kib": 1024, "parallelism": 1, "hash_len": 32,
                      "salt_len": 16})
    stored = weak.hash("Correct!horse9")
    assert stored.startswith("$argon2id$")
    assert weak.verify(stored, "Correct!horse9") and not weak.verify(stored, "wrong")
    assert not weak.verify(None, "Correct!horse9")  # unknown account: still one hash, False
    stronger = Passwords({"time_cost": 2, "memory_kib": 1024, "parallelism": 1,
                          "hash_len": 32, "salt_len": 16})
    assert stronger.needs_rehash(stored) and not weak.needs_rehash(stored)


def test_entitlement_matrix_follows_spec_section_2():
    settings = load_settings({}, environ={"IDP_ENV": "testing"})
    matrix = EntitlementMatrix(settings["entitlements"])

    class M:
        def __init__(self, member_type, method=None):
            self.member_type = member_type
            self.affiliation = type("A", (), {"method": method})() if method else None

    simple = matrix.for_member(M("simple"))
    assert "other_service_application" not in simple and "seminar_application" in simple
    approval = matrix.for_member(M("general", "approval_password"))
    assert "approve_employees" in approval and "service_mileage" not in approval
    cert = matrix.for_member(M("general", "certificate"))
    assert {"service_mileage", "company_info_edit", "approve_employees"} <= set(cert)
    assert "approve_employees" not in matrix.for_member(M("general"))


def test_acr_values_are_satisfied_by_an_equal_or_stronger_class():
    assert acr_satisfies("urn:kotra:acr:password", ["urn:kotra:acr:password"])
    assert not acr_satisfies("urn:kotra:acr:password", ["urn:kotra:acr:certificate"])
    assert acr_satisfies("urn:kotra:acr:certificate", ["urn:kotra:acr:password"])
    assert acr_satisfies("urn:kotra:acr:password", ["unknown-value"])


def test_environment_overrides_settings_with_their_types():
    settings = load_settings({}, environ={
        "IDP_ENV": "testing", "IDP_ISSUER": "https://login.example/", "IDP_SERVER_WORKERS": "7",
        "IDP_DATABASE_URL": "sqlite:///x.db", "IDP_KEYS_ALLOWED_ALGS": "ES256",
        "IDP_KEYS_DEFAULT_ALG": "ES256",
    })
    assert settings["issuer"] == "https://login.example"
    assert settings["server"]["workers"] == 7
    assert settings["database_url"] == "sqlite:///x.db"
    assert settings["keys"]["allowed_algs"] == ["ES256"]


def test_production_refuses_to_start_without_a_secret_key():
    with pytest.raises(RuntimeError):
        load_settings({}, environ={"IDP_ENV": "production"})


def test_a_new_key_is_published_before_it_signs(app):
    from idp.extensions import db
    from idp.services.keys import KeyRing, rotate_key

    with app.app_context():
        p = app.extensions["idp"]
        from sqlalchemy import update

        from idp.models import SigningKey
        from idp.models.base import utcnow

        hour_ago = utcnow() - dt.timedelta(hours=1)
        db.session.execute(update(SigningKey).values(created_at=hour_ago))
        ring = KeyRing(p.cipher, cache_seconds=30, keep_retired_seconds=3900)
        old = ring.signing_key(db.session, "ES256").kid
        new = rotate_key(db.session, p.cipher, alg="ES256")
        db.session.commit()
        ring.invalidate()
        snap = ring.snapshot(db.session)
        assert snap.signing["ES256"].kid == old  # other processes may not list `new` yet
        assert {old, new} <= set(snap.public)  # but every JWKS from now on does
        immediate = KeyRing(p.cipher, cache_seconds=0, keep_retired_seconds=3900)
        assert immediate.signing_key(db.session, "ES256").kid == new
