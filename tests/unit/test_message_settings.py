"""The [email], [sms], [sms_codes] and [find_id] settings are checked at start-up like the rest."""

from __future__ import annotations

import pytest

from idp.config import ConfigError, load_settings


@pytest.mark.parametrize(("variable", "value"), [
    ("IDP_EMAIL_TLS", "maybe"), ("IDP_EMAIL_PORT", "0"), ("IDP_EMAIL_TIMEOUT", "0"),
    ("IDP_SMS_TIMEOUT", "-1"), ("IDP_SMS_CODES_TTL", "0"), ("IDP_SMS_CODES_MAX_WRONG", "0"),
    ("IDP_FIND_ID_PER_IP_PER_HOUR", "0"),
])
def test_a_wrong_value_is_named(variable, value):
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"IDP_ENV": "testing", variable: value})
    assert variable in str(err.value)


def test_defaults_and_environment_overrides():
    settings = load_settings(environ={"IDP_ENV": "testing", "IDP_EMAIL_TLS": "ssl",
                                      "IDP_EMAIL_PORT": "465", "IDP_SMS_URL": "https://sms.example/v1",
                                      "IDP_SMS_TIMEOUT": "2.5"})
    assert settings["email"]["tls"] == "ssl" and settings["email"]["port"] == 465
    assert settings["sms"]["url"] == "https://sms.example/v1" and settings["sms"]["timeout"] == 2.5
    assert settings["sms_codes"]["ttl"] == 180 and settings["sms_codes"]["max_wrong"] == 5
    # development and testing use the outbox; the defaults (production) the real adapters
    assert settings["email"]["adapter"] == "outbox" and settings["sms"]["adapter"] == "outbox"
