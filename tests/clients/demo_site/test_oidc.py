"""Signing in and out (clients/demo_site/oidc.py): the code flow with PKCE against the fake
issuer, the callback's checks, prompt pass-through, RP-Initiated Logout."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.clients.demo_site.support import CLIENT, start_login


def test_full_code_flow_then_logout(issuer, rp, client):
    resp, q = start_login(client)
    assert resp.headers["Location"].startswith(issuer.url + "/authorize?")
    assert q["response_type"] == "code" and q["client_id"] == CLIENT["client_id"]
    assert q["scope"] == "openid profile email kotra"
    assert q["code_challenge_method"] == "S256" and q["redirect_uri"] == CLIENT["redirect_uri"]
    assert q["state"] and q["nonce"]
    assert client.get_cookie("demo_site1_session", domain="localhost") is not None
    issuer.codes["c-1"] = {
        "nonce": q["nonce"],
        "code_challenge": q["code_challenge"],
        "scope": q["scope"],
    }
    issuer.userinfo = {
        "sub": "user-1",
        "name": "홍길동",
        "preferred_username": "kotra01",
        "kotra_member_type": "general",
    }
    resp = client.get(f"/callback?code=c-1&state={q['state']}&iss={issuer.url}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "홍길동" in home and "kotra01" in home and "일반회원" in home
    assert "KOTRA 데모 사이트 1 — 설명회 신청" in home
    assert client.get("/services/other_service_application").status_code == 200

    resp = client.get("/logout")
    assert resp.status_code == 302
    loc = urlsplit(resp.headers["Location"])
    lq = {k: v[0] for k, v in parse_qs(loc.query).items()}
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == issuer.url + "/logout"
    assert lq["client_id"] == CLIENT["client_id"] and lq["id_token_hint"].count(".") == 2
    assert lq["post_logout_redirect_uri"] == CLIENT["post_logout_redirect_uri"]
    signed_out = client.get("/").get_data(as_text=True)
    assert "홍길동" not in signed_out and "KOTRA 통합회원으로 로그인하면" in signed_out
    assert "로그아웃되었습니다" in client.get(f"/?state={lq['state']}").get_data(as_text=True)


def test_callback_userinfo_sub_mismatch(issuer, client):
    _resp, q = start_login(client)
    issuer.codes["c-2"] = {
        "nonce": q["nonce"],
        "code_challenge": q["code_challenge"],
        "scope": q["scope"],
    }
    issuer.userinfo = {"sub": "somebody-else"}
    resp = client.get(f"/callback?code=c-2&state={q['state']}&iss={issuer.url}")
    assert resp.status_code == 400
    assert "일치하지 않습니다" in resp.get_data(as_text=True)


def test_prompt_none_passthrough_and_login_required(issuer, client):
    _resp, q = start_login(client, "?prompt=none")
    assert q["prompt"] == "none"
    resp = client.get(f"/callback?error=login_required&state={q['state']}&iss={issuer.url}")
    assert resp.status_code == 200
    # The words of login_required only ("로그인" alone is on every page), and still signed out.
    assert "<h2>로그인 필요</h2>" in resp.get_data(as_text=True)
    assert "통합회원 로그인 상태가 아닙니다" in resp.get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "KOTRA 통합회원으로 로그인하면" in home and "환영합니다" not in home


@pytest.mark.parametrize("variant", ["bad_state", "missing_iss", "wrong_iss", "access_denied"])
def test_callback_errors_show_korean_page(issuer, client, variant):
    _resp, q = start_login(client)
    params = {"code": "c-x", "state": q["state"], "iss": issuer.url}
    if variant == "bad_state":
        params["state"] = "forged"
    elif variant == "missing_iss":
        del params["iss"]
    elif variant == "wrong_iss":
        params["iss"] = "http://evil.example"
    else:
        params = {"error": "access_denied", "state": q["state"], "iss": issuer.url}
    resp = client.get("/callback", query_string=params)
    assert resp.status_code == 400
    assert "<h2>로그인" in resp.get_data(as_text=True)
