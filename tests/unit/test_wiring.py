"""The composition root (idp/wiring.py): a production start that would pick an emulator refuses
to start, naming the setting to change. No port has an emulator yet, so these tests register a
test-only port."""

from __future__ import annotations

import copy

import pytest

from idp import wiring
from idp.wiring import EmulatorInProduction, build_provider, pick_adapter


class RealThing:
    """A real adapter: it declares nothing."""


class ThingEmulator:
    emulator = True


class OtherEmulator:
    emulator = True


THING = {"real": RealThing, "emulator": ThingEmulator}


@pytest.fixture()
def thing_port(monkeypatch):
    monkeypatch.setitem(wiring.ADAPTERS, "test_thing.adapter", THING)


def test_production_start_with_an_emulator_refuses_naming_the_setting(thing_port):
    settings = {"env": "production", "test_thing": {"adapter": "emulator"}}
    with pytest.raises(EmulatorInProduction) as err:
        build_provider(settings)  # refused before anything is built
    message = str(err.value)
    assert "test_thing.adapter" in message and "IDP_TEST_THING_ADAPTER" in message
    assert "ThingEmulator" in message and "set it to real" in message


def test_production_start_with_real_adapters_builds_the_provider(app, thing_port):
    settings = copy.deepcopy(app.config["IDP_SETTINGS"])
    settings.update(env="production", test_thing={"adapter": "real"},
                    email={**settings["email"], "adapter": "smtp"},
                    sms={**settings["sms"], "adapter": "http"},
                    identity={"simple": "inicis", "mobile": "nice", "card": "nice"},
                    nts={**settings["nts"], "adapter": "api"})  # issue 7
    provider = build_provider(settings)
    try:
        assert provider.issuer == settings["issuer"]
        from idp.adapters.email_smtp import SmtpMailer
        from idp.adapters.sms_http import HttpSmsSender

        assert isinstance(provider.notify.mailer, SmtpMailer)
        assert isinstance(provider.notify.sms_sender, HttpSmsSender)
    finally:
        provider.store.close()


@pytest.mark.parametrize("env", ["development", "testing"])
def test_emulators_are_allowed_outside_production(env):
    wiring.refuse_emulators_in_production(
        {"env": env, "test_thing": {"adapter": "emulator"}},
        {"test_thing.adapter": THING},
    )


def test_settings_without_env_count_as_production():
    with pytest.raises(EmulatorInProduction):
        wiring.refuse_emulators_in_production(
            {"test_thing": {"adapter": "emulator"}}, {"test_thing.adapter": THING})


def test_every_emulator_is_named_in_one_message():
    adapters = {"test_thing.adapter": THING,
                "other.adapter": {"live": RealThing, "emulator": OtherEmulator}}
    settings = {"env": "production", "test_thing": {"adapter": "emulator"},
                "other": {"adapter": "emulator"}}
    with pytest.raises(EmulatorInProduction) as err:
        wiring.refuse_emulators_in_production(settings, adapters)
    assert "IDP_TEST_THING_ADAPTER" in str(err.value) and "IDP_OTHER_ADAPTER" in str(err.value)
    assert "set it to live" in str(err.value)


def test_pick_adapter_returns_the_class_the_setting_names():
    settings = {"test_thing": {"adapter": "emulator"}}
    assert pick_adapter(settings, "test_thing.adapter", {"test_thing.adapter": THING}) is (
        ThingEmulator)
    with pytest.raises(ValueError, match="IDP_TEST_THING_ADAPTER.*emulator, real"):
        pick_adapter({"test_thing": {"adapter": "nope"}}, "test_thing.adapter",
                     {"test_thing.adapter": THING})

