"""The vendor round trip of identity verification (idp/web/verification.py) with a scripted
verifier: start → vendor → callback → `next?vr=`, taken once; refusals, replays, open
redirects and cross-site POST callbacks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from idp.extensions import db
from idp.models import AuditEvent
from idp.services.ports import (
    VendorStart,
    VendorUnavailable,
    VerificationFailed,
    VerifiedIdentity,
)
from tests.helpers import verified_identity


class ScriptedVerifier:
    vendor = "scripted"

    def __init__(self) -> None:
        self.answer: VerifiedIdentity | Exception = verified_identity()
        self.begin_error: Exception | None = None
        self.http_method = "GET"
        self.seen: list[tuple[str, Mapping[str, Any], Mapping[str, str]]] = []

    def begin(self, request_id: str, method: str, callback_url: str) -> VendorStart:
        if self.begin_error:
            raise self.begin_error
        return VendorStart(url="https://vendor.example/auth?cb=" + callback_url,
                           http_method=self.http_method, fields={"tx": request_id},
                           state={"tx": request_id})

    def finish(self, request_id: str, method: str, state: Mapping[str, Any],
               params: Mapping[str, str]) -> VerifiedIdentity:
        self.seen.append((request_id, state, params))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture()
def vendor(app: Any) -> ScriptedVerifier:
    v = ScriptedVerifier()
    app.extensions["idp"].identity_verifiers = {"mobile": v}
    return v


def _start(client: Any, nxt: str = "/next/page") -> tuple[str, Any]:
    resp = client.get("/verify/start", query_string={"method": "mobile", "purpose": "signup",
                                                     "next": nxt})
    assert resp.status_code == 303, resp.data
    cb = parse_qs(urlsplit(resp.headers["Location"]).query)["cb"][0]
    return urlsplit(cb).path, resp


def _take(app: Any, client: Any, location: str) -> VerifiedIdentity:
    rid = parse_qs(urlsplit(location).query)["vr"][0]
    with app.test_request_context("/", query_string={"vr": rid},
                                  headers={"Cookie": f"idp_browser={_browser(client)}"}):
        from idp.web.verification import take_verification

        identity = take_verification("signup")
        db.session.commit()
        return identity


def _browser(client: Any) -> str:
    return str(client.get_cookie("idp_browser").value)


def test_round_trip_ends_on_next_with_a_result_taken_once(app, client, vendor) -> None:
    cb, start = _start(client)
    assert "idp_browser" in start.headers.get("Set-Cookie", "")
    back = client.post(cb, data={"token": "t"})
    assert back.status_code == 303
    assert back.headers["Location"].startswith("/next/page?vr=")
    assert vendor.seen[0][1]["tx"] and vendor.seen[0][2] == {"token": "t"}
    assert _take(app, client, back.headers["Location"]).name == "홍길동"
    with pytest.raises(Exception) as again:
        _take(app, client, back.headers["Location"])
    assert getattr(again.value, "reason", None) == "expired"
    with app.app_context():
        assert db.session.query(AuditEvent).filter_by(event="identity.verified").count() == 1


def test_a_replayed_callback_is_refused(app, client, vendor) -> None:
    cb, _ = _start(client)
    client.get(cb)
    replay = client.get(cb)
    assert replay.status_code == 400
    assert "본인확인 시간이 지났습니다" in replay.get_data(as_text=True)
    assert len(vendor.seen) == 1


def test_a_callback_in_another_browser_is_refused(app, client, vendor) -> None:
    cb, _ = _start(client)
    other = app.test_client()
    assert other.get(cb).status_code == 400
    assert vendor.seen == []


@pytest.mark.parametrize(("answer", "reason"), [
    (VerificationFailed("cancelled"), "cancelled"),
    (VendorUnavailable("timeout"), "unavailable"),
])
def test_vendor_refusals_come_back_as_reasons(app, client, vendor, answer, reason) -> None:
    vendor.answer = answer
    cb, _ = _start(client)
    back = client.get(cb)
    with pytest.raises(Exception) as exc:
        _take(app, client, back.headers["Location"])
    assert getattr(exc.value, "reason", None) == reason
    with app.app_context():
        ev = db.session.query(AuditEvent).filter_by(event="identity.refused").one()
        assert ev.detail["reason"] == reason


def test_a_vendor_down_at_start_returns_to_the_page(app, client, vendor) -> None:
    vendor.begin_error = VendorUnavailable("down")
    resp = client.get("/verify/start", query_string={"method": "mobile", "purpose": "signup",
                                                     "next": "/p"})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/p?vr=")


@pytest.mark.parametrize("nxt", ["https://evil.example/", "//evil.example/x", "/\\evil", "",
                                 "/\t/[x", "/\t/evil.example", "javascript:alert(1)"])
def test_next_must_be_a_path_here(client, vendor, nxt) -> None:
    resp = client.get("/verify/start", query_string={"method": "mobile", "purpose": "signup",
                                                     "next": nxt})
    assert resp.status_code == 400


def test_unknown_method_or_purpose_is_400_and_unconfigured_method_is_explained(client,
                                                                               vendor) -> None:
    assert client.get("/verify/start?method=fax&purpose=signup&next=/").status_code == 400
    assert client.get("/verify/start?method=mobile&purpose=x&next=/").status_code == 400
    card = client.get("/verify/start?method=card&purpose=signup&next=/")
    assert card.status_code == 400 and "준비 중" in card.get_data(as_text=True)


def test_a_cross_site_post_without_the_cookie_is_relayed_from_this_origin(app, client,
                                                                          vendor) -> None:
    cb, _ = _start(client)
    cookieless = app.test_client()
    relay = cookieless.post(cb, data={"token": "t"})
    assert relay.status_code == 200 and vendor.seen == []
    page = relay.get_data(as_text=True)
    assert 'name="_relayed" value="1"' in page and 'name="token" value="t"' in page
    back = client.post(cb, data={"token": "t", "_relayed": "1"})
    assert back.status_code == 200 and vendor.seen[0][2] == {"token": "t"}
    # on by a GET link (no form-action limit on the redirects to a relying party)
    assert 'data-autofollow href="/next/page?vr=' in back.get_data(as_text=True)


def test_a_post_vendor_gets_an_auto_submitted_form_allowed_by_csp(client, vendor) -> None:
    vendor.http_method = "POST"
    resp = client.get("/verify/start?method=mobile&purpose=signup&next=/p")
    assert resp.status_code == 200
    assert "form-action 'self' https://vendor.example" in resp.headers["Content-Security-Policy"]
    assert 'name="tx"' in resp.get_data(as_text=True)


def test_starts_are_limited_per_address(app, client, vendor, monkeypatch) -> None:
    monkeypatch.setitem(app.extensions["idp"].settings["identity"], "starts_per_ip", 3)
    url = "/verify/start?method=mobile&purpose=signup&next=/p"
    assert [client.get(url).status_code for _ in range(4)] == [303, 303, 303, 429]
    assert "너무 많습니다" in client.get(url).get_data(as_text=True)
