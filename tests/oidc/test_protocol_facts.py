"""Each protocol fact in one place (idp/protocol.py): discovery announces what the endpoints
check, and [keys] allowed_algs is honoured everywhere an algorithm is chosen or accepted."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from authlib.oauth2.rfc6749 import InvalidRequestError
from click.testing import CliRunner

from idp import create_app, protocol
from idp.cli import main
from idp.errors import InvalidInput
from idp.extensions import db
from idp.migrate import upgrade
from idp.services.clients import add_client
from idp.services.keys import ensure_keys
from tests.helpers import REDIRECT_URI, TestRP, callback_params

ES256_ONLY = {"allowed_algs": ["ES256"], "default_alg": "ES256"}


def _header(jwt: str) -> dict[str, Any]:
    part = jwt.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_discovery_announces_the_constants_the_endpoints_check(app, client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    server = app.extensions["authlib.server"]
    assert meta["token_endpoint_auth_methods_supported"] == list(protocol.CLIENT_AUTH_METHODS)
    for grant_cls, _ in server._token_grants:
        assert set(grant_cls.TOKEN_ENDPOINT_AUTH_METHODS) <= set(
            meta["token_endpoint_auth_methods_supported"]), grant_cls
    endpoints = {cls.ENDPOINT_NAME: cls for cls in
                 (type(e) for es in server._endpoints.values() for e in es)}
    assert meta["revocation_endpoint_auth_methods_supported"] == list(
        endpoints["revocation"].CLIENT_AUTH_METHODS)
    assert meta["introspection_endpoint_auth_methods_supported"] == list(
        endpoints["introspection"].CLIENT_AUTH_METHODS)
    assert meta["prompt_values_supported"] == list(protocol.PROMPT_VALUES)
    assert meta["grant_types_supported"] == list(protocol.GRANT_TYPES)
    assert meta["response_modes_supported"] == list(protocol.RESPONSE_MODES)
    assert meta["ui_locales_supported"] == list(protocol.UI_LOCALES)
    assert meta["id_token_signing_alg_values_supported"] == (
        app.config["IDP_SETTINGS"]["keys"]["allowed_algs"])


@pytest.mark.parametrize("prompt", protocol.PROMPT_VALUES)
def test_every_announced_prompt_value_is_accepted(prompt):
    from idp.oidc.authorize import check_prompt

    assert check_prompt({"prompt": prompt}, REDIRECT_URI) == {prompt}


def test_an_unannounced_prompt_value_is_refused():
    from idp.oidc.authorize import check_prompt

    with pytest.raises(InvalidRequestError):
        check_prompt({"prompt": "create"}, REDIRECT_URI)


@pytest.fixture()
def es256_app(tmp_path: Any) -> Iterator[Any]:
    """A provider that signs with ES256 only, on a database that never had an RS256 key."""
    url = f"sqlite:///{tmp_path / 'es256.sqlite3'}"
    upgrade(url)
    app = create_app({"database_url": url, "redis_url": "", "issuer": "http://127.0.0.1:5999",
                      "keys": ES256_ONLY})
    app.config["TESTING"] = True
    with app.app_context():
        ensure_keys(db.session, app.extensions["idp"].cipher, algs=["ES256"])
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


def test_discovery_lists_only_the_allowed_algs(es256_app):
    meta = es256_app.test_client().get("/.well-known/openid-configuration").get_json()
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]


def test_token_request_of_a_client_registered_with_a_disabled_alg_is_refused_cleanly(es256_app):
    # Registered while RS256 was allowed (the default list), then the operator allowed ES256
    # only: no RS256 key exists, and the token request used to end in a LookupError (500).
    web = es256_app.test_client()
    rp = TestRP.create(es256_app, alg="RS256")
    code = rp.code_flow(web)["code"]
    resp = rp.exchange(web, code)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"] == "unauthorized_client"
    assert "id_token_signed_response_alg" in body["error_description"]


def test_the_default_alg_signs_for_a_client_without_one(es256_app):
    web = es256_app.test_client()
    rp = TestRP.create(es256_app, alg="ES256")
    assert _header(rp.tokens(web)["id_token"])["alg"] == "ES256"


def test_registration_refuses_an_alg_the_provider_does_not_sign_with(es256_app):
    with es256_app.app_context(), pytest.raises(InvalidInput) as caught:
        add_client(db.session, name="RP", redirect_uris=[REDIRECT_URI],
                   grant_types=["authorization_code"], id_token_signed_response_alg="RS256",
                   allowed_algs=["ES256"])
    assert caught.value.field == "id_token_signed_response_alg"
    assert "ES256 only" in caught.value.message


def test_cli_refuses_an_alg_outside_allowed_algs(migrated):
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": migrated, "IDP_KEYS_ALLOWED_ALGS": "ES256",
           "IDP_KEYS_DEFAULT_ALG": "ES256"}
    runner = CliRunner()
    added = runner.invoke(main, ["clients", "add", "--name", "RP", "--redirect-uri", REDIRECT_URI,
                                 "--grant-type", "authorization_code", "--id-token-alg", "RS256",
                                 "--json"], env=env)
    assert added.exit_code == 1
    assert "id_token_signed_response_alg" in added.output and "ES256 only" in added.output
    rotated = runner.invoke(main, ["keys", "rotate", "--alg", "RS256", "--json"], env=env)
    assert rotated.exit_code == 1
    assert "RS256 is not in [keys] allowed_algs (ES256)" in rotated.output


def test_an_id_token_hint_signed_with_a_disabled_alg_is_not_accepted(app, client, rp):
    hint = rp.tokens(client)["id_token"]
    assert _header(hint)["alg"] == "RS256"
    accepted = rp.authorize(client, prompt="none", id_token_hint=hint)
    assert "code" in callback_params(accepted.headers["Location"], REDIRECT_URI)
    app.config["IDP_SETTINGS"]["keys"].update(ES256_ONLY)  # the RS256 key still exists
    refused = callback_params(
        rp.authorize(client, prompt="none", id_token_hint=hint).headers["Location"], REDIRECT_URI)
    assert refused["error"] == "invalid_request"


def test_a_logout_token_for_a_client_with_a_disabled_alg_uses_the_default(es256_app):
    from idp.models import OAuthClient
    from idp.oidc.jwts import make_logout_token

    rp = TestRP.create(es256_app, alg="RS256", member=False)
    with es256_app.app_context():
        client = db.session.query(OAuthClient).filter_by(client_id=rp.client_id).one()
        token = make_logout_token(es256_app.extensions["idp"], db.session, client, sub="s",
                                  sid="x")
    assert _header(token)["alg"] == "ES256"
