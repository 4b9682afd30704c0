"""The whole server path of a corporate certificate authentication, without a browser:
POST /certificate/challenge → sign `to_sign` in Python (RSASSA-PKCS1-v1_5 / SHA-256, as the
browser's WebCrypto does) → POST /certificate/verify → the page takes the result; with a test
PKI whose CRL a local HTTP server serves, and with the demo PKI `make run` ships (its key
files decrypted with idp/npki_keyfiles.py, its CRL served by the app at /dev/npki/crl/)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from idp.adapters.npki_revocation import CrlOcspRevocation, demo_dir
from idp.cookies import build_cookies
from idp.extensions import db
from idp.models import AuditEvent
from idp.npki_keyfiles import read_sign_pri
from idp.npki_pki import Issued, Pki, demo_summary
from idp.services.npki import NpkiVerifier, default_allowed_policies
from tests.integration.test_npki_revocation import PkiServer

BN = "1248100998"


@pytest.fixture()
def server() -> Iterator[PkiServer]:
    s = PkiServer()
    yield s
    s.close()


@pytest.fixture()
def pki(server: PkiServer) -> Pki:
    pki = Pki(crl_base_url=f"{server.base}/crl/")
    server.files[f"/crl/{pki.ca_slug}.crl"] = pki.crl_der()
    return pki


def _use(app: Any, pki: Pki, mode: str = "strict") -> NpkiVerifier:
    p = app.extensions["idp"]
    verifier = NpkiVerifier(trust_anchors=[pki.root.cert],
                            allowed_policies=default_allowed_policies(),
                            revocation=CrlOcspRevocation(p.store, p.clock, timeout=2),
                            clock=p.clock, revocation_mode=mode)
    p.certificate_verifier = verifier
    return verifier


def _csrf(client: Any) -> str:
    html = client.get("/signup").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _authenticate(client: Any, cert_der: bytes, key: Any, random_r: bytes | None, *,
                  business_number: str = BN, chain: tuple[bytes, ...] = (),
                  purpose: str = "register") -> tuple[dict[str, Any], Any]:
    token = _csrf(client)
    challenge = client.post("/certificate/challenge", headers={"X-CSRFToken": token},
                            json={"purpose": purpose, "business_number": business_number,
                                  "next": "/company/register/done"})
    assert challenge.status_code == 200, challenge.get_data(as_text=True)
    ch = challenge.get_json()
    signature = key.sign(ch["to_sign"].encode(), padding.PKCS1v15(), hashes.SHA256())
    answer = client.post(ch["verify_url"], headers={"X-CSRFToken": token}, json={
        "certificate": _b64(cert_der), "signature": _b64(signature),
        "random_r": None if random_r is None else _b64(random_r),
        "chain": [_b64(c) for c in chain]})
    return ch, answer


def _take(app: Any, client: Any, cid: str, purpose: str = "register") -> Any:
    p = app.extensions["idp"]
    browser = client.get_cookie(build_cookies(p.settings, secure=False).browser.name).value
    with app.app_context():
        result = p.certificates.take(cid, browser=browser, purpose=purpose)
        db.session.commit()
    return result


def _events(app: Any, name: str) -> list[dict[str, Any]]:
    with app.app_context():
        return [e.detail for e in db.session.query(AuditEvent).filter_by(event=name)]


def _login(client: Any, issued: Issued, pki: Pki, **options: Any) -> tuple[dict[str, Any], Any]:
    return _authenticate(client, issued.der, issued.key, issued.random_r,
                         chain=(pki.ca.der,), **options)


def test_a_corporate_certificate_authenticates_end_to_end(app, client, server, pki):
    _use(app, pki)
    leaf = pki.corporate(BN, "테스트기업")
    ch, answer = _login(client, leaf, pki)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["next"] == f"/company/register/done?cr={ch['id']}"
    result = _take(app, client, ch["id"])
    assert result.business_number == BN and result.revocation == "good"
    assert result.serial == format(leaf.cert.serial_number, "x")
    verified = _events(app, "certificate.verified")
    assert verified and verified[0]["policy"] == "1.2.410.200005.1.1.5"
    assert server.hits[f"/crl/{pki.ca_slug}.crl"] == 1
    # a second authentication uses the cached CRL
    ch2, again = _login(client, leaf, pki)
    assert again.status_code == 200
    assert server.hits[f"/crl/{pki.ca_slug}.crl"] == 1


def test_the_same_proof_cannot_be_replayed(app, client, pki):
    _use(app, pki)
    leaf = pki.corporate(BN, "테스트기업")
    ch, answer = _login(client, leaf, pki)
    assert answer.status_code == 200
    signature = leaf.key.sign(ch["to_sign"].encode(), padding.PKCS1v15(), hashes.SHA256())
    replay = client.post(ch["verify_url"], headers={"X-CSRFToken": _csrf(client)}, json={
        "certificate": _b64(leaf.der), "signature": _b64(signature),
        "random_r": _b64(leaf.random_r), "chain": [_b64(pki.ca.der)]})
    assert replay.get_json()["error"] == "replayed"


@pytest.mark.parametrize("case, reason", [
    ("other_number", "vid_mismatch"), ("personal", "personal"), ("revoked", "revoked"),
    ("untrusted", "untrusted"), ("no_r", "no_vid"), ("other_key", "bad_signature"),
])
def test_each_refusal_reaches_the_browser_with_its_message_and_audit(app, client, server, pki,
                                                                    case, reason):
    _use(app, pki)
    leaf = pki.corporate(BN, "테스트기업")
    key, r, der, chain = leaf.key, leaf.random_r, leaf.der, (pki.ca.der,)
    number = BN
    if case == "other_number":
        number = "2208162517"
    elif case == "personal":
        person = pki.personal(BN, "홍길동")
        key, r, der = person.key, person.random_r, person.der
    elif case == "revoked":
        pki.revoke(leaf.cert)
        server.files[f"/crl/{pki.ca_slug}.crl"] = pki.crl_der()
    elif case == "untrusted":
        fake = Pki(now=pki.now)
        stranger = fake.corporate(BN, "테스트기업")
        key, r, der, chain = stranger.key, stranger.random_r, stranger.der, (fake.ca.der,)
    elif case == "no_r":
        r = None
    elif case == "other_key":
        key = pki.corporate(BN, "다른기업").key
    _, answer = _authenticate(client, der, key, r, business_number=number, chain=chain)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == reason
    assert answer.get_json()["message"]
    refused = _events(app, "certificate.refused")
    assert [e["reason"] for e in refused] == [reason]


def test_strict_mode_refuses_when_the_crl_cannot_be_had(app, client, server, pki):
    _use(app, pki, "strict")
    server.files.clear()
    _, answer = _login(client, pki.corporate(BN, "테스트기업"), pki)
    assert answer.get_json()["error"] == "revocation_unavailable"


def test_soft_mode_accepts_and_audits_when_the_crl_cannot_be_had(app, client, server, pki):
    _use(app, pki, "soft")
    server.files.clear()
    ch, answer = _login(client, pki.corporate(BN, "테스트기업"), pki)
    assert answer.status_code == 200
    assert _take(app, client, ch["id"]).revocation == "soft"
    assert [e["business_number"] for e in _events(app, "certificate.revocation_unchecked")] \
        == [BN]


def test_the_demo_pki_of_make_run_works_with_its_key_files_and_the_apps_own_crl(
        app, client, live_server):
    # The testing settings use the demo PKI (config/testing.toml); the verifier fetches the
    # CRL from this app over HTTP (/dev/npki/crl/), as `make run` does on port 5000.
    folder = demo_dir(app.extensions["idp"].settings)
    assert folder is not None
    summary = demo_summary(folder)
    assert summary is not None
    company = next(p for p in summary["people"] if p["business_number"] == "6638501035")
    key, r = read_sign_pri((Path(folder) / company["files"]["signPri"]).read_bytes(),
                           company["password"])
    cert_der = (Path(folder) / company["files"]["signCert"]).read_bytes()
    ch, answer = _authenticate(client, cert_der, key, r, business_number="6638501035",
                               chain=((Path(folder) / "ca.der").read_bytes(),))
    assert answer.status_code == 200, answer.get_json()
    assert _take(app, client, ch["id"]).revocation == "good"
    # the personal demo certificate is refused as personal
    person = next(p for p in summary["people"] if p["kind"] == "personal")
    key, r = read_sign_pri((Path(folder) / person["files"]["signPri"]).read_bytes(),
                           person["password"])
    _, answer = _authenticate(client, (Path(folder) / person["files"]["signCert"]).read_bytes(),
                              key, r, business_number="6638501035")
    assert answer.get_json()["error"] == "personal"


def test_the_demo_crl_route_serves_der_and_nothing_else(app, client):
    folder = demo_dir(app.extensions["idp"].settings)
    assert folder is not None
    crl = client.get("/dev/npki/crl/yessign-demo.crl")
    assert crl.status_code == 200 and crl.mimetype == "application/pkix-crl"
    assert crl.data == (folder / "crl" / "yessign-demo.crl").read_bytes()
    assert client.get("/dev/npki/crl/..%2Froot.crl").status_code == 404
    assert client.get("/dev/npki/crl/missing.crl").status_code == 404
