"""Cookies (issue 11 item 7): __Host- names and Secure on an https issuer, plain on http."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from idp.cookies import build_cookies
from idp.extensions import db
from tests.conftest import _clean, make_app
from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, callback_params, form_fields


@pytest.fixture()
def https_app(base_settings: dict[str, Any]) -> Iterator[Any]:
    app = make_app(base_settings, issuer="https://idp.example")
    _clean(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


def _set_cookies(resp) -> dict[str, str]:
    """Every Set-Cookie of a response by cookie name (not only the first header)."""
    return {c.split("=", 1)[0]: c for c in resp.headers.getlist("Set-Cookie")}


def _attrs(set_cookie: str) -> set[str]:
    return {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}


def _login(client, rp, **form):
    page = rp.authorize(client)
    assert page.status_code == 303
    browser = _set_cookies(page)
    html = client.get(page.headers["Location"]).get_data(as_text=True)
    action, hidden = form_fields(html)
    resp = client.post(action, data={**hidden, "login_id": rp.login_id, "password": PASSWORD,
                                     **form})
    return browser, resp


def test_https_cookies_are_host_prefixed_secure_and_host_only(https_app):
    client = https_app.test_client()
    rp = TestRP.create(https_app)
    browser, resp = _login(client, rp, remember_id="y")
    assert resp.status_code == 303
    assert "code" in callback_params(resp.headers["Location"], REDIRECT_URI)
    cookies = {**browser, **_set_cookies(resp)}
    for name in ("__Host-idp_browser", "__Host-idp_sso", "__Host-idp_remember_id"):
        assert name in cookies, sorted(cookies)
        attrs = _attrs(cookies[name])
        # RFC 6265bis §4.1.3.2: Secure, Path=/ and no Domain, or the browser drops it
        assert {"secure", "path", "httponly", "samesite"} <= attrs and "domain" not in attrs
        assert "Path=/" in cookies[name]
    assert not {"idp_sso", "idp_browser", "idp_remember_id"} & set(cookies)


def test_https_sso_session_is_found_and_logout_deletes_the_host_cookie(https_app):
    client = https_app.test_client()
    rp = TestRP.create(https_app)
    _login(client, rp)
    again = rp.authorize(client)  # the __Host- session cookie is read back: no login page
    assert again.status_code == 302 and "code" in callback_params(
        again.headers["Location"], REDIRECT_URI)
    out = client.get("/logout")
    _, hidden = form_fields(out.get_data(as_text=True))
    done = client.post("/logout/confirm", data={**hidden, "decision": "logout"})
    deleted = _set_cookies(done)["__Host-idp_sso"]
    assert "Max-Age=0" in deleted or "Expires=Thu, 01 Jan 1970" in deleted
    assert "secure" in _attrs(deleted)  # a __Host- deletion without Secure is ignored
    assert rp.authorize(client).status_code == 303  # signed out: the login page again


def test_https_csrf_cookie_is_host_prefixed(https_app):
    # The CSRF token lives in Flask's session cookie: a sibling subdomain must not plant it.
    rp = TestRP.create(https_app)
    client = https_app.test_client()
    page = client.get(rp.authorize(client).headers["Location"])
    cookies = _set_cookies(page)
    assert "__Host-idp_csrf" in cookies and "idp_csrf" not in cookies, sorted(cookies)
    assert {"secure", "path"} <= _attrs(cookies["__Host-idp_csrf"])
    assert "domain" not in _attrs(cookies["__Host-idp_csrf"])
    action, hidden = form_fields(page.get_data(as_text=True))
    resp = client.post(action, base_url="https://localhost",
                       headers={"Referer": "https://localhost/"},
                       data={**hidden, "login_id": rp.login_id, "password": PASSWORD})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]  # the token is read back


def test_https_language_cookie_is_secure(https_app):
    resp = https_app.test_client().get("/?lang=en")
    lang = _set_cookies(resp)["idp_lang"]
    assert "secure" in _attrs(lang) and "httponly" in _attrs(lang)


def test_http_loopback_keeps_plain_names_without_secure(client, rp):
    browser, resp = _login(client, rp, remember_id="y")
    cookies = {**browser, **_set_cookies(resp), **_set_cookies(client.get("/?lang=en"))}
    for name in ("idp_browser", "idp_sso", "idp_remember_id", "idp_lang"):
        assert name in cookies and "secure" not in _attrs(cookies[name]), sorted(cookies)
    assert not any(name.startswith("__Host-") for name in cookies)


def test_cookie_names_come_from_one_place():
    settings = {"session": {"cookie_name": "sso", "interaction_ttl": 60,
                            "remember_id_days": 1}}
    secure = build_cookies(settings, secure=True)
    assert (secure.sso.name, secure.browser.name, secure.remember_id.name, secure.lang.name) == (
        "__Host-sso", "__Host-idp_browser", "__Host-idp_remember_id", "idp_lang")
    assert all(c.secure for c in (secure.sso, secure.browser, secure.remember_id, secure.lang))
    plain = build_cookies(settings, secure=False)
    assert plain.sso.name == "sso" and not plain.sso.secure
