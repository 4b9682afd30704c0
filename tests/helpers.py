"""Test helpers: a relying party driven through the Flask test client."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from idp.extensions import db
from idp.models import AffiliationMethod, Company
from idp.services.clients import add_client
from idp.services.members import add_member, affiliate

PASSWORD = "Correct!horse9"
REDIRECT_URI = "https://rp.example/cb"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def form_fields(html: str) -> tuple[str, dict[str, str]]:
    """(action, hidden fields) of the first POST form on a page."""
    action = re.search(r'<form method="post"(?: action="([^"]*)")?', html)
    assert action is not None, html[:500]
    hidden = dict(re.findall(r'name="(csrf_token)" type="hidden" value="([^"]+)"', html))
    hidden.update(dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', html)))
    return action.group(1) or "", hidden


def add_test_member(app: Any, login_id: str = "member01", *, affiliation: str | None = None,
                    name: str = "테스트") -> Any:
    with app.app_context():
        p = app.extensions["idp"]
        member = add_member(db.session, p.passwords, p.policy, login_id=login_id, name=name,
                            email=f"{login_id}@example.com", password=PASSWORD,
                            phone="010-0000-0000")
        if affiliation:
            company = db.session.query(Company).filter_by(business_number="1208200275").first()
            if company is None:
                company = Company(business_number="1208200275", name="테스트무역(주)")
                db.session.add(company)
                db.session.flush()
            affiliate(db.session, member, company, AffiliationMethod(affiliation))
        db.session.commit()
        return member.subject


@dataclass
class TestRP:
    app: Any
    client_id: str
    client_secret: str | None
    redirect_uri: str = REDIRECT_URI
    login_id: str = "member01"
    subject: str = ""
    last: dict[str, Any] = field(default_factory=dict)

    __test__ = False  # not a test class

    @classmethod
    def create(cls, app: Any, *, first_party: bool = True, auth_method: str =
               "client_secret_basic", login_id: str = "member01", alg: str = "RS256",
               require_pkce: bool = True, member: bool = True, **kw: Any) -> TestRP:
        with app.app_context():
            client, secret = add_client(
                db.session, name=kw.pop("name", "Test RP"), redirect_uris=[REDIRECT_URI],
                post_logout_redirect_uris=["https://rp.example/bye"],
                backchannel_logout_uri=kw.pop("backchannel_logout_uri", None),
                resource_server=kw.pop("resource_server", False),
                grant_types=kw.pop("grant_types", ["authorization_code", "refresh_token",
                                                   "client_credentials"]
                                   if auth_method != "none" else
                                   ["authorization_code", "refresh_token"]),
                token_endpoint_auth_method=auth_method, first_party=first_party,
                id_token_signed_response_alg=alg, require_pkce=require_pkce,
            )
            db.session.commit()
            client_id = client.client_id
        subject = add_test_member(app, login_id, **kw) if member else ""
        return cls(app, client_id, secret, login_id=login_id, subject=subject)

    def auth_header(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def authorize_params(self, **extra: Any) -> dict[str, Any]:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": self.redirect_uri, "scope": "openid profile email kotra",
            "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        params.update(extra)
        self.last = {"verifier": verifier, **params}
        return {k: v for k, v in params.items() if v is not None}

    def login(self, web: Any, location: str, *, login_id: str | None = None,
              password: str = PASSWORD) -> Any:
        """Submit the 일반회원 form on the login page at `location`."""
        page = web.get(location)
        assert page.status_code == 200, page.get_data(as_text=True)[:300]
        action, hidden = form_fields(page.get_data(as_text=True))
        return web.post(action, data={**hidden, "login_id": login_id or self.login_id,
                                      "password": password})

    def authorize(self, web: Any, **extra: Any) -> Any:
        return web.get("/authorize", query_string=self.authorize_params(**extra))

    def code_flow(self, web: Any, **extra: Any) -> dict[str, str]:
        """authorize -> (login) -> code; returns the callback's query parameters."""
        resp = self.authorize(web, **extra)
        if resp.status_code == 303 and "/interaction/" in resp.headers["Location"]:
            resp = self.login(web, resp.headers["Location"])  # 303 to the client
            assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
        else:
            assert resp.status_code == 302, (resp.status_code,
                                              resp.get_data(as_text=True)[:500])
        return callback_params(resp.headers["Location"], self.redirect_uri)

    def exchange(self, web: Any, code: str, **extra: Any) -> Any:
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": self.last["verifier"]}
        data.update(extra)
        data = {k: v for k, v in data.items() if v is not None}
        return web.post("/token", data=data, headers=self.auth_header())

    def tokens(self, web: Any, **extra: Any) -> dict[str, Any]:
        params = self.code_flow(web, **extra)
        resp = self.exchange(web, params["code"])
        assert resp.status_code == 200, resp.get_data(as_text=True)
        data: dict[str, Any] = resp.get_json()
        return data


def callback_params(location: str, redirect_uri: str) -> dict[str, str]:
    assert location.startswith(redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def verified_identity(**overrides: Any) -> Any:
    """A VerifiedIdentity as an adapter would build it (overrides: any field)."""
    import datetime as dt

    from idp.services.ports import VerifiedIdentity

    fields: dict[str, Any] = {
        "name": "홍길동", "birthdate": dt.date(1985, 3, 1), "gender": "M",
        "nationality": "domestic", "mobile": "01012345678", "carrier": "SKT",
        "ci": "CI" + secrets.token_urlsafe(64)[:86], "di": "DI" + secrets.token_urlsafe(48)[:62],
        "method": "mobile", "vendor": "test",
    }
    fields.update(overrides)
    return VerifiedIdentity(**fields)


def give_verification(app: Any, client: Any, purpose: str, identity: Any = None) -> str:
    """A completed identity verification for `purpose`, bound to the test client's browser:
    what the vendor callback leaves behind. Returns the request id the page takes it by."""
    from idp.cookies import build_cookies

    p = app.extensions["idp"]
    name = build_cookies(p.settings, secure=False).browser.name
    cookie = client.get_cookie(name)
    if cookie is None:
        browser = secrets.token_urlsafe(24)
        client.set_cookie(name, browser)
    else:
        browser = cookie.value
    identity = identity or verified_identity()
    with app.app_context():
        req = p.verifications.start(purpose=purpose, method=identity.method, browser=browser,
                                    return_to="/")
        p.verifications.complete(req, identity, browser=browser)
        db.session.commit()
    return str(req.id)


def certified_company(business_number: str = "1248100998", **overrides: Any) -> Any:
    """A checked corporate-certificate result, as the NPKI verifier returns it."""
    import datetime as _dt

    from idp.services.ports import CertifiedCompany

    fields: dict[str, Any] = {
        "business_number": business_number,
        "subject": "CN=테스트기업(TestCorp)0001234567,OU=테스트,OU=corporation,O=yessign,C=kr",
        "issuer": "CN=yessignCA Class 2,OU=AccreditedCA,O=yessign,C=kr",
        "serial": "01ab", "policy_oid": "1.2.410.200005.1.1.5",
        "not_after": _dt.datetime(2030, 1, 1), "revocation": "good",
    }
    fields.update(overrides)
    return CertifiedCompany(**fields)


def give_certificate(app: Any, client: Any, purpose: str, business_number: str = "1248100998",
                     **overrides: Any) -> str:
    """A checked certificate authentication for `purpose`, bound to the test client's browser:
    what /certificate/verify leaves behind. Returns the id the page takes it by (?cr=)."""
    from idp.cookies import build_cookies

    p = app.extensions["idp"]
    name = build_cookies(p.settings, secure=False).browser.name
    cookie = client.get_cookie(name)
    if cookie is None:
        browser = secrets.token_urlsafe(24)
        client.set_cookie(name, browser)
    else:
        browser = cookie.value
    with app.app_context():
        cid = p.certificates.record(purpose=purpose,
                                    result=certified_company(business_number, **overrides),
                                    browser=browser)
        db.session.commit()
    return str(cid)
