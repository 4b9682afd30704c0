"""The interests picker's search endpoints (GET /interests/hs, /interests/countries) and the
plain search page: answers, bad input (400, never 500), the rate limit (429)."""

from __future__ import annotations

from typing import Any

import pytest

from idp.extensions import db
from idp.services import hs


@pytest.fixture(autouse=True)
def fresh_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every search checks the table's version (the suite empties tables between tests
    without telling this process's index; in production a second of staleness is fine)."""
    monkeypatch.setattr(hs, "VERSION_CHECK_SECONDS", 0.0)


@pytest.fixture()
def loaded(app: Any) -> Any:
    with app.app_context():
        hs.load_builtin(db.session)
    return app


def test_hs_search_in_korean(loaded: Any) -> None:
    resp = loaded.test_client().get("/interests/hs", query_string={"q": "초콜릿"})
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    data = resp.get_json()
    found = [r["code"] for r in data["results"]]
    assert {"1704", "1806", "843820"} <= set(found)
    first = data["results"][0]
    assert first == {"code": "1806", "label": "1806", "level": 4,
                     "name": "초콜릿과 코코아를 함유한 그 밖의 조제 식료품",
                     "name_ko": "초콜릿과 코코아를 함유한 그 밖의 조제 식료품",
                     "name_en": "Chocolate and other food preparations containing cocoa",
                     "chip": "1806 초콜릿과 코코아를 함유한 그 밖의 조제 식료품"}
    machine = next(r for r in data["results"] if r["code"] == "843820")
    assert machine["label"] == "8438.20"


def test_hs_search_in_english_on_an_english_page(loaded: Any) -> None:
    client = loaded.test_client()
    resp = client.get("/interests/hs", query_string={"q": "chocolate", "lang": "en"},
                      headers={"Accept-Language": "en"})
    data = resp.get_json()
    assert data["results"][0]["code"] == "1806"
    assert data["results"][0]["name"] == "Chocolate and other food preparations containing cocoa"


@pytest.mark.parametrize("q", ["1806", "18.06", "18 06"])
def test_hs_search_by_code(loaded: Any, q: str) -> None:
    data = loaded.test_client().get("/interests/hs", query_string={"q": q}).get_json()
    assert [r["code"] for r in data["results"]][:2] == ["1806", "180610"]


@pytest.mark.parametrize("args", [
    {"q": ""}, {}, {"q": "!!!"}, {"q": "ㅋㅋㅋ"}, {"q": "%"}, {"q": "초콜릿", "limit": "abc"},
    {"q": "초콜릿", "limit": "-5"}, {"q": "초콜릿", "limit": "99999999999999999999"},
    {"q": "<script>alert(1)</script>"},
])
def test_hs_search_odd_input_answers_200(loaded: Any, args: dict[str, str]) -> None:
    resp = loaded.test_client().get("/interests/hs", query_string=args)
    assert resp.status_code == 200
    assert isinstance(resp.get_json()["results"], list)


@pytest.mark.parametrize("path", ["/interests/hs", "/interests/countries"])
@pytest.mark.parametrize("q", ["x" * 101, "가" * 5000, "a\x00b"])
def test_too_long_or_nul_query_is_400(loaded: Any, path: str, q: str) -> None:
    resp = loaded.test_client().get(path, query_string={"q": q})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_request"


def test_hs_search_on_an_empty_table_finds_nothing(app: Any) -> None:
    resp = app.test_client().get("/interests/hs", query_string={"q": "초콜릿"})
    assert resp.status_code == 200
    assert resp.get_json()["results"] == []


def test_country_search(app: Any) -> None:
    client = app.test_client()
    data = client.get("/interests/countries", query_string={"q": "수리남"}).get_json()
    assert data["results"][0] == {"code": "SR", "label": "SR", "name": "수리남",
                                  "name_ko": "수리남", "name_en": "Suriname",
                                  "chip": "수리남(Suriname)"}
    every = client.get("/interests/countries").get_json()["results"]
    assert len(every) == 249
    assert every[0]["name_ko"] == "가나"
    assert client.get("/interests/countries", query_string={"q": "zzzz"}).get_json()[
        "results"] == []


def test_endpoints_are_get_only(app: Any) -> None:
    client = app.test_client()
    assert client.post("/interests/hs", data={"q": "1806"}).status_code in (400, 405)


def test_rate_limit_per_client_address(loaded: Any, clock: Any) -> None:
    loaded.config["IDP_SETTINGS"]["interests"]["search_per_minute"] = 3
    client = loaded.test_client()
    for _ in range(3):
        assert client.get("/interests/hs", query_string={"q": "1806"}).status_code == 200
    refused = client.get("/interests/countries", query_string={"q": "미국"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    other = client.get("/interests/hs", query_string={"q": "1806"},
                       environ_base={"REMOTE_ADDR": "192.0.2.77"})
    assert other.status_code == 200  # another address has its own budget
    page = client.get("/interests/search", query_string={"q": "1806"})
    assert page.status_code == 429
    clock.advance(61)
    assert client.get("/interests/hs", query_string={"q": "1806"}).status_code == 200


def test_search_page_without_script(loaded: Any) -> None:
    client = loaded.test_client()
    resp = client.get("/interests/search", query_string={"kind": "hs", "q": "초콜릿"})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "HS Code 검색" in page
    assert "843820" in page and "1704" in page
    countries = client.get("/interests/search", query_string={"kind": "country", "q": "미국"})
    assert "United States" in countries.get_data(as_text=True)
    bad = client.get("/interests/search", query_string={"kind": "nope", "q": "x" * 500})
    assert bad.status_code == 400
    assert "100자" in bad.get_data(as_text=True)
    empty = client.get("/interests/search")
    assert empty.status_code == 200


def test_refusals_are_worded_in_the_pages_language(loaded: Any) -> None:
    from idp.services.interests import InterestsRefused, save_interests
    from idp.web.interests import refusal_message

    for lang, expected in (("ko", "없는 HS 코드입니다: 9999"),
                           ("en", "Unknown HS code: 9999")):
        with loaded.test_request_context(f"/?lang={lang}", headers={"Accept-Language": lang}):
            with pytest.raises(InterestsRefused) as caught:
                save_interests(db.session, 1, ["9999"], [])
            assert refusal_message(caught.value) == expected
    with loaded.test_request_context("/?lang=en", headers={"Accept-Language": "en"}):
        with pytest.raises(InterestsRefused) as too_many:
            save_interests(db.session, 1, [], ["US", "JP"], max_countries=1)
        assert refusal_message(too_many.value) == "You can choose up to 1 countries."
