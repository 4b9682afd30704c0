"""Which identity-verification adapter each method gets (idp.wiring.build_identity_verifiers)."""

from __future__ import annotations

import pytest

from idp.adapters.identity_emulator import EmulatorIdentityVerifier
from idp.adapters.identity_inicis import InicisIdentityVerifier
from idp.adapters.identity_nice import NiceIdentityVerifier
from idp.stores import MemoryStore
from idp.wiring import build_identity_verifiers

BASE = {"secret_key": "k" * 32,
        "identity_inicis": {"mid": "INIiasTest", "api_key": "x", "timeout": 7},
        "identity_nice": {"client_id": "c", "client_secret": "s", "product_id": "p",
                          "timeout": 5}}


def test_testing_uses_the_emulator_for_every_method(app) -> None:
    verifiers = app.extensions["idp"].identity_verifiers
    assert set(verifiers) == {"simple", "mobile", "card"}
    assert all(isinstance(v, EmulatorIdentityVerifier) for v in verifiers.values())


def test_the_vendors_of_the_default_configuration() -> None:
    settings = {**BASE, "identity": {"simple": "inicis", "mobile": "nice", "card": "nice"}}
    verifiers = build_identity_verifiers(settings, MemoryStore())
    assert isinstance(verifiers["simple"], InicisIdentityVerifier)
    assert isinstance(verifiers["mobile"], NiceIdentityVerifier)
    assert verifiers["mobile"] is verifiers["card"]  # one NICE client, one access token
    assert verifiers["simple"].timeout == 7 and verifiers["mobile"].timeout == 5


def test_an_empty_setting_leaves_the_method_out() -> None:
    settings = {**BASE, "identity": {"simple": "", "mobile": "nice", "card": ""}}
    assert set(build_identity_verifiers(settings)) == {"mobile"}


def test_an_unknown_vendor_is_a_clear_error() -> None:
    settings = {**BASE, "identity": {"simple": "kcb", "mobile": "", "card": ""}}
    with pytest.raises(ValueError, match="IDP_IDENTITY_SIMPLE"):
        build_identity_verifiers(settings)


def test_a_vendor_transaction_is_accepted_once_across_adapters() -> None:
    store = MemoryStore()
    settings = {**BASE, "identity": {"simple": "inicis", "mobile": "", "card": ""}}
    first = build_identity_verifiers(settings, store)["simple"]
    second = build_identity_verifiers(settings, store)["simple"]  # another process
    assert isinstance(first, InicisIdentityVerifier)
    assert isinstance(second, InicisIdentityVerifier)
    assert first.seen_once is not None and second.seen_once is not None
    assert first.seen_once("inicis:tx1") is True
    assert second.seen_once("inicis:tx1") is False
