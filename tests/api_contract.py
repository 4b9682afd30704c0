"""Checks a response of the service and mileage API against the OpenAPI document it serves.

`Contract(document).check(method, url, status, content_type, body)`: the path and method must be
described, the status must be one of the operation's responses, the media type the one the
document gives, and the body must validate against its schema (JSON Schema 2020-12 over the
document's own components, with formats checked).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_ROOT = "urn:test:openapi"
DESCRIBED_HEADERS = ("Idempotent-Replayed", "WWW-Authenticate")


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.base = urlsplit(document["servers"][0]["url"]).path.rstrip("/")
        self.registry: Registry[Any] = Registry().with_resource(
            _ROOT, Resource.from_contents(document, default_specification=DRAFT202012))
        self.paths = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"), template)
            for template in document["paths"]
        ]
        self.checked = 0

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in item:
            node: Any = self.document
            for part in item["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            item = node
        return item

    def operation(self, method: str, url: str) -> tuple[str, dict[str, Any]]:
        path = urlsplit(url).path
        assert path.startswith(self.base + "/"), f"{path} is not under {self.base}"
        rest = path[len(self.base):]
        for pattern, template in self.paths:
            if pattern.match(rest):
                item = self.document["paths"][template]
                assert method.lower() in item, f"{method} {template} is not described"
                return template, item[method.lower()]
        raise AssertionError(f"{path} is not described in the document")

    def check(self, method: str, url: str, status: int, content_type: str | None,
              body: bytes, headers: Any = None) -> None:
        template, operation = self.operation(method, url)
        responses = operation["responses"]
        assert str(status) in responses, (
            f"{method} {template} answered {status}, which the document does not describe: "
            f"{body[:300]!r}")
        response = self._resolve(responses[str(status)])
        for name in DESCRIBED_HEADERS:  # the API's own headers are declared where they occur
            if headers is not None and name in headers:
                assert name in response.get("headers", {}), (
                    f"{method} {template} {status} sent {name}, not in the document")
        content = response.get("content")
        if not content:
            assert not body, f"{method} {template} {status}: unexpected body"
            return
        media = (content_type or "").split(";")[0].strip()
        assert media in content, f"{method} {template} {status}: {media} not in {list(content)}"
        schema = content[media]["schema"]
        pointer = schema["$ref"] if "$ref" in schema else None
        validator = Draft202012Validator(
            {"$ref": f"{_ROOT}{pointer}"} if pointer else schema,
            registry=self.registry, format_checker=FormatChecker())
        validator.validate(json.loads(body))
        self.checked += 1

    def check_response(self, method: str, url: str, resp: Any) -> Any:
        """A Flask test response or a requests response; returned for chaining."""
        if hasattr(resp, "get_data"):
            self.check(method, url, resp.status_code, resp.headers.get("Content-Type"),
                       resp.get_data(), resp.headers)
        else:
            self.check(method, url, resp.status_code, resp.headers.get("Content-Type"),
                       resp.content, resp.headers)
        return resp


class CheckedClient:
    """A Flask test client for the API whose every response is checked against the document."""

    def __init__(self, client: Any, contract: Contract, token: str | None = None,
                 client_id: str = "") -> None:
        self.client = client
        self.contract = contract
        self.token = token
        self.client_id = client_id  # whose token it is (for member tokens of that client)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        out.update(headers or {})
        return out

    def get(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        resp = self.client.get(url, headers=self._headers(headers), **kw)
        return self.contract.check_response("GET", url, resp)

    def post(self, url: str, json_body: Any = None, headers: dict[str, str] | None = None,
             key: str | None = None, **kw: Any) -> Any:
        hdrs = self._headers(headers)
        if key is not None:
            hdrs["Idempotency-Key"] = key
        if json_body is not None:
            kw["json"] = json_body
        resp = self.client.post(url, headers=hdrs, **kw)
        return self.contract.check_response("POST", url, resp)
