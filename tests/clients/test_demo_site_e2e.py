"""The demo site (clients/) against the real provider over HTTP, no browser needed:
sign in on site 1, SSO on site 2, log out on site 2, site 1 is logged out by back-channel."""

from __future__ import annotations

import threading
from urllib.parse import urljoin

import pytest
import requests
from werkzeug.serving import make_server

from clients.demo_site import create_app as create_site
from idp.extensions import db
from idp.oidc.logout import drain_backchannel
from idp.services.clients import add_client
from tests.conftest import free_port
from tests.helpers import PASSWORD, add_test_member, form_fields


@pytest.fixture()
def sites(app, live_server):
    servers, urls = [], []
    for site in (1, 2):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with app.app_context():
            client, secret = add_client(
                db.session, name=f"데모 사이트 {site}", redirect_uris=[f"{base}/callback"],
                post_logout_redirect_uris=[f"{base}/"],
                backchannel_logout_uri=f"{base}/backchannel-logout",
                grant_types=["authorization_code", "refresh_token"], first_party=True)
            client_id = client.client_id
            db.session.commit()
        site_app = create_site(site, live_server, {
            "client_id": client_id, "client_secret": secret,
            "redirect_uri": f"{base}/callback", "post_logout_redirect_uri": f"{base}/"})
        server = make_server("127.0.0.1", port, site_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls.append(base)
    add_test_member(app, "siteuser01", affiliation="approval_password", name="김승인")
    yield urls
    for server in servers:
        server.shutdown()


def _follow(browser: requests.Session, url: str) -> requests.Response:
    """Follow redirects by hand, signing in on the provider's login page when it shows."""
    resp = browser.get(url, allow_redirects=False, timeout=10)
    for _ in range(10):
        if resp.status_code in (302, 303):
            resp = browser.get(urljoin(resp.url, resp.headers["Location"]),
                               allow_redirects=False, timeout=10)
        elif resp.status_code == 200 and 'name="password"' in resp.text:
            action, hidden = form_fields(resp.text)
            resp = browser.post(urljoin(resp.url, action), allow_redirects=False, timeout=10,
                                data={**hidden, "login_id": "siteuser01",
                                      "password": PASSWORD})
        else:
            return resp
    raise AssertionError("too many redirects")


def test_sso_and_back_channel_logout_across_the_demo_sites(app, sites):
    site1, site2 = sites
    browser = requests.Session()
    home1 = _follow(browser, f"{site1}/login")
    assert home1.status_code == 200 and "김승인" in home1.text
    assert "1208200275" in home1.text  # the member's company, from the kotra claims
    assert _follow(browser, f"{site1}/services/other_service_application").status_code == 200
    assert _follow(browser, f"{site1}/services/service_mileage").status_code == 403

    home2 = _follow(browser, f"{site2}/login")  # SSO: no login form on the way
    assert home2.status_code == 200 and "김승인" in home2.text

    logout = browser.post(f"{site2}/logout", allow_redirects=False, timeout=10)
    _follow(browser, urljoin(f"{site2}/", logout.headers["Location"]))
    assert drain_backchannel(app).delivered == 2  # the worker's round (no thread here)
    after = browser.get(f"{site1}/", timeout=10)
    assert "김승인" not in after.text  # site 1 heard the back-channel logout token
