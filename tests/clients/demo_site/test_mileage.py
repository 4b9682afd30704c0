"""The demo site's mileage pages (clients/demo_site/mileage.py) with a fake API client."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from clients.demo_site.mileage_api import ApiProblem
from tests.clients.demo_site.support import signed_in

COMPANY = {"business_number": "1208200275", "name": "무역상사",
           "affiliation_method": "certificate", "affiliated_at": 1700000000}


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.refuse: ApiProblem | None = None

    def balance(self, bn: str) -> dict[str, Any]:
        return {"business_number": bn, "company_name": "무역상사", "balance": 5000,
                "updated_at": None}

    def entries(self, bn: str, limit: int = 10) -> list[dict[str, Any]]:
        return [{"id": 1, "kind": "earn", "amount": 5000, "balance_after": 5000,
                 "reason": "적립", "created_at": "2026-12-01T00:00:00Z"}]

    def record_participation(self, bn: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("participation", kw))
        if self.refuse:
            raise self.refuse
        return {"id": 1}

    def use(self, bn: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("use", kw))
        if self.refuse:
            raise self.refuse
        return {"amount": kw["amount"], "balance_after": 5000 - kw["amount"]}


@pytest.fixture
def api(app: Any) -> FakeApi:
    fake = FakeApi()
    app.extensions["demo_mileage_api"] = fake
    return fake


def _csrf(client: Any) -> dict[str, str]:
    import re

    html = client.get("/mileage").get_data(as_text=True)
    return {"csrf": re.search(r'name="csrf" value="([^"]+)"', html).group(1),
            "key": re.search(r'name="key" value="([^"]+)"', html).group(1)}


def _member(rp: Any, client: Any, acr: str = "urn:kotra:acr:password", **extra: Any) -> None:
    signed_in(rp, client, kotra_member_type="general", kotra_company=COMPANY, acr=acr,
              auth_time=int(time.time()), kotra_entitlements=["service_mileage"], **extra)


def test_the_page_shows_the_balance(rp: Any, client: Any, api: FakeApi) -> None:
    _member(rp, client)
    html = client.get("/mileage").get_data(as_text=True)
    assert "5,000점" in html and "마일리지 사용" in html and 'for="amount"' in html


def test_the_page_needs_a_signed_in_member_with_a_company(rp: Any, client: Any,
                                                          api: FakeApi) -> None:
    assert "/login" in client.get("/mileage").headers["Location"]
    signed_in(rp, client, kotra_member_type="general")
    assert client.get("/mileage").status_code == 403


def test_apply_records_a_participation_with_the_members_sub(rp: Any, client: Any,
                                                            api: FakeApi) -> None:
    _member(rp, client)
    fields = _csrf(client)
    assert client.post("/mileage/apply", data=fields).status_code == 303
    kind, call = api.calls[0]
    assert kind == "participation" and call["member"] == "user-1"
    assert call["key"] == fields["key"]
    assert "접수되었습니다" in client.get("/mileage").get_data(as_text=True)


def test_a_post_without_the_sites_csrf_token_is_refused(rp: Any, client: Any,
                                                        api: FakeApi) -> None:
    _member(rp, client)
    assert client.post("/mileage/apply", data={"csrf": "forged"}).status_code == 400
    assert client.post("/mileage/use", data={"amount": "1", "reason": "x"}).status_code == 400
    assert api.calls == []


def test_a_password_session_is_sent_to_the_certificate_step_up(rp: Any, client: Any,
                                                               api: FakeApi) -> None:
    _member(rp, client)
    resp = client.post("/mileage/use", data={**_csrf(client), "amount": "100",
                                             "reason": "번역"})
    assert resp.status_code == 303
    target = urlsplit(resp.headers["Location"])
    query = parse_qs(target.query)
    assert target.path == "/login" and query["acr_values"] == ["urn:kotra:acr:certificate"]
    assert query["prompt"] == ["login"]
    assert client.get(query["next"][0]).status_code == 403  # still at password level
    assert api.calls == []


def test_an_old_certificate_authentication_is_not_enough(rp: Any, client: Any,
                                                         api: FakeApi) -> None:
    signed_in(rp, client, kotra_member_type="general", kotra_company=COMPANY,
              acr="urn:kotra:acr:certificate", auth_time=int(time.time()) - 3600)
    resp = client.post("/mileage/use", data={**_csrf(client), "amount": "100",
                                             "reason": "번역"})
    assert urlsplit(resp.headers["Location"]).path == "/login"


def test_a_fresh_certificate_session_uses_at_once(rp: Any, client: Any, api: FakeApi) -> None:
    _member(rp, client, acr="urn:kotra:acr:certificate")
    resp = client.post("/mileage/use", data={**_csrf(client), "amount": "1,000",
                                             "reason": "번역"})
    resumed = client.get(resp.headers["Location"])
    assert resumed.status_code == 303
    assert api.calls[0][0] == "use" and api.calls[0][1]["amount"] == 1000
    assert api.calls[0][1]["member"] == "user-1"
    # The proof the API checks: the access token of the session (signed_in's "at").
    assert api.calls[0][1]["member_access_token"] == "at"
    assert "남은 잔액 4,000점" in client.get("/mileage").get_data(as_text=True)


def test_the_providers_step_up_refusal_becomes_a_korean_message(rp: Any, client: Any,
                                                                 api: FakeApi) -> None:
    """The site believed the session fresh, the provider did not (its own clock): say so."""
    _member(rp, client, acr="urn:kotra:acr:certificate")
    api.refuse = ApiProblem(403, {"type": "urn:kotra:problem:step-up-required"})
    resp = client.post("/mileage/use", data={**_csrf(client), "amount": "100",
                                             "reason": "번역"})
    client.get(resp.headers["Location"])
    html = client.get("/mileage").get_data(as_text=True)
    assert "기업 범용인증서로 다시 인증해야 합니다" in html


@pytest.mark.parametrize("amount", ["", "0", "-1", "abc", "1.5", "99999999999"])
def test_a_bad_amount_is_refused_with_a_message(rp: Any, client: Any, api: FakeApi,
                                                amount: str) -> None:
    _member(rp, client, acr="urn:kotra:acr:certificate")
    resp = client.post("/mileage/use", data={**_csrf(client), "amount": amount,
                                             "reason": "번역"})
    assert resp.headers["Location"].endswith("/mileage")
    assert "1 이상의 숫자" in client.get("/mileage").get_data(as_text=True)


def test_an_api_problem_becomes_a_korean_message(rp: Any, client: Any, api: FakeApi) -> None:
    _member(rp, client, acr="urn:kotra:acr:certificate")
    api.refuse = ApiProblem(409, {"type": "urn:kotra:problem:insufficient-balance",
                                  "balance": 30})
    resp = client.post("/mileage/use", data={**_csrf(client), "amount": "100",
                                             "reason": "번역"})
    client.get(resp.headers["Location"])
    html = client.get("/mileage").get_data(as_text=True)
    assert "마일리지 잔액이 부족합니다. (현재 잔액 30점)" in html


def test_another_member_cannot_resume_a_pending_use(rp: Any, client: Any, api: FakeApi,
                                                    app: Any) -> None:
    _member(rp, client)
    resp = client.post("/mileage/use", data={**_csrf(client), "amount": "100",
                                             "reason": "번역"})
    resume = parse_qs(urlsplit(resp.headers["Location"]).query)["next"][0]
    other = app.test_client()
    signed_in(rp, other, sub="user-2", kotra_member_type="general", kotra_company=COMPANY,
              acr="urn:kotra:acr:certificate", auth_time=int(time.time()))
    assert other.get(resume).status_code == 400
    assert api.calls == []


def test_a_site_without_the_api_scopes_says_so(rp: Any, client: Any, api: FakeApi) -> None:
    def refuse(bn: str) -> dict[str, Any]:
        raise ApiProblem(403, {"type": "urn:kotra:problem:insufficient-scope"})

    api.balance = refuse  # type: ignore[method-assign]
    _member(rp, client)
    resp = client.get("/mileage")
    assert resp.status_code == 502
    assert "마일리지 서비스 이용이 허용되지 않았습니다" in resp.get_data(as_text=True)
