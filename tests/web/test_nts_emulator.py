"""The tax office's emulator (idp/web/nts_emulator.py) reached by the real adapter through the
provider (`nts.adapter = "emulator"` in testing), its vendor shapes and fault switches; the
[nts] settings and their production refusals."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from idp.adapters.nts import EMULATOR_SERVICE_KEY, NtsBusinessRegistry, NtsEmulatorRegistry
from idp.config import ConfigError, load_settings
from idp.extensions import db
from idp.services.ports import BusinessRegistryUnavailable
from idp.web.nts_emulator import set_mode, set_status
from idp.wiring import EmulatorInProduction, refuse_emulators_in_production

URL = "/dev/nts/api/nts-businessman/v1/status"
STRONG = "k3Vb0y7Xq2L9sPz4NwR8tYc1Hf6Jd5Ma"
PRODUCTION = {"IDP_SECRET_KEY": STRONG, "IDP_ISSUER": "https://login.kotra.example"}


def ask(app, numbers):
    with app.test_request_context():
        try:
            return app.extensions["idp"].business_registry.status(numbers)
        finally:
            db.session.rollback()


def switch(app, fn, *args, **kw):
    with app.app_context():
        fn(app.extensions["idp"].store, *args, **kw)
        db.session.commit()


def test_testing_picks_the_emulator_adapter(app):
    registry = app.extensions["idp"].business_registry
    assert isinstance(registry, NtsEmulatorRegistry) and registry.emulator
    assert registry.base_url.endswith("/dev/nts")


def test_demo_numbers_answer_their_states_through_the_real_adapter(app):
    got = ask(app, ["6638501035", "120-82-00275", "1018600011", "1018600025", "1018600030",
                    "1234567890"])
    assert {n: s.state for n, s in got.items()} == {
        "6638501035": "active", "1208200275": "active", "1018600011": "suspended",
        "1018600025": "closed", "1018600030": "unregistered",
        "1234567890": "unregistered"}  # a wrong check digit: never issued
    assert got["1018600025"].closed_on == dt.date(2024, 6, 30)


def test_a_switched_number_and_the_internal_error_mode(app):
    switch(app, set_status, "1248100998", "suspended")
    assert ask(app, ["1248100998"])["1248100998"].state == "suspended"
    switch(app, set_status, "1248100998", None)
    assert ask(app, ["1248100998"])["1248100998"].state == "active"
    switch(app, set_mode, "internal_error")
    with pytest.raises(BusinessRegistryUnavailable):
        ask(app, ["1248100998"])
    switch(app, set_mode, "down")
    with pytest.raises(BusinessRegistryUnavailable):
        ask(app, ["1248100998"])
    switch(app, set_mode, None)
    assert ask(app, ["1248100998"])["1248100998"].state == "active"


def test_the_slow_mode_makes_the_adapter_time_out(app):
    registry = app.extensions["idp"].business_registry
    registry.timeout = 0.1
    switch(app, set_mode, "slow", delay=0.3)
    with pytest.raises(BusinessRegistryUnavailable) as caught:
        ask(app, ["1248100998"])
    assert "Timeout" in str(caught.value)


def test_more_than_100_numbers_are_batched_by_the_adapter(app):
    numbers = [f"{i:010d}" for i in range(230)]
    assert len(ask(app, numbers)) == 230


def _post(client, body, key=EMULATOR_SERVICE_KEY):
    query = {"serviceKey": key} if key is not None else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(URL, query_string=query, data=data, content_type="application/json")


@pytest.mark.parametrize(("body", "key", "status", "answer"), [
    ("{not json", EMULATOR_SERVICE_KEY, 400, {"status_code": "BAD_JSON_REQUEST"}),
    ({"numbers": ["1248100998"]}, EMULATOR_SERVICE_KEY, 411,
     {"status_code": "REQUEST_DATA_MALFORMED"}),
    ({"b_no": []}, EMULATOR_SERVICE_KEY, 411, {"status_code": "REQUEST_DATA_MALFORMED"}),
    ({"b_no": ["1248100998"] * 101}, EMULATOR_SERVICE_KEY, 413,
     {"status_code": "TOO_LARGE_REQUEST"}),
    ({"b_no": ["1248100998"]}, "someone-elses-key", 401,
     {"code": -4, "msg": "등록되지 않은 인증키 입니다."}),
    ({"b_no": ["1248100998"]}, None, 401, {"code": -401, "msg": "유효하지 않은 인증키 입니다."}),
])
def test_the_emulator_answers_errors_in_the_vendors_shapes(client, body, key, status, answer):
    resp = _post(client, body, key)
    assert resp.status_code == status and resp.get_json() == answer


def test_the_emulator_answers_in_the_vendors_ok_shape(client):
    resp = _post(client, {"b_no": ["1018600025", "1018600030"]})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status_code"] == "OK" and body["request_cnt"] == 2 and body["match_cnt"] == 1
    closed, unregistered = body["data"]
    assert (closed["b_stt"], closed["b_stt_cd"], closed["end_dt"]) == ("폐업자", "03", "20240630")
    assert unregistered["b_stt_cd"] == "" and \
        unregistered["tax_type"] == "국세청에 등록되지 않은 사업자등록번호입니다."
    assert set(closed) == set(unregistered) == {
        "b_no", "b_stt", "b_stt_cd", "tax_type", "tax_type_cd", "end_dt", "utcc_yn",
        "tax_type_change_dt", "invoice_apply_dt", "rbf_tax_type", "rbf_tax_type_cd"}


def test_the_emulator_is_post_only(client):
    assert client.get(URL, query_string={"serviceKey": EMULATOR_SERVICE_KEY}).status_code == 405


# --- settings -----------------------------------------------------------------------------

def test_base_url_and_service_key_come_from_their_environment_variables():
    settings = load_settings({}, environ={**PRODUCTION, "IDP_NTS_BASE_URL": "https://nts.example",
                                         "IDP_NTS_SERVICE_KEY": "k+y/=="})
    assert settings["nts"]["base_url"] == "https://nts.example"
    registry = NtsBusinessRegistry.from_settings(settings)
    assert registry.service_key == "k+y/==" and registry.base_url == "https://nts.example"
    assert settings["nts"]["adapter"] == "api"


def test_production_refuses_the_api_without_a_service_key():
    with pytest.raises(ConfigError) as caught:
        load_settings({}, environ=PRODUCTION)
    assert caught.value.problems == [
        "nts.service_key (IDP_NTS_SERVICE_KEY): missing; the tax office's business-status API "
        "(nts.adapter = \"api\") needs the data.go.kr service key of dataset 15081808 "
        "(국세청_사업자등록정보 진위확인 및 상태조회)"]


def test_production_refuses_a_plain_http_tax_office():
    with pytest.raises(ConfigError) as caught:
        load_settings({}, environ={**PRODUCTION, "IDP_NTS_SERVICE_KEY": "k",
                                   "IDP_NTS_BASE_URL": "http://api.odcloud.kr"})
    assert caught.value.problems == [
        "nts.base_url (IDP_NTS_BASE_URL): must be https in production (the service key "
        "travels in the URL); got 'http://api.odcloud.kr'"]
    assert load_settings({}, environ={**PRODUCTION, "IDP_NTS_SERVICE_KEY": "k",
                                      "IDP_NTS_BASE_URL": "http://127.0.0.1:8080"})


def test_production_refuses_the_emulator():
    with pytest.raises(EmulatorInProduction) as caught:
        refuse_emulators_in_production({"env": "production", "nts": {"adapter": "emulator"}})
    assert "IDP_NTS_ADAPTER" in str(caught.value) and "set it to api" in str(caught.value)


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("IDP_NTS_ADAPTER", "fake", "nts.adapter (IDP_NTS_ADAPTER): must be one of"),
    ("IDP_NTS_TIMEOUT", "0", "nts.timeout (IDP_NTS_TIMEOUT)"),
    ("IDP_NTS_CACHE_SECONDS", "-1", "nts.cache_seconds (IDP_NTS_CACHE_SECONDS)"),
    ("IDP_NTS_BASE_URL", "api.odcloud.kr", "nts.base_url (IDP_NTS_BASE_URL): must be an http(s)"),
])
def test_wrong_nts_settings_are_named(variable, value, says):
    with pytest.raises(ConfigError) as caught:
        load_settings({}, environ={"IDP_ENV": "testing", variable: value})
    assert any(p.startswith(says) for p in caught.value.problems), caught.value.problems


def test_the_emulator_is_absent_in_production(base_settings, monkeypatch):
    import secrets

    from idp import create_app

    monkeypatch.setenv("IDP_ENV", "production")
    app = create_app({**base_settings, "secret_key": secrets.token_urlsafe(32),
                      "email": {"adapter": "smtp"}, "sms": {"adapter": "http"},
                      "nts": {"adapter": "api", "service_key": "test-key"}})
    try:
        assert isinstance(app.extensions["idp"].business_registry, NtsBusinessRegistry)
        assert not getattr(app.extensions["idp"].business_registry, "emulator", False)
        resp = _post(app.test_client(), {"b_no": ["1248100998"]})
        assert resp.status_code == 404
    finally:
        with app.app_context():
            db.engine.dispose()
        app.extensions["idp"].store.close()


def test_outside_an_app_context_the_emulator_is_unavailable(app):
    with pytest.raises(BusinessRegistryUnavailable):
        app.extensions["idp"].business_registry.status(["1248100998"])


def test_development_picks_the_emulator_and_it_answers(tmp_path, monkeypatch):
    from idp import create_app
    from idp.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    upgrade(url)
    monkeypatch.setenv("IDP_ENV", "development")
    dev = create_app({"database_url": url})
    try:
        with dev.test_request_context():
            got = dev.extensions["idp"].business_registry.status(["1018600025", "6638501035"])
        assert got["1018600025"].state == "closed" and got["6638501035"].state == "active"
    finally:
        with dev.app_context():
            db.engine.dispose()
        dev.extensions["idp"].store.close()
