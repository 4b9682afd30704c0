"""Behind TLS: a login over https (TLS at the app, or the scheme forwarded by a trusted proxy),
HSTS, and the CSP form-action of pages whose form ends at a relying party."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from idp import form_action_policy
from tests.conftest import _clean, make_app
from tests.helpers import PASSWORD, REDIRECT_URI, TestRP, callback_params, form_fields

ISSUER = "https://login.kotra.example"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


class At:
    """A test client whose every request goes to `base_url` (scheme and host)."""

    def __init__(self, app: Any, base_url: str) -> None:
        self._client, self._base = app.test_client(), base_url

    def get(self, path: str, **kw: Any) -> Any:
        return self._client.get(path, base_url=self._base, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self._client.post(path, base_url=self._base, **kw)


def _app(base_settings: dict[str, Any], **overrides: Any) -> Iterator[Any]:
    app = make_app(base_settings, **overrides)
    _clean(app)
    yield app
    from idp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["idp"].store.close()


@pytest.fixture()
def https_app(base_settings: dict[str, Any]) -> Iterator[Any]:
    """TLS reaches the app (or no proxy is trusted): https issuer, no proxy hops."""
    yield from _app(base_settings, issuer=ISSUER)


@pytest.fixture()
def proxied_app(base_settings: dict[str, Any]) -> Iterator[Any]:
    """One trusted reverse proxy terminates TLS and forwards the scheme."""
    yield from _app(base_settings, issuer=ISSUER, server={"trusted_proxies": 1})


def _login_page(web: Any, rp: TestRP, prompt: str | None = None, **headers: str
                ) -> tuple[str, Any]:
    start = web.get("/authorize", query_string=rp.authorize_params(prompt=prompt),
                    headers=headers)
    assert start.status_code == 303, start.get_data(as_text=True)[:300]
    location = start.headers["Location"]
    page = web.get(location, headers=headers)
    assert page.status_code == 200
    return location, page


def _submit(web: Any, page: Any, referer: str | None, **headers: str) -> Any:
    action, hidden = form_fields(page.get_data(as_text=True))
    if referer:
        headers["Referer"] = referer
    return web.post(action, data={**hidden, "login_id": "member01", "password": PASSWORD},
                    headers=headers)


def test_login_over_https_when_tls_reaches_the_app(https_app):
    web = At(https_app, ISSUER)
    rp = TestRP.create(https_app)
    location, page = _login_page(web, rp)
    # The page lets the browser send a Referer to ourselves, which the strict https CSRF
    # check needs (with no-referrer every https login was refused).
    assert page.headers["Referrer-Policy"] == "same-origin"
    done = _submit(web, page, referer=ISSUER + location)
    assert done.status_code == 303, done.get_data(as_text=True)[:500]
    assert "code" in callback_params(done.headers["Location"], REDIRECT_URI)


def test_https_login_without_a_referer_is_still_refused(https_app):
    """The strict Referer check stays on: it is what the same-origin policy feeds."""
    web = At(https_app, ISSUER)
    _, page = _login_page(web, TestRP.create(https_app))
    refused = _submit(web, page, referer=None)
    assert refused.status_code == 400
    assert "Location" not in refused.headers


def test_https_login_with_another_sites_referer_is_refused(https_app):
    web = At(https_app, ISSUER)
    _, page = _login_page(web, TestRP.create(https_app))
    assert _submit(web, page, referer="https://evil.example/login").status_code == 400


def test_login_when_a_trusted_proxy_forwards_the_scheme(proxied_app):
    web = At(proxied_app, "http://login.kotra.example")  # proxy -> app: http
    rp = TestRP.create(proxied_app)
    location, page = _login_page(web, rp, **FORWARDED)
    done = _submit(web, page, referer=ISSUER + location, **FORWARDED)
    assert done.status_code == 303, done.get_data(as_text=True)[:500]
    assert "code" in callback_params(done.headers["Location"], REDIRECT_URI)
    # The scheme was honoured: without a Referer the strict https check refuses.
    _, page = _login_page(web, rp, prompt="login", **FORWARDED)
    assert _submit(web, page, referer=None, **FORWARDED).status_code == 400
    assert "203.0.113.7" in _audit_ips(proxied_app)  # and the forwarded address


def _audit_ips(app: Any) -> set[str | None]:
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models import AuditEvent

    with app.app_context():
        return set(db.session.scalars(select(AuditEvent.ip)))


def test_a_forwarded_scheme_from_an_untrusted_peer_is_ignored(app, client, rp):
    # No trusted proxy (server.trusted_proxies = 0): X-Forwarded-Proto from the peer does not
    # make the request https, so no Referer is demanded...
    _, page = _login_page(client, rp, **FORWARDED)
    done = _submit(client, page, referer=None, **FORWARDED)
    assert done.status_code == 303, done.get_data(as_text=True)[:500]
    # ...and the client address is the peer's, not the forwarded one.
    ips = _audit_ips(app)
    assert "127.0.0.1" in ips and "203.0.113.7" not in ips


def test_hsts_only_when_the_issuer_is_https(https_app, client, rp):
    web = At(https_app, ISSUER)
    _, page = _login_page(web, TestRP.create(https_app, login_id="member02"))
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert web.get("/healthz").headers["Strict-Transport-Security"] == "max-age=31536000"
    _, plain = _login_page(client, rp)
    assert "Strict-Transport-Security" not in plain.headers


def test_login_page_form_action_allows_only_us_and_the_pending_redirect_uri(client, rp):
    _, page = _login_page(client, rp)
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://rp.example;" in csp + ";"
    assert "frame-ancestors 'none'" in csp
    action, hidden = form_fields(page.get_data(as_text=True))
    wrong = client.post(action, data={**hidden, "login_id": "member01",
                                      "password": "Wrong!pass123"})
    assert wrong.status_code == 401  # the page shown again keeps the same policy
    assert "form-action 'self' https://rp.example" in wrong.headers["Content-Security-Policy"]


def test_consent_page_form_action_allows_the_redirect_uri(app, client):
    rp = TestRP.create(app, first_party=False)
    _, page = _login_page(client, rp)
    login = _submit(client, page, referer=None)
    assert login.status_code == 303 and "/consent" in login.headers["Location"]
    consent = client.get(login.headers["Location"])
    assert consent.status_code == 200
    assert "form-action 'self' https://rp.example" in consent.headers["Content-Security-Policy"]


def test_logout_confirmation_allows_only_the_registered_post_logout_uri(client, rp):
    rp.tokens(client)
    page = client.get("/logout", query_string={
        "client_id": rp.client_id, "post_logout_redirect_uri": "https://rp.example/bye"})
    assert page.status_code == 200 and "로그아웃하시겠습니까?" in page.get_data(as_text=True)
    assert "form-action 'self' https://rp.example" in page.headers["Content-Security-Policy"]
    bare = client.get("/logout", query_string={"client_id": rp.client_id})
    assert bare.headers["Content-Security-Policy"].endswith("form-action 'self'")


def test_other_pages_post_to_ourselves_only(client, rp):
    rp.tokens(client)
    home = client.get("/")
    assert home.status_code == 200
    assert home.headers["Content-Security-Policy"].endswith("; form-action 'self'")


@pytest.mark.parametrize(("target", "policy"), [
    (None, "form-action 'self'"),
    ("https://rp.example/cb?x=1", "form-action 'self' https://rp.example"),
    ("http://127.0.0.1:5001/callback", "form-action 'self' http://127.0.0.1:5001"),
    # CSP cannot name an IPv6 literal: the scheme, rather than a broken sign-in.
    ("http://[::1]:5001/callback", "form-action 'self' http:"),
    ("https://a.example;script-src *", "form-action 'self' https:"),
    ("javascript:alert(1)", "form-action 'self'"),
])
def test_form_action_policy(target, policy):
    assert form_action_policy(target) == policy
