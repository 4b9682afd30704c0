"""The demo PKI `make run` ships (idp/npki_pki.py, `idp npki demo-pki`): the files a person
picks in the browser open with the printed password, hold R, and verify."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding

from idp.adapters.clock import FakeClock
from idp.cli import main
from idp.npki_keyfiles import read_pfx, read_sign_pri
from idp.npki_pki import DEMO_COMPANIES, DEMO_CRL_BASE, demo_summary, ensure_demo_pki
from idp.services.npki import NpkiVerifier, default_allowed_policies, read_vid, vid_value
from idp.services.ports import CertificateProof


class NeverRevoked:
    def is_revoked(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        return False


def test_the_cli_writes_the_demo_pki_and_its_files_verify(tmp_path: Path):
    out = tmp_path / "demo-pki"
    result = CliRunner().invoke(main, ["npki", "demo-pki", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["crl_url"] == f"{DEMO_CRL_BASE}yessign-demo.crl"
    assert {p.get("business_number") for p in summary["people"]} == \
        {n for n, _ in DEMO_COMPANIES} | {None}
    root = x509.load_der_x509_certificate((out / "root.der").read_bytes())
    ca = x509.load_der_x509_certificate((out / "ca.der").read_bytes())
    crl = x509.load_der_x509_crl((out / "crl" / "yessign-demo.crl").read_bytes())
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    verifier = NpkiVerifier(trust_anchors=[root], intermediates=[ca],
                            allowed_policies=default_allowed_policies(),
                            revocation=NeverRevoked(), clock=FakeClock())
    for person in summary["people"]:
        folder = Path(person["files"]["signCert"]).parent
        assert folder.parts[:3] == ("NPKI", "yessign-demo", "USER")
        cert_der = (out / person["files"]["signCert"]).read_bytes()
        key, r = read_sign_pri((out / person["files"]["signPri"]).read_bytes(),
                               person["password"])
        assert r is not None and len(r) >= 20
        pfx_key, pfx_cert, chain, pfx_r = read_pfx((out / person["files"]["pfx"]).read_bytes(),
                                                   person["password"])
        assert pfx_r == r and pfx_cert.public_bytes(Encoding.DER) == cert_der
        assert pfx_key.private_numbers() == key.private_numbers() and chain == [ca]
        if person["kind"] != "corporate":
            continue
        vid = read_vid(x509.load_der_x509_certificate(cert_der))
        assert vid is not None and vid.value == vid_value(person["business_number"], r)
        signature = key.sign(b"challenge", padding.PKCS1v15(), hashes.SHA256())
        proof = CertificateProof(certificate=cert_der, signature=signature, random_r=r)
        assert verifier.verify(proof, b"challenge", person["business_number"]).business_number \
            == person["business_number"]
    assert "password" in (out / "README.txt").read_text()


def test_ensure_demo_pki_writes_once(tmp_path: Path):
    out = tmp_path / "demo"
    root = ensure_demo_pki(out)
    first = root.read_bytes()
    assert ensure_demo_pki(out).read_bytes() == first
    assert demo_summary(out) is not None
