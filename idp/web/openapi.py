"""The OpenAPI 3.1 description of the service and mileage API (served at /api/openapi.json).

The document is data built here once per issuer; the API validates request bodies against its
own schemas (idp/web/api.py), and the tests validate every response against it, so the
description cannot drift from what is served.
"""

from __future__ import annotations

from typing import Any

from idp.services.mileage import API_SCOPES, MAX_AMOUNT, MAX_PAGE

SCOPES = API_SCOPES

# RFC 9457 §3.1.1: the problem type URIs (URNs: they name, they do not resolve).
PROBLEM_BASE = "urn:kotra:problem:"
PROBLEM_JSON = "application/problem+json"

_STRING = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(max_length: int, description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": r"\S",
            "description": description}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "format": "uri",
                     "description": "urn:kotra:problem:<code>; see docs/api.md."},
            "title": _STRING,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": _STRING,
            "instance": _STRING,
            "errors": {
                "type": "array",
                "description": "What is wrong with the request body (invalid-request).",
                "items": {"type": "object", "required": ["pointer", "detail"],
                          "properties": {"pointer": _STRING, "detail": _STRING},
                          "additionalProperties": False},
            },
            "balance": {"type": "integer", "minimum": 0,
                        "description": "The balance at the refusal (insufficient-balance)."},
            "scope": {"type": "string",
                      "description": "The scope the operation needs (insufficient-scope)."},
            "limit": {"type": "integer", "minimum": 1,
                      "description": "The cap that was reached (earn-amount-over-limit, "
                                     "earn-daily-limit-reached)."},
        },
    },
    "BusinessNumber": {
        "type": "string", "pattern": r"^[0-9]{3}-?[0-9]{2}-?[0-9]{5}$",
        "description": "사업자등록번호: 10 digits, dashes optional (123-45-67890).",
    },
    "Subject": {"type": "string", "minLength": 1, "maxLength": 64,
                "description": "The member's `sub` (OIDC Core §2) as in their ID token."},
    "ParticipationRequest": {
        "type": "object",
        "required": ["service", "site", "date"],
        "additionalProperties": False,
        "properties": {
            "member": {**_ref("Subject"),
                       "description": "Optional: the member who took part; they must be "
                                      "affiliated to the company."},
            "service": _text(200, "The service (e.g. 설명회 신청)."),
            "site": _text(200, "The relying party's site where it happened."),
            "date": {"type": "string", "format": "date",
                     "description": "When it happened (RFC 3339 full-date)."},
        },
    },
    "Participation": {
        "type": "object",
        "required": ["id", "business_number", "member", "service", "site", "date",
                     "client_id", "created_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "business_number": {"type": "string", "pattern": "^[0-9]{10}$"},
            "member": {"type": ["string", "null"]},
            "service": _STRING,
            "site": _STRING,
            "date": {"type": "string", "format": "date"},
            "client_id": _STRING,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "ParticipationPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref("Participation")},
            "next_cursor": {"type": ["string", "null"],
                            "description": "Pass as `cursor` for the next (older) page."},
        },
    },
    "EarnRequest": {
        "type": "object",
        "required": ["amount", "reason", "service"],
        "additionalProperties": False,
        "properties": {
            "amount": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
            "reason": _text(200, "Why the company earns it."),
            "service": _text(200, "The service it was earned with."),
        },
    },
    "UseRequest": {
        "type": "object",
        "required": ["member", "member_access_token", "amount", "reason"],
        "additionalProperties": False,
        "properties": {
            "member": {**_ref("Subject"),
                       "description": "The member using the company's mileage: they must "
                                      "hold the service_mileage entitlement now (affiliated "
                                      "to the company by certificate)."},
            "member_access_token": {
                "type": "string", "minLength": 1, "maxLength": 512,
                "pattern": r"^[A-Za-z0-9\-._~+/]+=*$",
                "description": "The member's access token, as the provider's token endpoint "
                               "issued it to YOUR client (the authorization code flow) after "
                               "the member authenticated with the company's certificate "
                               "(acr urn:kotra:acr:certificate) — at most [api] "
                               "use_auth_max_age seconds (600) before the use; its subject "
                               "must be `member`. Checked on every request, replays "
                               "included; refused with 403 member-token-invalid, "
                               "member-token-other-client, member-token-other-member or "
                               "step-up-required."},
            "amount": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
            "reason": _text(200, "What it is used for."),
            "service": _text(200, "The service it is used for (optional)."),
        },
    },
    "MileageEntry": {
        "type": "object",
        "required": ["id", "business_number", "kind", "amount", "balance_after", "reason",
                     "service", "member", "client_id", "created_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "business_number": {"type": "string", "pattern": "^[0-9]{10}$"},
            "kind": {"type": "string", "enum": ["earn", "use"]},
            "amount": {"type": "integer", "minimum": 1},
            "balance_after": {"type": "integer", "minimum": 0},
            "reason": _STRING,
            "service": {"type": ["string", "null"]},
            "member": {"type": ["string", "null"]},
            "client_id": _STRING,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "MileageEntryPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref("MileageEntry")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "MileageBalance": {
        "type": "object",
        "required": ["business_number", "company_name", "balance", "updated_at"],
        "additionalProperties": False,
        "properties": {
            "business_number": {"type": "string", "pattern": "^[0-9]{10}$"},
            "company_name": _STRING,
            "balance": {"type": "integer", "minimum": 0},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
}

# The problems each kind of operation can answer (status -> description).
_AUTH_ERRORS = {
    "401": "No bearer token, or one that is unknown, expired, revoked or not a "
           "client_credentials token (RFC 6750 §3.1 invalid_token).",
    "403": "The token lacks the operation's scope (RFC 6750 §3.1 insufficient_scope); for a "
           "use, also the member's access token is refused: not a live member token "
           "(member-token-invalid), issued to another client (member-token-other-client), "
           "for another member (member-token-other-member), or not from a recent "
           "certificate authentication (step-up-required).",
}
_READ_ERRORS = {
    "400": "A bad query parameter, or the token in the query string (RFC 6750 §2.3 is not "
           "supported).",
    **_AUTH_ERRORS,
    "404": "No company has this business number (company-not-found).",
}
_WRITE_ERRORS = {
    "400": "Malformed JSON (malformed-json) or a missing/malformed Idempotency-Key header "
           "(idempotency-key-missing).",
    **_AUTH_ERRORS,
    "404": "No company has this business number (company-not-found).",
    "409": "The company is not active (company-not-active), its balance is too low "
           "(insufficient-balance), or a concurrent request with the same Idempotency-Key "
           "failed (idempotency-key-in-flight: retry).",
    "413": "The body is larger than 16 KiB (payload-too-large).",
    "415": "The body is not application/json (unsupported-media-type).",
    "422": "The body breaks the schema (invalid-request); the earning is above the "
           "per-earning cap (earn-amount-over-limit); the member is unknown "
           "(member-not-found), not affiliated to the company (member-not-affiliated) or "
           "lacks the mileage entitlement (member-not-entitled); or the Idempotency-Key was "
           "used before with another request (idempotency-key-reused).",
}


_EARN_ERRORS = {
    **_WRITE_ERRORS,
    "429": "The client reached its daily earning cap (earn-daily-limit-reached); Retry-After "
           "says when the day (KST) ends.",
}


def _problems(errors: dict[str, str]) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/Problem{status}"} for status in errors}


def _ok(description: str, schema: str, *, replayable: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if replayable:
        response["headers"] = {"Idempotent-Replayed": {"$ref": "#/components/headers/Replayed"}}
    return response


_BN = {"$ref": "#/components/parameters/BusinessNumber"}
_PAGING = [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}]


def _operation(op_id: str, summary: str, scope: str, responses: dict[str, Any],
               errors: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "operationId": op_id, "summary": summary, "tags": [op_id.split("_")[0]],
        "security": [{"oauth2": [scope]}],
        "responses": {**responses, **_problems(errors)},
        **extra,
    }


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def document(issuer: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a provider at `issuer`."""
    all_errors = {**_EARN_ERRORS, **_READ_ERRORS}
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "KOTRA service and mileage API",
            "version": "1.0.0",
            "summary": "Relying parties report service participations and earn and use "
                       "companies' mileage (SPEC §5).",
            "description": "Authenticate with an access token from the client_credentials "
                           "grant at the provider's token endpoint (RFC 6749 §4.4), sent in "
                           "the Authorization header (RFC 6750 §2.1). Errors are RFC 9457 "
                           "problem details. See docs/api.md.",
        },
        "servers": [{"url": f"{issuer}/api/v1"}],
        "tags": [{"name": "participations"}, {"name": "mileage"}],
        "paths": {
            "/companies/{business_number}/participations": {
                "parameters": [_BN],
                "post": _operation(
                    "participations_record", "Record a service participation",
                    "kotra.services.write",
                    {"201": _ok("Recorded (or the replay of the first answer to this "
                                "Idempotency-Key).", "Participation", replayable=True)},
                    _WRITE_ERRORS,
                    parameters=[{"$ref": "#/components/parameters/IdempotencyKeyOptional"}],
                    requestBody=_body("ParticipationRequest")),
                "get": _operation(
                    "participations_list", "The company's participations, newest first",
                    "kotra.services.read",
                    {"200": _ok("One page.", "ParticipationPage")}, _READ_ERRORS,
                    parameters=_PAGING),
            },
            "/companies/{business_number}/mileage": {
                "parameters": [_BN],
                "get": _operation(
                    "mileage_balance", "The company's mileage balance", "kotra.mileage.read",
                    {"200": _ok("The balance (0 before anything was earned).",
                                "MileageBalance")}, _READ_ERRORS),
            },
            "/companies/{business_number}/mileage/entries": {
                "parameters": [_BN],
                "get": _operation(
                    "mileage_history", "The company's mileage ledger, newest first",
                    "kotra.mileage.read",
                    {"200": _ok("One page.", "MileageEntryPage")}, _READ_ERRORS,
                    parameters=_PAGING),
            },
            "/companies/{business_number}/mileage/earnings": {
                "parameters": [_BN],
                "post": _operation(
                    "mileage_earn", "Earn mileage for the company", "kotra.mileage.write",
                    {"201": _ok("The ledger entry (or the replay of the first answer to this "
                                "Idempotency-Key).", "MileageEntry", replayable=True)},
                    _EARN_ERRORS,
                    description="Capped per client: at most [api] earn_max_per_request per "
                                "earning (422 earn-amount-over-limit) and earn_max_per_day "
                                "per calendar day in Korea over all companies (429 "
                                "earn-daily-limit-reached, with Retry-After). These refusals "
                                "are not stored with the Idempotency-Key.",
                    parameters=[{"$ref": "#/components/parameters/IdempotencyKey"}],
                    requestBody=_body("EarnRequest")),
            },
            "/companies/{business_number}/mileage/uses": {
                "parameters": [_BN],
                "post": _operation(
                    "mileage_use", "Use the company's mileage in a member's name",
                    "kotra.mileage.write",
                    {"201": _ok("The ledger entry (or the replay of the first answer to this "
                                "Idempotency-Key).", "MileageEntry", replayable=True)},
                    _WRITE_ERRORS,
                    description="The member must hold the service_mileage entitlement now, "
                                "and must have authenticated with their company's "
                                "certificate at YOUR site just now: first send them through "
                                "an authorization request with acr_values="
                                "urn:kotra:acr:certificate and prompt=login, then send the "
                                "access token you got in `member_access_token` (403 "
                                "step-up-required when it is not at certificate level or "
                                "older than [api] use_auth_max_age). The balance never goes "
                                "below zero: a use larger than the balance is refused with "
                                "409.",
                    parameters=[{"$ref": "#/components/parameters/IdempotencyKey"}],
                    requestBody=_body("UseRequest")),
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "parameters": {
                "BusinessNumber": {"name": "business_number", "in": "path", "required": True,
                                   "schema": _ref("BusinessNumber")},
                "Limit": {"name": "limit", "in": "query", "required": False,
                          "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                     "default": 20}},
                "Cursor": {"name": "cursor", "in": "query", "required": False,
                           "description": "next_cursor of the previous page.",
                           "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": True,
                    "description": "draft-ietf-httpapi-idempotency-key-header: 1 to 100 "
                                   "printable ASCII characters (a UUID is a good choice), as a "
                                   "structured-field string or bare. Keys are per client.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 102}},
                "IdempotencyKeyOptional": {
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "As for mileage; recommended.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 102}},
            },
            "headers": {
                "Replayed": {"description": "`true` when the answer is the stored answer to "
                                            "an earlier request with the same key.",
                             "schema": {"type": "string", "enum": ["true"]}},
            },
            "responses": {
                f"Problem{status}": {
                    "description": text,
                    "content": {PROBLEM_JSON: {"schema": _ref("Problem")}},
                    **({"headers": {"WWW-Authenticate": {
                        "description": "RFC 6750 §3 challenge.",
                        "schema": {"type": "string"}}}}
                       if status in ("400", "401", "403") else {}),
                    # A refusal is the first answer to its key as much as a success is.
                    **({"headers": {"Idempotent-Replayed": {
                        "$ref": "#/components/headers/Replayed"}}}
                       if status in ("404", "409", "422") else {}),
                    **({"headers": {"Retry-After": {
                        "description": "RFC 9110 §10.2.3: seconds until the cap resets.",
                        "schema": {"type": "integer", "minimum": 1}}}}
                       if status == "429" else {}),
                }
                for status, text in sorted(all_errors.items())
            },
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": "client_credentials (RFC 6749 §4.4) at the provider's "
                                   "token endpoint; the client must be allowed the scopes.",
                    "flows": {"clientCredentials": {"tokenUrl": f"{issuer}/token",
                                                    "scopes": SCOPES}},
                },
            },
        },
    }
