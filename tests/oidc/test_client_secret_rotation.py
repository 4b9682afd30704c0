"""`idp clients rotate-secret` (issue 10's runbook, docs/operations.md §3): a new client secret
with a grace period for the old one, checked at the token, introspection and revocation
endpoints (RFC 6749 §2.3.1) — the site deploys the new secret without a failed request."""

from __future__ import annotations

import base64
import json
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select, update

from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, OAuthClient
from tests.helpers import TestRP


def _rotate(migrated: str, *args: str) -> Any:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": migrated}
    return CliRunner().invoke(main, ["clients", "rotate-secret", *args, "--json"], env=env)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _cc(client: Any, client_id: str, secret: str) -> int:
    """client_credentials (the hot path) and introspection (Authlib's client
    authentication): the same answer from both, returned once."""
    token = client.post("/token", data={"grant_type": "client_credentials"},
                        headers=_basic(client_id, secret))
    introspect = client.post("/introspect", data={"token": "x" * 43},
                             headers=_basic(client_id, secret))
    assert (token.status_code == 200) == (introspect.status_code == 200), (
        token.status_code, introspect.status_code)
    if token.status_code != 200:
        assert token.json["error"] == "invalid_client"
    return int(token.status_code)


def test_the_old_secret_works_until_its_grace_period_ends(app, client, migrated) -> None:
    rp = TestRP.create(app, member=False)
    first = rp.client_secret

    rotated = _rotate(migrated, rp.client_id, "--grace", "3600")
    assert rotated.exit_code == 0, rotated.output
    data = json.loads(rotated.stdout)
    second = data["client_secret"]
    assert second != first and data["previous_secret_valid_until"].endswith("Z")
    assert _cc(client, rp.client_id, first) == 200  # in its grace period
    assert _cc(client, rp.client_id, second) == 200
    assert _cc(client, rp.client_id, "not-" + second) == 401

    with app.app_context():  # the grace period is over
        db.session.execute(update(OAuthClient).where(OAuthClient.client_id == rp.client_id)
                           .values(previous_secret_expires_at=1))
        db.session.commit()
    assert _cc(client, rp.client_id, first) == 401
    assert _cc(client, rp.client_id, second) == 200

    # A leaked secret: --grace 0 ends it at once, and an older one in its grace ends too.
    third = json.loads(_rotate(migrated, rp.client_id, "--grace", "3600").stdout)["client_secret"]
    assert _cc(client, rp.client_id, second) == 200
    leaked = _rotate(migrated, rp.client_id, "--grace", "0")
    data = json.loads(leaked.stdout)
    assert data["previous_secret_valid_until"] is None
    for old in (first, second, third):
        assert _cc(client, rp.client_id, old) == 401
    assert _cc(client, rp.client_id, data["client_secret"]) == 200

    with app.app_context():
        row = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == rp.client_id))
        assert data["client_secret"] not in (row.client_secret_hash or "")  # only its hash
        events = db.session.scalars(select(AuditEvent.detail).where(
            AuditEvent.event == "client.secret_rotated")).all()
        assert [e["grace_seconds"] for e in events] == [3600, 3600, 0]


def test_refused_for_an_unknown_or_public_client(app, migrated) -> None:
    public = TestRP.create(app, auth_method="none", member=False)
    for client_id, error in (("no-such-client", "not_found"), (public.client_id, "public_client")):
        result = _rotate(migrated, client_id)
        assert result.exit_code == 1
        assert json.loads(result.stdout)["error"] == error
    assert _rotate(migrated, public.client_id, "--grace", "-1").exit_code == 2  # usage error
