"""The demo site's mileage pages against the real provider over HTTP (issue 7): the seeded demo
site gets a client_credentials token with the API's scopes, shows the company's balance, records
a participation when the member applies, and uses mileage only after a certificate-level
authentication (acr_values, prompt=login)."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from clients.demo_site import create_app as create_site
from idp.demo import DEMO_COMPANY, DEMO_MILEAGE, DEMO_PASSWORD, seed
from idp.extensions import db
from idp.models import Member, OAuthClient
from idp.models.companies import MileageEntry, ServiceParticipation
from idp.models.tokens import Token, token_hash
from tests.api_contract import Contract
from tests.conftest import free_port
from tests.helpers import form_fields

ACR_CERTIFICATE = "urn:kotra:acr:certificate"


@pytest.fixture()
def demo_site(app: Any, live_server: str, tmp_path: Any) -> Any:
    """Demo site 1 as `make run` seeds it (its client, scopes and the company's mileage)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with app.app_context():
        seed(db.session, app.extensions["idp"], tmp_path / "clients.json")
        client = db.session.scalar(select(OAuthClient).where(
            OAuthClient.client_id == "demo-site-1"))
        client.redirect_uris = [f"{base}/callback"]  # this test's port, not 5001
        client.post_logout_redirect_uris = [f"{base}/"]
        db.session.commit()
    creds = json.loads((tmp_path / "clients.json").read_text())["site1"]
    site_app = create_site(1, live_server, {
        "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "redirect_uri": f"{base}/callback", "post_logout_redirect_uri": f"{base}/"})
    # Every answer of the API the site gets is checked against the provider's document.
    contract = Contract(requests.get(f"{live_server}/api/openapi.json", timeout=10).json())
    checked: list[str] = []

    def check(resp: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if urlsplit(resp.url).path.startswith("/api/v1/"):
            contract.check_response(resp.request.method or "GET", resp.url, resp)
            checked.append(resp.url)

    site_app.extensions["demo_site"].provider.http.hooks["response"].append(check)
    site_app.config["API_CHECKED"] = checked
    server = make_server("127.0.0.1", port, site_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base, site_app
    server.shutdown()
    site_app.extensions["demo_site"].close()


def _follow(browser: requests.Session, url: str, login_id: str) -> requests.Response:
    resp = browser.get(url, allow_redirects=False, timeout=10)
    for _ in range(10):
        if resp.status_code in (302, 303):
            resp = browser.get(urljoin(resp.url, resp.headers["Location"]),
                               allow_redirects=False, timeout=10)
        elif resp.status_code == 200 and 'name="password"' in resp.text:
            action, hidden = form_fields(resp.text)
            resp = browser.post(urljoin(resp.url, action), allow_redirects=False, timeout=10,
                                data={**hidden, "login_id": login_id,
                                      "password": DEMO_PASSWORD})
        else:
            return resp
    raise AssertionError("too many redirects")


def _form(html: str, action: str) -> dict[str, str]:
    block = html.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="(csrf|key)" value="([^"]*)"', block))


def _member_id(app: Any, login_id: str) -> int:
    with app.app_context():
        member_id: int = db.session.scalar(select(Member.id).where(Member.login_id == login_id))
        return member_id


def test_the_demo_site_shows_the_balance_and_records_a_participation(app: Any,
                                                                     demo_site: Any) -> None:
    base, _site_app = demo_site
    browser = requests.Session()
    assert _follow(browser, f"{base}/login", "democert1").status_code == 200
    page = _follow(browser, f"{base}/mileage", "democert1")
    assert page.status_code == 200, page.text[:300]
    assert f"{DEMO_MILEAGE:,}점" in page.text and DEMO_COMPANY[1] in page.text
    fields = _form(page.text, "/mileage/apply")
    applied = browser.post(f"{base}/mileage/apply", data=fields, allow_redirects=False,
                           timeout=10)
    assert applied.status_code == 303
    again = browser.post(f"{base}/mileage/apply", data=fields, allow_redirects=False,
                         timeout=10)  # the same form twice: one participation
    assert again.status_code == 303
    after = browser.get(f"{base}/mileage", timeout=10)
    assert "접수되었습니다" in after.text
    with app.app_context():
        rows = list(db.session.scalars(select(ServiceParticipation)))
        assert len(rows) == 1
        assert rows[0].member_id == _member_id(app, "democert1")
        assert rows[0].client_id == "demo-site-1" and rows[0].service == "수출상담회 참가 신청"


def test_mileage_use_demands_a_certificate_step_up_first(app: Any, demo_site: Any) -> None:
    base, site_app = demo_site
    browser = requests.Session()
    _follow(browser, f"{base}/login", "democert1")
    page = browser.get(f"{base}/mileage", timeout=10)
    fields = _form(page.text, "/mileage/use")
    resp = browser.post(f"{base}/mileage/use", allow_redirects=False, timeout=10,
                        data={**fields, "amount": "1,200", "reason": "번역 서비스"})
    assert resp.status_code == 303
    login = urlsplit(resp.headers["Location"])
    assert login.path == "/login"
    query = parse_qs(login.query)
    assert query["acr_values"] == [ACR_CERTIFICATE] and query["prompt"] == ["login"]
    ticket_path = query["next"][0]
    # The site sends the browser to the provider with acr_values and prompt=login.
    start = browser.get(urljoin(base, resp.headers["Location"]), allow_redirects=False,
                        timeout=10)
    authorize = parse_qs(urlsplit(start.headers["Location"]).query)
    assert authorize["acr_values"] == [ACR_CERTIFICATE] and authorize["prompt"] == ["login"]
    # Without the certificate level, nothing is used.
    refused = browser.get(urljoin(base, ticket_path), allow_redirects=False, timeout=10)
    assert refused.status_code == 403 and "기업 범용인증서" in refused.text
    with app.app_context():
        assert db.session.scalar(select(MileageEntry).where(MileageEntry.kind == "use")) is None
    # The certificate login itself is the NPKI helpers' (browser tests); here the site's
    # session holds what its callback stores after one: acr certificate, just now — and the
    # provider's record of the session's access token says so too (what the code flow after a
    # certificate login writes).
    rp = site_app.extensions["demo_site"]
    sess = rp.sessions.get(browser.cookies.get(rp.cookie_name))
    sess["user"]["claims"].update(acr=ACR_CERTIFICATE, auth_time=int(time.time()))
    # The site believes it, the provider does not yet: its token is a password login's.
    early = browser.get(urljoin(base, ticket_path), allow_redirects=False, timeout=10)
    assert early.status_code == 303
    assert "기업 범용인증서로 다시 인증해야 합니다" in browser.get(f"{base}/mileage",
                                                            timeout=10).text
    with app.app_context():
        assert db.session.scalar(select(MileageEntry).where(MileageEntry.kind == "use")) is None
        row = db.session.scalar(select(Token).where(Token.access_token_hash == token_hash(
            sess["user"]["tokens"]["access_token"])))
        assert row is not None and row.client_id == "demo-site-1"
        row.acr, row.auth_time = ACR_CERTIFICATE, int(time.time())
        db.session.commit()
    page = browser.get(f"{base}/mileage", timeout=10)
    fields = _form(page.text, "/mileage/use")
    resp = browser.post(f"{base}/mileage/use", allow_redirects=False, timeout=10,
                        data={**fields, "amount": "1,200", "reason": "번역 서비스"})
    assert resp.status_code == 303  # fresh at the site: straight to the ticket
    ticket_path = urlsplit(resp.headers["Location"]).path
    used = browser.get(urljoin(base, ticket_path), allow_redirects=False, timeout=10)
    assert used.status_code == 303, used.text[:300]
    after = browser.get(f"{base}/mileage", timeout=10)
    assert "1,200점을 사용했습니다" in after.text
    assert f"{DEMO_MILEAGE - 1200:,}점" in after.text
    with app.app_context():
        entry = db.session.scalar(select(MileageEntry).where(MileageEntry.kind == "use"))
        assert entry is not None and entry.amount == 1200
        assert entry.member_id == _member_id(app, "democert1")
    # The ticket is spent: the same URL does not use it twice.
    assert browser.get(urljoin(base, ticket_path), timeout=10).status_code == 400
    assert any(url.endswith("/mileage/uses") for url in site_app.config["API_CHECKED"])


def test_a_member_affiliated_by_approval_password_cannot_use_mileage(app: Any,
                                                                     demo_site: Any) -> None:
    base, _site_app = demo_site
    browser = requests.Session()
    _follow(browser, f"{base}/login", "demoapprove1")
    page = browser.get(f"{base}/mileage", timeout=10)
    assert page.status_code == 200
    assert "마일리지 사용</button>" not in page.text
    assert "기업 범용인증서로 소속이 확인된 회원만" in page.text
