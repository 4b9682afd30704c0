"""The authorization code flow through the Flask test client (fast, precise assertions)."""

from __future__ import annotations

import base64
import json


def _claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_code_flow_issues_tokens_with_kotra_claims(app, client, rp):
    tokens = rp.tokens(client)
    claims = _claims(tokens["id_token"])
    assert claims["sub"] == rp.subject
    assert claims["aud"] == [rp.client_id]
    assert claims["nonce"] == rp.last["nonce"]
    assert claims["acr"] == "urn:kotra:acr:password" and claims["amr"] == ["pwd"]
    assert claims["sid"] and claims["at_hash"]
    assert claims["kotra_member_type"] == "general"
    assert "kotra_company" not in claims
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.get_json()["kotra_entitlements"] == [
        "online_consultation", "seminar_application", "other_service_application"]
