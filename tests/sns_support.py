"""Helpers of the SNS tests: a requests transport that serves the vendors' URLs from the app's
own emulators in-process, and a browser-like walk through the round trip."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from idp.extensions import db
from idp.services.terms import publish
from idp.web.sns_emulators import set_mode
from tests.helpers import form_fields


class WsgiTransport(BaseAdapter):
    """Routes the adapters' HTTP calls to the app's emulators (no sockets). URLs on other
    hosts fail as an unreachable vendor does."""

    def __init__(self, app: Any, host: str) -> None:
        super().__init__()
        self.app = app
        self.host = host
        self.calls: list[tuple[str, str, Any]] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        url = urlsplit(request.url or "")
        self.calls.append((request.method or "", request.url or "", timeout))
        if url.netloc != self.host:
            raise requests.ConnectionError(f"no route to {url.netloc}")
        client = self.app.test_client()
        body = request.body
        resp = client.open(path=url.path, query_string=url.query, method=request.method,
                           headers={k: v for k, v in request.headers.items()
                                    if k.lower() != "content-length"},
                           data=body, base_url=f"{url.scheme}://{url.netloc}")
        out = requests.Response()
        out.status_code = resp.status_code
        out._content = resp.get_data()
        out.headers = CaseInsensitiveDict(dict(resp.headers))
        out.url = request.url or ""
        out.request = request
        out.encoding = "utf-8"
        return out

    def close(self) -> None:
        pass


def use_emulators(app: Any) -> WsgiTransport:
    p = app.extensions["idp"]
    host = urlsplit(p.settings["issuer"]).netloc
    transport = WsgiTransport(app, host)
    p.sns.http.transport = transport
    return transport


def publish_terms(app: Any) -> None:
    """The manual's four items: two required, two optional."""
    with app.app_context():
        now = dt.datetime(2026, 1, 1)
        for kind, title, required in (("service", "이용약관", True),
                                      ("privacy", "개인정보 수집·이용 동의", True),
                                      ("marketing", "개인정보 마케팅 활용 동의 확인", False),
                                      ("privacy_optional", "개인정보 수집·이용 동의(선택)",
                                       False)):
            publish(db.session, kind=kind, version=1, title_ko=title, title_en=title,
                    body=f"{title} 본문", required=required, now=now)
        db.session.commit()


def mode(app: Any, name: str, value: str | None, delay: float = 0.0) -> None:
    with app.app_context():
        set_mode(app.extensions["idp"].store, name, value, delay)
        db.session.commit()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def login_page(web: Any, rp: Any, **extra: Any) -> str:
    resp = rp.authorize(web, **extra)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    return str(resp.headers["Location"])


def start(web: Any, name: str, login_url: str) -> Any:
    """Press the tab's button: 303 to the vendor (the emulator)."""
    uid = urlsplit(login_url).path.rstrip("/").split("/")[-1]
    return web.get(f"/sns/{name}/start", query_string={"interaction": uid})


def consent_at_vendor(web: Any, vendor_url: str, *, user: str | None = None,
                      decision: str = "login", **custom: str) -> str:
    """The emulator's page: pick a user (the first by default) or cancel; returns the
    callback URL the vendor redirects to."""
    page = web.get(path_of(vendor_url))
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    _, hidden = form_fields(page.get_data(as_text=True))
    data = {**hidden, "decision": decision}
    first = re.search(r'name="user" value="([^"]+)"', page.get_data(as_text=True))
    data["user"] = user if user is not None else (first.group(1) if first else "")
    data.update(custom)
    resp = web.post(urlsplit(vendor_url).path, data=data)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    link = re.search(r'id="sns-emulator-continue" href="([^"]+)"', resp.get_data(as_text=True))
    assert link is not None, resp.get_data(as_text=True)[:500]
    return html.unescape(link.group(1))


def round_trip(web: Any, rp: Any, name: str, *, user: str | None = None,
               decision: str = "login", **custom: str) -> tuple[str, Any]:
    """Login page → button → vendor → our callback; (login page URL, callback response)."""
    login = login_page(web, rp)
    started = start(web, name, login)
    assert started.status_code == 303, started.get_data(as_text=True)[:300]
    callback = consent_at_vendor(web, started.headers["Location"], user=user,
                                 decision=decision, **custom)
    return login, web.get(path_of(callback))


def agree_to_terms(web: Any, terms_url: str, **extra: str) -> Any:
    page = web.get(path_of(terms_url))
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    action, hidden = form_fields(page.get_data(as_text=True))
    data = {**hidden, "decision": "agree", "agree_all": "yes", **extra}
    return web.post(action, data=data)
