"""SNS settings (issue 9): the issue's variables, the vendors' real URLs by default, providers
without a client id hidden, emulator URLs refused in production unless allowed."""

from __future__ import annotations

import pytest

from idp.config import ConfigError, load_settings
from tests.unit.test_config import PRODUCTION

VARIABLES = {
    "IDP_NAVER_CLIENT_ID", "IDP_NAVER_CLIENT_SECRET", "IDP_NAVER_AUTHORIZE_URL",
    "IDP_NAVER_TOKEN_URL", "IDP_NAVER_PROFILE_URL", "IDP_KAKAO_CLIENT_ID",
    "IDP_KAKAO_CLIENT_SECRET", "IDP_KAKAO_AUTHORIZE_URL", "IDP_KAKAO_TOKEN_URL",
    "IDP_KAKAO_PROFILE_URL", "IDP_KAKAO_ISSUER", "IDP_KAKAO_JWKS_URL", "IDP_GOOGLE_CLIENT_ID",
    "IDP_GOOGLE_CLIENT_SECRET", "IDP_GOOGLE_DISCOVERY_URL", "IDP_FACEBOOK_CLIENT_ID",
    "IDP_FACEBOOK_CLIENT_SECRET", "IDP_FACEBOOK_AUTHORIZE_URL", "IDP_FACEBOOK_TOKEN_URL",
    "IDP_FACEBOOK_PROFILE_URL",
}


def test_every_variable_of_the_issue_is_a_setting():
    environ = {**PRODUCTION, **{name: f"https://sns.example/{name.lower()}"
                                for name in VARIABLES}}
    settings = load_settings({}, environ=environ)
    for name in VARIABLES:
        section, key = name.removeprefix("IDP_").lower().split("_", 1)
        assert settings[section][key] == f"https://sns.example/{name.lower()}", name


def test_defaults_are_the_vendors_real_urls_and_no_provider_is_offered():
    settings = load_settings({}, environ=PRODUCTION)
    assert settings["naver"]["authorize_url"] == "https://nid.naver.com/oauth2.0/authorize"
    assert settings["naver"]["profile_url"] == "https://openapi.naver.com/v1/nid/me"
    assert settings["kakao"]["token_url"] == "https://kauth.kakao.com/oauth/token"
    assert settings["kakao"]["issuer"] == "https://kauth.kakao.com"
    assert settings["google"]["discovery_url"] == \
        "https://accounts.google.com/.well-known/openid-configuration"
    assert settings["facebook"]["token_url"].startswith("https://graph.facebook.com/v")
    assert all(not settings[n]["client_id"] for n in ("naver", "kakao", "google", "facebook"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000/dev/sns/naver/oauth2.0/token",
                                 "{issuer}/dev/sns/naver/oauth2.0/token",
                                 "http://localhost:9000/token"])
def test_production_refuses_an_emulator_url(url):
    environ = {**PRODUCTION, "IDP_NAVER_CLIENT_ID": "id", "IDP_NAVER_TOKEN_URL": url}
    with pytest.raises(ConfigError) as caught:
        load_settings({}, environ=environ)
    (problem,) = caught.value.problems
    assert "IDP_NAVER_TOKEN_URL" in problem and "IDP_SNS_ALLOW_LOOPBACK" in problem


def test_production_accepts_a_loopback_url_when_explicitly_allowed():
    environ = {**PRODUCTION, "IDP_NAVER_CLIENT_ID": "id",
               "IDP_NAVER_TOKEN_URL": "http://127.0.0.1:9/token",
               "IDP_SNS_ALLOW_LOOPBACK": "true"}
    assert load_settings({}, environ=environ)["naver"]["token_url"] == "http://127.0.0.1:9/token"


def test_an_unconfigured_provider_url_is_not_checked():
    environ = {**PRODUCTION, "IDP_NAVER_TOKEN_URL": "http://127.0.0.1:9/token"}
    load_settings({}, environ=environ)


def test_development_and_testing_point_at_the_emulators():
    for env in ("development", "testing"):
        settings = load_settings({}, environ={"IDP_ENV": env})
        for name in ("naver", "kakao", "google", "facebook"):
            assert settings[name]["client_id"], (env, name)
        assert settings["kakao"]["jwks_url"].startswith("{issuer}/dev/sns/kakao/")


def test_the_emulators_are_not_served_in_production(base_settings):
    import os

    from idp import create_app
    from tests.unit.test_config import STRONG
    old = os.environ.get("IDP_ENV")
    os.environ["IDP_ENV"] = "production"
    try:
        app = create_app({**base_settings, "secret_key": STRONG,
                          "nts": {"adapter": "api", "service_key": "test-key"}})  # issue 7
    finally:
        os.environ["IDP_ENV"] = old or "testing"
    web = app.test_client()
    assert web.get("/dev/sns/google/.well-known/openid-configuration").status_code == 404
    assert web.get("/dev/sns/naver/oauth2.0/authorize").status_code == 404
    from idp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
