"""The service and mileage API (SPEC §5, issue 7): auth, scopes, idempotency, the ledger, the
problems — and every response validated against the OpenAPI document the provider serves."""

from __future__ import annotations

import base64
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import Company, Member
from idp.models.companies import MileageAccount, MileageEntry, ServiceParticipation
from idp.services.clients import add_client
from tests.api_contract import CheckedClient, Contract
from tests.helpers import TestRP, add_test_member

BN = "1208200275"
API = f"/api/v1/companies/{BN}"
ALL_SCOPES = "kotra.services.read kotra.services.write kotra.mileage.read kotra.mileage.write"


def make_api_client(app: Any, scope: str = ALL_SCOPES, name: str = "API RP") -> dict[str, str]:
    with app.app_context():
        client, secret = add_client(db.session, name=name, redirect_uris=[],
                                    grant_types=["client_credentials"], scope=scope)
        db.session.commit()
        assert secret is not None
        return {"client_id": client.client_id, "client_secret": secret}


def get_token(web: Any, creds: dict[str, str], scope: str = ALL_SCOPES) -> str:
    raw = f"{creds['client_id']}:{creds['client_secret']}".encode()
    resp = web.post("/token", data={"grant_type": "client_credentials", "scope": scope},
                    headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    token: str = resp.get_json()["access_token"]
    return token


@pytest.fixture()
def contract(client: Any) -> Contract:
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    return Contract(resp.get_json())


@pytest.fixture()
def members(app: Any) -> dict[str, str]:
    """Members of the company 1208200275: by certificate, by approval password; and one
    without a company."""
    return {
        "cert": add_test_member(app, "cert01", affiliation="certificate"),
        "approval": add_test_member(app, "approve01", affiliation="approval_password"),
        "none": add_test_member(app, "nobody01"),
    }


ACR_CERTIFICATE = "urn:kotra:acr:certificate"


def member_token(app: Any, client_id: str, subject: str, *, acr: str | None = ACR_CERTIFICATE,
                 auth_age: int = 0, with_auth_time: bool = True, expires_in: int = 600,
                 revoked: bool = False) -> str:
    """An access token as the token endpoint would have issued it to `client_id` for the
    member after an authentication `auth_age` seconds ago (the provider's clock) at level
    `acr` — written directly, like the tests of userinfo do: the certificate login itself is
    the NPKI helpers' and is tested there."""
    import secrets
    import time

    from idp.models.tokens import Token, token_hash

    raw = secrets.token_urlsafe(32)
    with app.app_context():
        now = int(app.extensions["idp"].clock.now())
        member_id = db.session.scalar(select(Member.id).where(Member.subject == subject))
        db.session.add(Token(
            client_id=client_id, member_id=member_id, scope="openid kotra",
            access_token_hash=token_hash(raw), family_id=secrets.token_hex(16),
            auth_time=now - auth_age if with_auth_time else None, acr=acr,
            amr=["pki"] if acr == ACR_CERTIFICATE else ["pwd"], issued_at=now - auth_age,
            # Expiry and revocation are judged on the system clock (TokenRecord.is_expired).
            access_expires_at=int(time.time()) + expires_in,
            revoked_at=int(time.time()) if revoked else None))
        db.session.commit()
    return raw


@pytest.fixture()
def api(app: Any, client: Any, contract: Contract, members: dict[str, str]) -> CheckedClient:
    creds = make_api_client(app)
    return CheckedClient(client, contract, get_token(client, creds), creds["client_id"])


def key() -> str:
    return str(uuid.uuid4())


def token_for(api: CheckedClient, member: str) -> str:
    """A fresh certificate-level token of the member, issued to `api`'s client."""
    return member_token(api.client.application, api.client_id, member)


def earn(api: CheckedClient, amount: int, k: str | None = None) -> Any:
    return api.post(f"{API}/mileage/earnings", {"amount": amount, "reason": "수출상담회 참가",
                                                "service": "설명회 신청"}, key=k or key())


def use(api: CheckedClient, member: str, amount: int, k: str | None = None,
        token: str | None = None) -> Any:
    return api.post(f"{API}/mileage/uses", {
        "member": member, "member_access_token": token or token_for(api, member),
        "amount": amount, "reason": "번역 서비스"}, key=k or key())


# -- the document -----------------------------------------------------------------------------

def test_the_document_is_a_valid_openapi_3_1_document(client: Any, app: Any) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert "public" in resp.headers["Cache-Control"] and resp.headers["ETag"]
    assert "Set-Cookie" not in resp.headers
    doc = resp.get_json()
    validate(doc, cls=OpenAPIV31SpecValidator)
    issuer = app.extensions["idp"].issuer
    flow = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == f"{issuer}/token"
    assert set(flow["scopes"]) == set(ALL_SCOPES.split())
    assert doc["servers"] == [{"url": f"{issuer}/api/v1"}]
    again = client.get("/api/openapi.json", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304


def test_every_operation_declares_its_scope_and_its_problems(contract: Contract) -> None:
    for item in contract.document["paths"].values():
        for method in ("get", "post"):
            if method not in item:
                continue
            op = item[method]
            assert op["security"][0]["oauth2"][0] in contract.document["components"][
                "securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
            assert {"401", "403", "404"} <= set(op["responses"])


def test_every_route_of_the_api_is_in_the_document(app: Any, contract: Contract) -> None:
    import re

    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in ("api.unknown",
                                                                     "api.openapi"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method.lower(), path))
    documented = {(m, p) for p, item in contract.document["paths"].items()
                  for m in item if m in ("get", "post", "put", "patch", "delete")}
    assert served == documented


# -- authentication (RFC 6750) ------------------------------------------------------------------

def test_no_token_gets_a_bare_bearer_challenge(client: Any, contract: Contract,
                                               members: Any) -> None:
    resp = CheckedClient(client, contract).get(f"{API}/mileage")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="kotra-api"'
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"] == "urn:kotra:problem:authentication-required"


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer " + "A" * 43])
def test_an_unknown_token_is_invalid_token(client: Any, contract: Contract, header: str,
                                           members: Any) -> None:
    resp = CheckedClient(client, contract).get(f"{API}/mileage",
                                                headers={"Authorization": header})
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_a_token_in_the_query_string_is_refused(api: CheckedClient) -> None:
    resp = api.get(f"{API}/mileage?access_token={api.token}")
    assert resp.status_code == 400
    assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]


def test_a_token_without_the_scope_is_insufficient_scope(app: Any, client: Any,
                                                         contract: Contract,
                                                         members: Any) -> None:
    creds = make_api_client(app, scope="kotra.mileage.read")
    reader = CheckedClient(client, contract, get_token(client, creds, "kotra.mileage.read"))
    assert reader.get(f"{API}/mileage").status_code == 200
    resp = earn(reader, 10)
    assert resp.status_code == 403
    assert resp.headers["WWW-Authenticate"] == (
        'Bearer realm="kotra-api", error="insufficient_scope", scope="kotra.mileage.write"')
    assert resp.get_json()["scope"] == "kotra.mileage.write"


def test_a_client_gets_only_the_api_scopes_it_is_allowed(app: Any, client: Any,
                                                         contract: Contract,
                                                         members: Any) -> None:
    creds = make_api_client(app, scope="kotra.services.write")
    token = get_token(client, creds, ALL_SCOPES)  # asks for all, gets one
    limited = CheckedClient(client, contract, token)
    assert limited.get(f"{API}/mileage").status_code == 403


def test_a_revoked_token_stops_working_at_once(app: Any, client: Any, contract: Contract,
                                               members: Any) -> None:
    creds = make_api_client(app)
    token = get_token(client, creds)
    api = CheckedClient(client, contract, token)
    assert api.get(f"{API}/mileage").status_code == 200
    raw = f"{creds['client_id']}:{creds['client_secret']}".encode()
    revoked = client.post("/revoke", data={"token": token}, headers={
        "Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert revoked.status_code == 200
    resp = api.get(f"{API}/mileage")
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers[
        "WWW-Authenticate"]


def test_a_removed_clients_token_stops_working(app: Any, client: Any, contract: Contract,
                                               members: Any) -> None:
    from idp.services.clients import remove_client

    creds = make_api_client(app)
    api = CheckedClient(client, contract, get_token(client, creds))
    with app.app_context():
        remove_client(db.session, creds["client_id"])
        db.session.commit()
    assert api.get(f"{API}/mileage").status_code == 401


def test_a_members_access_token_is_not_accepted(app: Any, client: Any, contract: Contract,
                                                members: Any, rp: TestRP) -> None:
    tokens = rp.tokens(client)
    resp = CheckedClient(client, contract, tokens["access_token"]).get(f"{API}/mileage")
    assert resp.status_code == 401


def test_the_api_sets_no_cookie(api: CheckedClient, members: dict[str, str]) -> None:
    unknown = api.client.get(f"{API}/nope", headers={"Authorization": f"Bearer {api.token}"})
    for resp in (api.get(f"{API}/mileage"), earn(api, 5), unknown):
        assert "Set-Cookie" not in resp.headers
        assert resp.headers["Cache-Control"] == "no-store"


# -- participations ---------------------------------------------------------------------------

def test_record_and_list_participations(api: CheckedClient, members: dict[str, str]) -> None:
    first = api.post(f"{API}/participations", {"service": "설명회 신청", "site": "데모 사이트 1",
                                               "date": "2026-11-30", "member": members["cert"]})
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["member"] == members["cert"] and body["business_number"] == BN
    second = api.post("/api/v1/companies/120-82-00275/participations",
                      {"service": "온라인 상담", "site": "데모 사이트 2", "date": "2026-12-01"})
    assert second.status_code == 201 and second.get_json()["member"] is None
    page = api.get(f"{API}/participations?limit=1")
    assert page.status_code == 200
    data = page.get_json()
    assert [p["service"] for p in data["items"]] == ["온라인 상담"]  # newest first
    rest = api.get(f"{API}/participations?limit=1&cursor={data['next_cursor']}").get_json()
    assert [p["service"] for p in rest["items"]] == ["설명회 신청"]
    assert rest["next_cursor"] is None


def test_a_participation_member_must_be_affiliated(api: CheckedClient,
                                                   members: dict[str, str]) -> None:
    resp = api.post(f"{API}/participations", {"service": "s", "site": "x",
                                              "date": "2026-11-30", "member": members["none"]})
    assert resp.status_code == 422
    assert resp.get_json()["type"] == "urn:kotra:problem:member-not-affiliated"
    unknown = api.post(f"{API}/participations", {"service": "s", "site": "x",
                                                 "date": "2026-11-30", "member": "nobody"})
    assert unknown.get_json()["type"] == "urn:kotra:problem:member-not-found"


def test_a_participation_is_recorded_once_per_key(app: Any, api: CheckedClient,
                                                  members: dict[str, str]) -> None:
    body = {"service": "설명회 신청", "site": "데모", "date": "2026-11-30"}
    k = key()
    first = api.post(f"{API}/participations", body, key=k)
    again = api.post(f"{API}/participations", body, key=k)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = api.post(f"{API}/participations", {**body, "site": "다른 곳"}, key=k)
    assert other.status_code == 422
    assert other.get_json()["type"] == "urn:kotra:problem:idempotency-key-reused"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ServiceParticipation)) == 1


@pytest.mark.parametrize("body, pointer", [
    ({"site": "x", "date": "2026-11-30"}, "#"),
    ({"service": "", "site": "x", "date": "2026-11-30"}, "#/service"),
    ({"service": "s", "site": "x", "date": "2026-02-30"}, "#/date"),
    ({"service": "s", "site": "x", "date": "2026-11-30", "extra": 1}, "#"),
    ({"service": "s" * 201, "site": "x", "date": "2026-11-30"}, "#/service"),
    ([1, 2], "#"),
])
def test_a_bad_participation_body_is_invalid_request(api: CheckedClient, body: Any,
                                                     pointer: str) -> None:
    resp = api.post(f"{API}/participations", body)
    assert resp.status_code == 422
    problem = resp.get_json()
    assert problem["type"] == "urn:kotra:problem:invalid-request"
    assert pointer in [e["pointer"] for e in problem["errors"]]


# -- mileage ----------------------------------------------------------------------------------

def test_earn_use_balance_and_history(app: Any, api: CheckedClient,
                                      members: dict[str, str]) -> None:
    empty = api.get(f"{API}/mileage").get_json()
    assert empty["balance"] == 0 and empty["updated_at"] is None
    earned = earn(api, 1000)
    assert earned.status_code == 201
    assert earned.get_json()["balance_after"] == 1000 and earned.get_json()["kind"] == "earn"
    used = use(api, members["cert"], 300)
    assert used.status_code == 201, used.get_json()
    entry = used.get_json()
    assert entry["balance_after"] == 700 and entry["member"] == members["cert"]
    assert api.get(f"{API}/mileage").get_json()["balance"] == 700
    history = api.get(f"{API}/mileage/entries").get_json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in history["items"]] == [
        ("use", 300, 700), ("earn", 1000, 1000)]
    with app.app_context():
        events = [e for (e,) in db.session.execute(
            __import__("sqlalchemy").text("select event from audit_events order by id"))]
    assert "mileage.earned" in events and "mileage.used" in events


def test_a_use_larger_than_the_balance_is_refused(app: Any, api: CheckedClient,
                                                  members: dict[str, str]) -> None:
    earn(api, 100)
    resp = use(api, members["cert"], 101)
    assert resp.status_code == 409
    problem = resp.get_json()
    assert problem["type"] == "urn:kotra:problem:insufficient-balance"
    assert problem["balance"] == 100
    assert api.get(f"{API}/mileage").get_json()["balance"] == 100
    assert use(api, members["cert"], 100).get_json()["balance_after"] == 0
    assert use(api, members["cert"], 1).status_code == 409


@pytest.mark.parametrize("who, problem", [
    ("approval", "member-not-entitled"),  # affiliated by approval password (SPEC §2)
    ("none", "member-not-affiliated"),
])
def test_only_a_member_with_the_mileage_entitlement_may_use(
        app: Any, api: CheckedClient, members: dict[str, str], who: str, problem: str) -> None:
    earn(api, 100)
    resp = use(api, members[who], 10)
    assert resp.status_code == 422
    assert resp.get_json()["type"] == f"urn:kotra:problem:{problem}"
    assert api.get(f"{API}/mileage").get_json()["balance"] == 100
    with app.app_context():
        refused = db.session.execute(__import__("sqlalchemy").text(
            "select count(*) from audit_events where event = 'mileage.refused'")).scalar()
    assert refused == 1


def test_the_member_of_a_use_is_required(api: CheckedClient) -> None:
    resp = api.post(f"{API}/mileage/uses", {"amount": 1, "reason": "x"}, key=key())
    assert resp.status_code == 422
    assert "'member' is a required property" in str(resp.get_json()["errors"])
    assert "'member_access_token' is a required property" in str(resp.get_json()["errors"])


def test_a_member_who_left_the_company_can_no_longer_use(app: Any, api: CheckedClient,
                                                         members: dict[str, str]) -> None:
    from idp.models.base import utcnow
    from idp.models.members import Affiliation

    earn(api, 100)
    with app.app_context():
        for affiliation in db.session.scalars(select(Affiliation)):
            affiliation.revoked_at = utcnow()
        db.session.commit()
    assert use(api, members["cert"], 10).get_json()["type"] == (
        "urn:kotra:problem:member-not-affiliated")


# -- the member's proof on a use (security review: a use needs the member, here, just now) ----

def _refusals(app: Any) -> list[dict[str, Any]]:
    from idp.models.security import AuditEvent

    with app.app_context():
        return [dict(e.detail or {}) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "mileage.refused")
            .order_by(AuditEvent.id))]


def _refused(resp: Any, code: str) -> None:
    assert resp.status_code == 403, resp.get_json()
    assert resp.get_json()["type"] == f"urn:kotra:problem:{code}"
    assert "Idempotent-Replayed" not in resp.headers


@pytest.mark.parametrize("kind, code", [
    ("unknown", "member-token-invalid"),
    ("expired", "member-token-invalid"),
    ("revoked", "member-token-invalid"),
    ("client_credentials", "member-token-invalid"),
    ("other_client", "member-token-other-client"),
    ("other_member", "member-token-other-member"),
    ("password_level", "step-up-required"),
    ("no_acr", "step-up-required"),
    ("too_old", "step-up-required"),
    ("issued_too_long_ago", "step-up-required"),
])
def test_a_use_without_a_fresh_certificate_token_of_the_member_is_refused(
        app: Any, client: Any, api: CheckedClient, members: dict[str, str], kind: str,
        code: str) -> None:
    earn(api, 100)
    me = api.client_id
    cert = members["cert"]
    other_client = make_api_client(app, name="other RP")["client_id"]
    token = {
        "unknown": lambda: "A" * 43,
        "expired": lambda: member_token(app, me, cert, expires_in=-1),
        "revoked": lambda: member_token(app, me, cert, revoked=True),
        "client_credentials": lambda: api.token,
        "other_client": lambda: member_token(app, other_client, cert),
        "other_member": lambda: member_token(app, me, members["approval"]),
        "password_level": lambda: member_token(app, me, cert, acr="urn:kotra:acr:password"),
        "no_acr": lambda: member_token(app, me, cert, acr=None),
        "too_old": lambda: member_token(app, me, cert, auth_age=601),
        "issued_too_long_ago": lambda: member_token(app, me, cert, auth_age=601,
                                                    with_auth_time=False),
    }[kind]()
    k = key()
    resp = use(api, cert, 10, k, token=token)
    _refused(resp, code)
    assert api.get(f"{API}/mileage").get_json()["balance"] == 100
    refusal = _refusals(app)[-1]
    assert refusal["reason"] == code and refusal["operation"] == "use"
    # Not stored with the key: the same request with a good token goes through.
    assert use(api, cert, 10, k).status_code == 201


def test_the_step_up_window_follows_the_clock_and_the_config(
        app: Any, api: CheckedClient, members: dict[str, str], clock: Any) -> None:
    earn(api, 100)
    token = token_for(api, members["cert"])
    assert use(api, members["cert"], 10, token=token).status_code == 201
    clock.advance(599)
    assert use(api, members["cert"], 10, token=token).status_code == 201
    clock.advance(2)  # 601 s after the certificate login
    _refused(use(api, members["cert"], 10, token=token), "step-up-required")
    app.extensions["idp"].settings["api"]["use_auth_max_age"] = 1200
    try:
        assert use(api, members["cert"], 10, token=token).status_code == 201
    finally:
        app.extensions["idp"].settings["api"]["use_auth_max_age"] = 600


def test_the_entitlement_is_checked_even_with_a_good_token(app: Any, api: CheckedClient,
                                                           members: dict[str, str]) -> None:
    """A certificate-level token of a member affiliated by approval password is proof that
    they are here, not that they may spend: 422 member-not-entitled still."""
    earn(api, 100)
    resp = use(api, members["approval"], 10)
    assert resp.get_json()["type"] == "urn:kotra:problem:member-not-entitled"


def test_a_real_code_flow_token_at_password_level_needs_the_step_up(
        app: Any, client: Any, contract: Contract, members: dict[str, str], rp: TestRP) -> None:
    """The relying party signs the member in (password) and is allowed the API: its own
    token for the member is accepted as theirs, but is not certificate level."""
    from idp.services.mileage import allow_api_access

    with app.app_context():
        allow_api_access(db.session, rp.client_id, ["kotra.mileage.read",
                                                    "kotra.mileage.write"])
        db.session.commit()
    tokens = rp.tokens(client)
    creds = {"client_id": rp.client_id, "client_secret": rp.client_secret or ""}
    site = CheckedClient(client, contract, get_token(client, creds,
                                                     "kotra.mileage.read kotra.mileage.write"),
                         rp.client_id)
    assert earn(site, 100).status_code == 201
    resp = use(site, rp.subject, 10, token=tokens["access_token"])
    _refused(resp, "step-up-required")
    other = CheckedClient(client, contract, get_token(client, make_api_client(app)))
    _refused(use(other, rp.subject, 10, token=tokens["access_token"]),
             "member-token-other-client")


def test_the_member_token_is_not_stored_nor_logged(app: Any, api: CheckedClient,
                                                   members: dict[str, str]) -> None:
    earn(api, 100)
    token = token_for(api, members["cert"])
    assert use(api, members["cert"], 10, token=token).status_code == 201
    _refused(use(api, members["cert"], 10, token=token + "x"), "member-token-invalid")
    with app.app_context():
        for table in ("api_idempotency_keys", "audit_events", "mileage_ledger"):
            dump = str(db.session.execute(__import__("sqlalchemy").text(
                f"select * from {table}")).all())
            assert token not in dump, table


# -- earning caps -----------------------------------------------------------------------------

def test_one_earning_is_capped(app: Any, api: CheckedClient) -> None:
    app.extensions["idp"].settings["api"]["earn_max_per_request"] = 500
    try:
        k = key()
        resp = earn(api, 501, k)
        assert resp.status_code == 422
        body = resp.get_json()
        assert body["type"] == "urn:kotra:problem:earn-amount-over-limit"
        assert body["limit"] == 500
        assert earn(api, 500).status_code == 201
    finally:
        app.extensions["idp"].settings["api"]["earn_max_per_request"] = 1_000_000
    assert _refusals(app)[-1]["reason"] == "earn-amount-over-limit"
    assert earn(api, 501, k).status_code == 201  # not stored: judged again


def test_a_clients_earnings_are_capped_per_day(app: Any, client: Any, api: CheckedClient,
                                               contract: Contract) -> None:
    settings = app.extensions["idp"].settings["api"]
    settings["earn_max_per_day"] = 1000
    try:
        assert earn(api, 600).status_code == 201
        assert earn(api, 400).status_code == 201
        k = key()
        resp = earn(api, 1, k)
        assert resp.status_code == 429
        assert resp.get_json()["type"] == "urn:kotra:problem:earn-daily-limit-reached"
        assert resp.get_json()["limit"] == 1000
        assert 1 <= int(resp.headers["Retry-After"]) <= 86400
        # Another relying party has its own cap; uses do not count.
        other = CheckedClient(client, contract, get_token(client, make_api_client(app)))
        assert earn(other, 1000).status_code == 201
        assert use(api, __import__("tests.helpers").helpers.add_test_member(
            app, "cert02", affiliation="certificate"), 10).status_code == 201
        assert earn(api, 1, k).status_code == 429  # not stored: judged again, still over
        settings["earn_max_per_day"] = 0  # 0: no cap
        assert earn(api, 1, k).status_code == 201
    finally:
        settings["earn_max_per_day"] = 10_000_000
    assert api.get(f"{API}/mileage").get_json()["balance"] == 600 + 400 + 1000 - 10 + 1


def test_the_day_of_the_cap_is_a_day_in_korea() -> None:
    import datetime as dt

    from idp.services.mileage import _day_start

    # 2026-12-02 14:59 UTC is 23:59 KST: the day began at 2026-12-01 15:00 UTC.
    assert _day_start(dt.datetime(2026, 12, 2, 14, 59)) == dt.datetime(2026, 12, 1, 15, 0)
    assert _day_start(dt.datetime(2026, 12, 2, 15, 0)) == dt.datetime(2026, 12, 2, 15, 0)


@pytest.mark.parametrize("amount", [0, -5, 1.5, 10.0, "10", 10**10, True, None])
def test_an_amount_must_be_a_positive_integer(api: CheckedClient, amount: Any) -> None:
    resp = api.post(f"{API}/mileage/earnings", {"amount": amount, "reason": "r",
                                                "service": "s"}, key=key())
    assert resp.status_code == 422
    assert resp.get_json()["errors"][0]["pointer"] == "#/amount"


@pytest.mark.parametrize("raw", ['{"amount": NaN, "reason": "r", "service": "s"}',
                                 '{"amount": Infinity, "reason": "r", "service": "s"}'])
def test_non_json_numbers_are_malformed(api: CheckedClient, raw: str) -> None:
    resp = api.post(f"{API}/mileage/earnings", data=raw, key=key(),
                    headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["type"] == "urn:kotra:problem:malformed-json"


def test_mileage_needs_an_idempotency_key(api: CheckedClient) -> None:
    resp = api.post(f"{API}/mileage/earnings", {"amount": 1, "reason": "r", "service": "s"})
    assert resp.status_code == 400
    assert resp.get_json()["type"] == "urn:kotra:problem:idempotency-key-missing"
    bad = api.post(f"{API}/mileage/earnings", {"amount": 1, "reason": "r", "service": "s"},
                   key="a" * 101)
    assert bad.status_code == 400


def test_the_same_key_and_body_replay_the_first_answer(app: Any, api: CheckedClient,
                                                       members: dict[str, str]) -> None:
    k = key()
    first = earn(api, 50, k)
    second = earn(api, 50, f'"{k}"')  # the structured-field form of the same key
    assert second.status_code == first.status_code == 201
    assert second.get_data() == first.get_data()
    assert second.headers["Idempotent-Replayed"] == "true"
    use_key = key()
    spent = use(api, members["cert"], 20, use_key)
    assert use(api, members["cert"], 20, use_key).get_data() == spent.get_data()
    assert api.get(f"{API}/mileage").get_json()["balance"] == 30
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MileageEntry)) == 2


def test_the_same_key_with_another_body_is_a_conflict(api: CheckedClient,
                                                      members: dict[str, str]) -> None:
    k = key()
    earn(api, 50, k)
    resp = earn(api, 51, k)
    assert resp.status_code == 422
    assert resp.get_json()["type"] == "urn:kotra:problem:idempotency-key-reused"
    # A key of the earnings used for a use is another request too.
    assert use(api, members["cert"], 50, k).status_code == 422


def test_keys_are_per_client(app: Any, client: Any, api: CheckedClient,
                             contract: Contract) -> None:
    other = CheckedClient(client, contract, get_token(client, make_api_client(app, name="B")))
    k = key()
    assert earn(api, 10, k).status_code == 201
    second = earn(other, 10, k)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert api.get(f"{API}/mileage").get_json()["balance"] == 20


def test_a_refusal_is_the_first_answer_too(app: Any, api: CheckedClient,
                                           members: dict[str, str]) -> None:
    k = key()
    first = use(api, members["cert"], 10, k)
    assert first.status_code == 409
    earn(api, 10)
    again = use(api, members["cert"], 10, k)  # the balance would cover it now: same answer
    assert again.status_code == 409 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert use(api, members["cert"], 10).status_code == 201  # a new key is a new request
    with app.app_context():
        refused = db.session.execute(__import__("sqlalchemy").text(
            "select count(*) from audit_events where event = 'mileage.refused'")).scalar()
    assert refused == 1


def test_a_refused_participation_is_replayed(api: CheckedClient,
                                             members: dict[str, str]) -> None:
    k = key()
    body = {"service": "s", "site": "x", "date": "2026-11-30", "member": members["none"]}
    first = api.post(f"{API}/participations", body, key=k)
    assert first.status_code == 422
    again = api.post(f"{API}/participations", body, key=k)
    assert again.get_data() == first.get_data() and again.headers["Idempotent-Replayed"]


def test_the_ledger_sum_equals_the_balance(app: Any, api: CheckedClient,
                                           members: dict[str, str]) -> None:
    for amount in (500, 70, 30):
        earn(api, amount)
    for amount in (100, 250, 300, 60):
        use(api, members["cert"], amount)  # the 300 is refused
    with app.app_context():
        company = db.session.scalar(select(Company).where(Company.business_number == BN))
        entries = list(db.session.scalars(select(MileageEntry).order_by(MileageEntry.id)))
        account = db.session.get(MileageAccount, company.id)
        signed = sum(e.amount if e.kind == "earn" else -e.amount for e in entries)
        assert account.balance == signed == entries[-1].balance_after == 190


# -- companies and other problems ------------------------------------------------------------

@pytest.mark.parametrize("number", ["1208200276", "0000000000", "12345"])
def test_an_unknown_company_is_not_found(api: CheckedClient, number: str) -> None:
    resp = api.get(f"/api/v1/companies/{number}/mileage")
    assert resp.status_code == 404
    assert resp.get_json()["type"] == "urn:kotra:problem:company-not-found"


def test_a_company_waiting_for_review_cannot_earn(app: Any, api: CheckedClient) -> None:
    with app.app_context():
        company = db.session.scalar(select(Company).where(Company.business_number == BN))
        company.status = "pending"
        db.session.commit()
    resp = earn(api, 10)
    assert resp.status_code == 409
    assert resp.get_json()["type"] == "urn:kotra:problem:company-not-active"


def test_a_body_that_is_not_json(api: CheckedClient) -> None:
    resp = api.post(f"{API}/mileage/earnings", data="amount=1", key=key(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 415
    broken = api.post(f"{API}/mileage/earnings", data="{", key=key(),
                      headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.get_json()["type"] == "urn:kotra:problem:malformed-json"
    huge = api.post(f"{API}/mileage/earnings", data="[" + "1," * 10000 + "1]", key=key(),
                    headers={"Content-Type": "application/json"})
    assert huge.status_code == 413


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=-1",
                                   "cursor=abc"])
def test_bad_paging_parameters(api: CheckedClient, query: str) -> None:
    assert api.get(f"{API}/mileage/entries?{query}").status_code == 400


def test_unknown_paths_and_methods_are_problems(api: CheckedClient, client: Any) -> None:
    resp = client.get("/api/v1/nothing/here", headers={"Authorization": f"Bearer {api.token}"})
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    wrong = client.delete(f"{API}/mileage", headers={"Authorization": f"Bearer {api.token}"})
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
    assert wrong.mimetype == "application/problem+json"


def test_every_response_was_checked(api: CheckedClient, members: dict[str, str]) -> None:
    earn(api, 5)
    api.get(f"{API}/mileage/entries")
    assert api.contract.checked == 2


# -- concurrency (PostgreSQL) -------------------------------------------------------------------
# The balance never goes below zero and equals the ledger's sum; a key sent many times at once
# is spent once. Marked scaleout: they need concurrent writers (skipped on SQLite).

THREADS = 12


@pytest.fixture()
def postgres(app: Any) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("concurrent writers: PostgreSQL")  # deselected in the SQLite pass


def _clients(app: Any, contract: Contract, token: str, n: int) -> list[CheckedClient]:
    return [CheckedClient(app.test_client(), contract, token) for _ in range(n)]


def _at_once(calls: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _ledger(app: Any) -> tuple[int, list[MileageEntry]]:
    with app.app_context():
        company = db.session.scalar(select(Company).where(Company.business_number == BN))
        account = db.session.get(MileageAccount, company.id)
        entries = list(db.session.scalars(select(MileageEntry).order_by(MileageEntry.id)))
        db.session.expunge_all()
        return account.balance, entries


@pytest.mark.scaleout
def test_concurrent_uses_never_overdraw(postgres: None, app: Any, api: CheckedClient,
                                        contract: Contract, members: dict[str, str]) -> None:
    assert earn(api, 500).status_code == 201  # covers 5 of the 12 uses of 100
    clients = _clients(app, contract, api.token or "", THREADS)
    proof = token_for(api, members["cert"])
    results = _at_once([
        (lambda c=c: c.post(f"{API}/mileage/uses", {"member": members["cert"], "amount": 100,
                                                    "member_access_token": proof,
                                                    "reason": "동시 사용"}, key=str(uuid.uuid4())))
        for c in clients])
    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 5, 409: THREADS - 5}, statuses
    balance, entries = _ledger(app)
    signed = sum(e.amount if e.kind == "earn" else -e.amount for e in entries)
    assert balance == signed == entries[-1].balance_after == 0
    # Each use saw the balance the one before it left: 400, 300, ..., 0.
    assert sorted(e.balance_after for e in entries if e.kind == "use") == [0, 100, 200, 300, 400]


@pytest.mark.scaleout
def test_mixed_earns_and_uses_keep_the_ledger_equal_to_the_balance(
        postgres: None, app: Any, api: CheckedClient, contract: Contract,
        members: dict[str, str]) -> None:
    assert earn(api, 150).status_code == 201
    clients = _clients(app, contract, api.token or "", THREADS)
    proof = token_for(api, members["cert"])
    calls = []
    for i, c in enumerate(clients):
        if i % 3 == 0:
            calls.append(lambda c=c: earn(c, 70))
        else:
            calls.append(lambda c=c: c.post(
                f"{API}/mileage/uses", {"member": members["cert"], "amount": 60,
                                        "member_access_token": proof,
                                        "reason": "혼합"}, key=str(uuid.uuid4())))
    results = _at_once(calls)
    assert {r.status_code for r in results} <= {201, 409}
    balance, entries = _ledger(app)
    assert balance >= 0
    signed = sum(e.amount if e.kind == "earn" else -e.amount for e in entries)
    assert balance == signed == entries[-1].balance_after
    running = 0
    for e in entries:  # in commit order the running sum is each entry's balance_after
        running += e.amount if e.kind == "earn" else -e.amount
        assert running == e.balance_after >= 0


@pytest.mark.scaleout
def test_one_key_sent_many_times_at_once_is_spent_once(
        postgres: None, app: Any, api: CheckedClient, contract: Contract,
        members: dict[str, str]) -> None:
    assert earn(api, 1000).status_code == 201
    k = str(uuid.uuid4())
    clients = _clients(app, contract, api.token or "", THREADS)
    proof = token_for(api, members["cert"])
    results = _at_once([
        (lambda c=c: c.post(f"{API}/mileage/uses", {"member": members["cert"], "amount": 100,
                                                    "member_access_token": proof,
                                                    "reason": "재시도"}, key=k))
        for c in clients])
    assert {r.status_code for r in results} == {201}
    assert len({r.get_data() for r in results}) == 1  # every one got the first answer
    assert sum(1 for r in results if "Idempotent-Replayed" not in r.headers) == 1
    balance, entries = _ledger(app)
    assert balance == 900 and [e.kind for e in entries] == ["earn", "use"]


@pytest.mark.scaleout
def test_one_participation_key_sent_many_times_at_once_is_recorded_once(
        postgres: None, app: Any, api: CheckedClient, contract: Contract) -> None:
    from sqlalchemy import func

    from idp.models.companies import ServiceParticipation

    k = str(uuid.uuid4())
    clients = _clients(app, contract, api.token or "", THREADS)
    body = {"service": "설명회 신청", "site": "동시", "date": "2026-12-01"}
    results = _at_once([(lambda c=c: c.post(f"{API}/participations", body, key=k))
                        for c in clients])
    assert {r.status_code for r in results} == {201}
    assert len({r.get_data() for r in results}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ServiceParticipation)) == 1


@pytest.mark.scaleout
def test_clients_of_other_relying_parties_share_the_balance(
        postgres: None, app: Any, client: Any, api: CheckedClient, contract: Contract,
        members: dict[str, str]) -> None:
    other_creds = make_api_client(app, name="other RP")
    other = get_token(client, other_creds)
    proofs = {api.token or "": token_for(api, members["cert"]),
              other: member_token(app, other_creds["client_id"], members["cert"])}
    assert earn(api, 300).status_code == 201
    calls = []
    for token in (api.token or "", other) * 3:
        c = CheckedClient(app.test_client(), contract, token)
        calls.append(lambda c=c, token=token: c.post(f"{API}/mileage/uses", {
            "member": members["cert"], "member_access_token": proofs[token], "amount": 100,
            "reason": "두 사이트"}, key=str(uuid.uuid4())))
    results = _at_once(calls)
    assert Counter(r.status_code for r in results) == {201: 3, 409: 3}
    assert _ledger(app)[0] == 0


@pytest.mark.scaleout
def test_concurrent_earnings_never_pass_the_daily_cap(
        postgres: None, app: Any, client: Any, api: CheckedClient, contract: Contract) -> None:
    """The cap is per client over all companies, so the account row's lock is not enough:
    the client's advisory lock makes the sum-then-add one step."""
    settings = app.extensions["idp"].settings["api"]
    settings["earn_max_per_day"] = 500
    try:
        clients = _clients(app, contract, api.token or "", THREADS)
        results = _at_once([(lambda c=c: earn(c, 100)) for c in clients])
    finally:
        settings["earn_max_per_day"] = 10_000_000
    assert Counter(r.status_code for r in results) == {201: 5, 429: THREADS - 5}
    assert _ledger(app)[0] == 500


# -- `idp api allow` ----------------------------------------------------------------------------

def test_cli_allows_a_client_the_api_scopes(migrated: str) -> None:
    import json

    from click.testing import CliRunner

    from idp.cli import main

    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": migrated}
    added = CliRunner().invoke(main, ["clients", "add", "--name", "Export site",
                                      "--redirect-uri", "https://rp.example/cb",
                                      "--grant-type", "authorization_code", "--json"], env=env)
    client_id = json.loads(added.output)["client_id"]
    try:
        allowed = CliRunner().invoke(main, ["api", "allow", client_id, "--scope",
                                            "kotra.mileage.read", "--scope",
                                            "kotra.mileage.write", "--json"], env=env)
        assert allowed.exit_code == 0, allowed.output
        assert json.loads(allowed.output)["api_scopes"] == ["kotra.mileage.read",
                                                            "kotra.mileage.write"]
        listed = json.loads(CliRunner().invoke(main, ["clients", "list", "--json"],
                                               env=env).output)
        row = next(c for c in listed if c["client_id"] == client_id)
        assert row["grant_types"] == ["authorization_code", "client_credentials"]
        unknown = CliRunner().invoke(main, ["api", "allow", "nobody", "--scope",
                                            "kotra.mileage.read"], env=env)
        assert unknown.exit_code != 0 and "nobody" in unknown.output
    finally:
        CliRunner().invoke(main, ["clients", "remove", client_id], env=env)
