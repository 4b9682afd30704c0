"""The service and mileage API for relying parties (SPEC §5, issue 7), under /api/v1.

- Authentication: an OAuth 2.0 bearer access token from the client_credentials grant at our
  own /token (RFC 6749 §4.4), in the Authorization header only (RFC 6750 §2.1). It is looked
  up by its hash like at userinfo and introspection, on every request: a revoked token, or the
  token of a removed client, stops working at once. Tokens issued for a member (the code flow)
  are refused: the API acts for relying parties, not for members.
- Errors: RFC 9457 problem details (application/problem+json); 401/403 also carry the
  RFC 6750 §3 challenge (invalid_token, insufficient_scope).
- Idempotency: the `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header),
  required to earn or use mileage: the first answer (created or refused) is replayed; see
  idp/services/mileage.py.
- The contract: GET /api/openapi.json (idp/web/openapi.py). Request bodies are validated
  against its schemas, so what the document says is what is enforced.

No cookies and no CSRF: nothing here reads or sets one (the blueprint is CSRF-exempt).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from idp.extensions import db
from idp.models.readmodels import TokenRecord, load_token
from idp.models.tokens import token_hash
from idp.oidc.server import client_ip, provider

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
from idp.services import mileage
from idp.services.mileage import MAX_PAGE, MileageError
from idp.web.openapi import PROBLEM_BASE, PROBLEM_JSON, document

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_BODY = 16 * 1024
NO_STORE = {"Cache-Control": "no-store"}
# RFC 6750 §2.1: b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Printable ASCII without the structured-field string's own quote and backslash.
_KEY = re.compile(r'[\x21\x23-\x5b\x5d-\x7e]{1,100}')

TITLES = {
    "authentication-required": "Authentication required",
    "invalid-token": "Invalid access token",
    "insufficient-scope": "Insufficient scope",
    "invalid-request": "Invalid request",
    "malformed-json": "Malformed JSON",
    "idempotency-key-missing": "Idempotency-Key header missing or malformed",
    "idempotency-key-reused": "Idempotency-Key reused with another request",
    "idempotency-key-in-flight": "A request with this Idempotency-Key is in progress",
    "unsupported-media-type": "Unsupported media type",
    "payload-too-large": "Payload too large",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "company-not-found": "Company not found",
    "company-not-active": "Company not active",
    "member-not-found": "Member not found",
    "member-not-affiliated": "Member not affiliated to the company",
    "member-not-entitled": "Member may not use the company's mileage",
    "insufficient-balance": "Insufficient mileage balance",
    "member-token-invalid": "The member's access token is not valid",
    "member-token-other-client": "The member's access token was issued to another client",
    "member-token-other-member": "The member's access token belongs to another member",
    "step-up-required": "A recent certificate authentication of the member is required",
    "earn-amount-over-limit": "The earning is larger than one earning may be",
    "earn-daily-limit-reached": "The client's daily earning cap is reached",
}


def problem(status: int, code: str, detail: str | None = None,
            headers: dict[str, str] | None = None, **extensions: Any) -> Response:
    """An RFC 9457 problem details response."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": TITLES[code],
                            "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update(extensions)
    return Response(json.dumps(body, ensure_ascii=False), status, mimetype=PROBLEM_JSON,
                    headers={**NO_STORE, **(headers or {})})


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, mimetype="application/json",
                    headers={**NO_STORE, **(headers or {})})


# -- RFC 6750 ---------------------------------------------------------------------------------

def _challenge(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    params = ['realm="kotra-api"']
    if error:
        params.append(f'error="{error}"')
    if scope:
        params.append(f'scope="{scope}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(params)}


def authenticate(scope: str) -> TokenRecord | Response:
    """The client_credentials token of the request if it carries `scope`, or the RFC 6750 §3
    error response."""
    if "access_token" in request.args:
        # §2.3 (URI query parameter) is not supported: the token would end up in logs.
        return problem(400, "invalid-request", "send the access token in the Authorization "
                       "header (RFC 6750 §2.1), never in the URL", _challenge("invalid_request"))
    header = request.headers.get("Authorization")
    scheme, _, value = (header or "").partition(" ")
    if not header or scheme.lower() != "bearer":
        # §3.1: a request without (bearer) credentials gets a challenge without an error code.
        return problem(401, "authentication-required",
                       "send a client_credentials access token: Authorization: Bearer <token>",
                       _challenge())
    value = value.strip()
    if not _B64TOKEN.fullmatch(value):
        return problem(400, "invalid-request", "malformed bearer token",
                       _challenge("invalid_request"))
    token = load_token(db.session, "access_token_hash", token_hash(value))
    if token is None or token.is_expired() or token.is_revoked():
        return problem(401, "invalid-token", "the access token is unknown, expired or revoked",
                       _challenge("invalid_token"))
    if token.member_id is not None:
        return problem(401, "invalid-token", "this API takes client_credentials tokens only "
                       "(RFC 6749 §4.4), not tokens issued for a member",
                       _challenge("invalid_token"))
    if scope not in token.scope.split():
        return problem(403, "insufficient-scope", f"the token lacks the scope {scope}",
                       _challenge("insufficient_scope", scope), scope=scope)
    return token


def requires(scope: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """The view runs with the token as its first argument when the token carries `scope`."""
    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        def wrapped(**kwargs: Any) -> Response:
            token = authenticate(scope)
            if isinstance(token, Response):
                db.session.rollback()
                return token
            try:
                return view(token, **kwargs)
            except MileageError as exc:  # IdempotencyConflict, KeyInFlight
                db.session.rollback()
                return respond(mileage.Answer(exc.status, exc.problem()))
        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped
    return decorate


# -- request bodies ------------------------------------------------------------------------

@cache
def _validator(schema: str) -> Draft202012Validator:
    # The issuer only changes URLs in the document, never a schema. jsonschema is imported on
    # the first body read, not with the blueprint (issue 10, memory: 2.5 MB per worker that
    # serves no API call; the first call pays the import, about 0.2 s).
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = document("https://issuer.invalid")
    registry: Registry[Any] = Registry().with_resource(
        "urn:kotra:openapi", Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:kotra:openapi#/components/schemas/{schema}"},
                                registry=registry, format_checker=FormatChecker())


def _pointer(path: Any) -> str:
    """RFC 6901 JSON Pointer, in its URI fragment form (`#` is the whole body)."""
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def read_body(schema: str) -> dict[str, Any] | Response:
    """The JSON object of the request if it conforms to components/schemas/`schema`."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return problem(413, "payload-too-large", f"at most {MAX_BODY} bytes")
    if request.mimetype != "application/json":
        return problem(415, "unsupported-media-type", "send Content-Type: application/json")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        return problem(413, "payload-too-large", f"at most {MAX_BODY} bytes")
    try:
        # Decimals: 1000.0 is not an integer amount here (JSON Schema would take it for one);
        # NaN and Infinity are not JSON at all (RFC 8259 §6).
        body = json.loads(raw, parse_float=decimal.Decimal, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError):
        return problem(400, "malformed-json", "the body is not JSON (RFC 8259)")
    errors = sorted(_validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        return problem(422, "invalid-request", "the body does not conform to the schema "
                       f"{schema} (GET /api/openapi.json)",
                       errors=[{"pointer": _pointer(e.absolute_path), "detail": e.message}
                               for e in errors])
    if not isinstance(body, dict):  # pragma: no cover - every schema is an object
        return problem(422, "invalid-request", "expected a JSON object")
    return body


def idempotency_key(required: bool) -> str | None | Response:
    """The Idempotency-Key header: an sf-string ("...") or a bare token of 1–100 characters."""
    value = request.headers.get("Idempotency-Key")
    if value is None:
        if required:
            return problem(400, "idempotency-key-missing",
                           "send an Idempotency-Key header (a fresh UUID per operation)")
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY.fullmatch(value):
        return problem(400, "idempotency-key-missing",
                       "the Idempotency-Key must be 1 to 100 printable ASCII characters")
    return value


def _page_args() -> tuple[int, int | None] | Response:
    limit_text = request.args.get("limit", "20")
    cursor_text = request.args.get("cursor")
    if not limit_text.isascii() or not limit_text.isdigit() or not \
            1 <= int(limit_text) <= MAX_PAGE:
        return problem(400, "invalid-request", f"limit: an integer from 1 to {MAX_PAGE}")
    if cursor_text is not None and not re.fullmatch(r"[0-9]{1,18}", cursor_text):
        return problem(400, "invalid-request", "cursor: the next_cursor of a previous page")
    return int(limit_text), int(cursor_text) if cursor_text is not None else None


def respond(answer: mileage.Answer) -> Response:
    """The resource, or the refusal as a problem; a replayed answer says so."""
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else dict(answer.headers)
    if answer.status < 400:
        return _json(answer.body, answer.status, headers)
    extensions = {k: v for k, v in answer.body.items() if k not in ("code", "detail")}
    return problem(answer.status, answer.body["code"], answer.body.get("detail"), headers,
                   **extensions)


# -- the operations ------------------------------------------------------------------------

@bp.post("/v1/companies/<business_number>/participations")
@requires("kotra.services.write")
def record_participation(token: TokenRecord, business_number: str) -> Response:
    """Record that a company (and optionally its member) took part in a service."""
    key = idempotency_key(required=False)
    if isinstance(key, Response):
        return key
    body = read_body("ParticipationRequest")
    if isinstance(body, Response):
        return body
    return respond(mileage.record_participation(
        db.session, client_id=token.client_id, business_number=business_number,
        member=body.get("member"), service=body["service"].strip(), site=body["site"].strip(),
        occurred_on=dt.date.fromisoformat(body["date"]), idempotency_key=key, ip=client_ip()))


@bp.get("/v1/companies/<business_number>/participations")
@requires("kotra.services.read")
def list_participations(token: TokenRecord, business_number: str) -> Response:
    """The company's participations, newest first."""
    paging = _page_args()
    if isinstance(paging, Response):
        return paging
    page = mileage.participations(db.session, business_number, limit=paging[0],
                                  cursor=paging[1])
    return _json({"items": [p.as_json() for p in page.items], "next_cursor": page.next_cursor})


@bp.get("/v1/companies/<business_number>/mileage")
@requires("kotra.mileage.read")
def balance(token: TokenRecord, business_number: str) -> Response:
    """The company's mileage balance."""
    return _json(mileage.balance_of(db.session, business_number).as_json())


@bp.get("/v1/companies/<business_number>/mileage/entries")
@requires("kotra.mileage.read")
def history(token: TokenRecord, business_number: str) -> Response:
    """The company's mileage ledger, newest first."""
    paging = _page_args()
    if isinstance(paging, Response):
        return paging
    page = mileage.history(db.session, business_number, limit=paging[0], cursor=paging[1])
    return _json({"items": [e.as_json() for e in page.items], "next_cursor": page.next_cursor})


@bp.post("/v1/companies/<business_number>/mileage/earnings")
@requires("kotra.mileage.write")
def earn(token: TokenRecord, business_number: str) -> Response:
    """Earn mileage for the company."""
    key = idempotency_key(required=True)
    if isinstance(key, Response):
        return key
    assert key is not None  # required
    body = read_body("EarnRequest")
    if isinstance(body, Response):
        return body
    settings = provider().settings["api"]
    return respond(mileage.earn(
        db.session, client_id=token.client_id, business_number=business_number,
        amount=body["amount"], reason=body["reason"].strip(), service=body["service"].strip(),
        idempotency_key=key, ip=client_ip(),
        limits=mileage.EarnLimits(int(settings["earn_max_per_request"]),
                                  int(settings["earn_max_per_day"]))))


@bp.post("/v1/companies/<business_number>/mileage/uses")
@requires("kotra.mileage.write")
def use(token: TokenRecord, business_number: str) -> Response:
    """Use the company's mileage in the name of a member who holds the entitlement and who
    authenticated with the company's certificate at this client just now (the member's access
    token in `member_access_token` proves it)."""
    key = idempotency_key(required=True)
    if isinstance(key, Response):
        return key
    assert key is not None  # required
    body = read_body("UseRequest")
    if isinstance(body, Response):
        return body
    service = body.get("service")
    p = provider()
    return respond(mileage.use(
        db.session, client_id=token.client_id, business_number=business_number,
        member=body["member"], amount=body["amount"], reason=body["reason"].strip(),
        service=service.strip() if service else None, idempotency_key=key,
        matrix=p.entitlements, member_token=body["member_access_token"],
        step_up=mileage.StepUp(int(p.settings["api"]["use_auth_max_age"]), p.clock.now()),
        ip=client_ip()))


@bp.route("/v1/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/v1/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    """Problem details for what no operation matches: 405 with Allow, or 404."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except HTTPException:  # NotFound, MethodNotAllowed (RequestRedirect is one too)
            endpoint = None
        if endpoint not in (None, "api.unknown"):
            allowed.append(method)
    if allowed:
        return problem(405, "method-not-allowed", f"{request.method} is not supported here",
                       {"Allow": ", ".join(allowed)})
    return problem(404, "not-found", "no such operation (GET /api/openapi.json lists them)")


# -- the document ----------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document: public and cacheable."""
    body = _document_bytes(provider().issuer)
    etag = hashlib.sha256(body).hexdigest()[:32]
    resp = Response(body, mimetype="application/json", headers={
        "Cache-Control": "public, max-age=3600",
        "Access-Control-Allow-Origin": "*",  # for API explorers on other origins
    })
    resp.set_etag(etag)
    return resp.make_conditional(request)


@cache
def _document_bytes(issuer: str) -> bytes:
    return json.dumps(document(issuer), ensure_ascii=False, indent=1,
                      sort_keys=False).encode()
