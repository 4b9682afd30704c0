"""The HTTP contract of corporate certificate authentication (idp/web/certificate.py) with a
scripted verifier: challenge → proof → `next?cr=`, taken once; refusals and replays."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from idp.cookies import build_cookies
from idp.extensions import db
from idp.models import AuditEvent
from idp.services.certificates import CertificateError
from idp.services.ports import CertificateProof, CertificateRefused, CertifiedCompany
from tests.helpers import certified_company


class ScriptedVerifier:
    def __init__(self) -> None:
        self.answer: CertifiedCompany | Exception = certified_company("1248100998")
        self.seen: list[tuple[CertificateProof, bytes, str]] = []

    def verify(self, proof: CertificateProof, signed: bytes, business_number: str
               ) -> CertifiedCompany:
        self.seen.append((proof, signed, business_number))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture()
def verifier(app: Any) -> ScriptedVerifier:
    v = ScriptedVerifier()
    app.extensions["idp"].certificate_verifier = v
    return v


def _csrf(client: Any) -> str:
    html = client.get("/signup").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _challenge(client: Any, **body: Any) -> Any:
    payload = {"purpose": "register", "business_number": "124-81-00998", "next": "/done"}
    payload.update(body)
    return client.post("/certificate/challenge", json=payload,
                       headers={"X-CSRFToken": _csrf(client)})


def _proof(client: Any, cid: str, **body: Any) -> Any:
    payload = {"certificate": _b64(b"cert"), "signature": _b64(b"sig"),
               "random_r": _b64(b"r" * 20), "chain": []}
    payload.update(body)
    return client.post(f"/certificate/verify/{cid}", json=payload,
                       headers={"X-CSRFToken": _csrf(client)})


def test_a_proof_for_the_challenge_comes_back_once_on_the_page(app, client, verifier):
    ch = _challenge(client).get_json()
    assert "business_number: 1248100998" in ch["to_sign"]
    assert "purpose: register" in ch["to_sign"]
    answer = _proof(client, ch["id"])
    assert answer.status_code == 200
    assert answer.get_json()["next"] == f"/done?cr={ch['id']}"
    proof, signed, bn = verifier.seen[0]
    assert (proof.certificate, proof.signature, proof.random_r) == (b"cert", b"sig", b"r" * 20)
    assert signed == ch["to_sign"].encode() and bn == "1248100998"
    # a second proof for the same challenge is a replay
    again = _proof(client, ch["id"])
    assert again.status_code == 400 and again.get_json()["error"] == "replayed"
    p = app.extensions["idp"]
    browser = client.get_cookie(build_cookies(p.settings, secure=False).browser.name).value
    with app.app_context():
        with pytest.raises(CertificateError) as exc:
            p.certificates.take(ch["id"], browser=browser, purpose="login")
        assert exc.value.reason == "purpose"
        assert p.certificates.take(ch["id"], browser=browser,
                                   purpose="register").business_number == "1248100998"
        with pytest.raises(CertificateError):
            p.certificates.take(ch["id"], browser=browser, purpose="register")
        kinds = [e.event for e in db.session.query(AuditEvent).all()]
    assert "certificate.verified" in kinds


def test_a_refusal_has_its_message_and_audit_reason(app, client, verifier):
    verifier.answer = CertificateRefused("vid_mismatch")
    ch = _challenge(client).get_json()
    answer = _proof(client, ch["id"])
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "vid_mismatch"
    assert "사업자등록번호" in answer.get_json()["message"]
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="certificate.refused").one()
        assert event.detail["reason"] == "vid_mismatch"


@pytest.mark.parametrize("body", [{"purpose": "nope"}, {"next": "https://evil.example/"},
                                  {"next": "//evil.example"}])
def test_a_bad_challenge_request_is_refused(client, verifier, body):
    assert _challenge(client, **body).get_json()["error"] == "malformed"


def test_a_business_number_with_a_wrong_check_digit_is_refused(client, verifier):
    answer = _challenge(client, business_number="1234567890")
    assert answer.status_code == 400 and answer.get_json()["error"] == "business_number"


@pytest.mark.parametrize("body", [{"certificate": "***"}, {"signature": None},
                                  {"chain": "x"}, {"random_r": 5}])
def test_a_malformed_proof_is_refused_before_the_verifier(client, verifier, body):
    ch = _challenge(client).get_json()
    assert _proof(client, ch["id"], **body).get_json()["error"] == "malformed"
    assert verifier.seen == []


def test_another_browsers_challenge_is_a_replay(app, client, verifier):
    ch = _challenge(client).get_json()
    other = app.test_client()
    assert _proof(other, ch["id"]).get_json()["error"] == "replayed"


def test_without_a_verifier_the_answer_is_unavailable(app, client):
    app.extensions["idp"].certificate_verifier = None
    answer = _challenge(client)
    assert answer.status_code == 503 and answer.get_json()["error"] == "unavailable"
