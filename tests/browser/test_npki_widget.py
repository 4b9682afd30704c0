"""인증서찾기 in headless Chromium (templates/certificate/_widget.html, static/npki/).

- The JavaScript SEED against RFC 4269's four test vectors and against OpenSSL, the 3DES of
  legacy pfx files against OpenSSL, PBKDF1/PBKDF2/the PKCS#12 KDF, and the key files that
  idp/npki_keyfiles.py writes (both signPri.key schemes, pfx with and without R, legacy 3DES)
  plus a real yessign test certificate's files (PyPinkSign's vector), all run in the page.
- The widget against the real /certificate/challenge and /certificate/verify endpoints, with a
  test verifier that really checks the RSA signature with the certificate's key (the real
  NPKI verifier is another branch's); a wrong password (Korean message, no request); a network
  capture proving that no request carries the password, the key file or the decrypted key;
  axe-core on every state; a screenshot for docs/img/.

The widget lives inside other pages; here test-only pages hold it (registered on the test app,
never on the real one).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED, TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.x509.oid import NameOID
from flask import Blueprint, render_template_string

from idp import npki_keyfiles as kf
from idp.services.ports import (
    CertificateProof,
    CertificateRefused,
    CertifiedCompany,
)
from idp.web.certificate import CertificateError, certificate_message, take_certificate
from tests.browser.test_accessibility import assert_accessible, axe_source  # noqa: F401

PROJECT = Path(__file__).resolve().parents[2]
VECTOR = json.loads((PROJECT / "tests" / "data" / "npki" / "pypinksign_vector.json").read_text())
PASSWORD = "kotra한글1!"
R = bytes.fromhex("5d1c2b7a9e0f11223344556677889900aabbccdd")
BUSINESS_NUMBER = "1248100998"

# RFC 4269 Appendix B: (key, plaintext, ciphertext)
RFC4269 = [
    ("00000000000000000000000000000000", "000102030405060708090a0b0c0d0e0f",
     "5ebac6e0054e166819aff1cc6d346cdb"),
    ("000102030405060708090a0b0c0d0e0f", "00000000000000000000000000000000",
     "c11f22f20140505084483597e4370f43"),
    ("4706480851e61be85d74bfb3fd956185", "83a2f8a288641fb9a4e9a5cc2f131c7d",
     "ee54d13ebcae706d226bc3142cd40d4a"),
    ("28dbc3bc49ffd87dcfa509b11d422be7", "b41e6be2eba84a148e2eed84593c5ec7",
     "9b9b7bfcd1813cb95d0b3618f40f5122"),
]

LAB = """{% extends "base.html" %}{% block content %}<h1>NPKI lab</h1>{% endblock %}"""
PAGE = """{% extends "base.html" %}
{% from "certificate/_widget.html" import certificate_widget %}
{% block content %}
<div class="card">
  <h1>{{ _("기업정보 관리") }}</h1>
  <label for="business_number">{{ _("사업자등록번호") }}</label>
  <input type="text" id="business_number" value="{{ bn }}">
  {{ certificate_widget("login", "/_test/npki/done", business_number_field="business_number") }}
</div>
{% endblock %}"""
IN_FORM = """{% extends "base.html" %}
{% from "certificate/_widget.html" import certificate_widget %}
{% block content %}
<form method="get" action="/_test/npki/done" class="form card">
  <h1>{{ _("기업정보 등록") }}</h1>
  {{ certificate_widget("register", "/_test/npki/done", business_number="1248100998") }}
  <button type="submit">{{ _("다음") }}</button>
</form>
{% endblock %}"""
DONE = """{% extends "base.html" %}{% block content %}<div class="card">
<p id="result">{{ result }}</p></div>{% endblock %}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def to_ber(data: bytes) -> bytes:
    """The same structure with every constructed element in BER's indefinite-length form and
    OCTET STRINGs over 64 bytes split into constructed parts (as some pfx writers do)."""
    out, pos = b"", 0
    while pos < len(data):
        tag, length, pos = data[pos], data[pos + 1], pos + 2
        if length & 0x80:
            n = length & 0x7F
            length, pos = int.from_bytes(data[pos:pos + n], "big"), pos + n
        body, pos = data[pos:pos + length], pos + length
        if tag & 0x20:
            out += bytes([tag, 0x80]) + to_ber(body) + b"\0\0"
        elif tag == 0x04 and len(body) > 64:
            parts = [body[i:i + 64] for i in range(0, len(body), 64)]
            out += b"\x24\x80" + b"".join(
                b"\x04" + _der_length(len(part)) + part for part in parts) + b"\0\0"
        else:
            out += bytes([tag]) + _der_length(length) + body
    return out


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


class SignatureCheckingVerifier:
    """For these tests only: checks the signature with the certificate's public key and
    that R came; trusts the certificate otherwise (the real rules are idp/services/npki)."""

    def __init__(self) -> None:
        self.proofs: list[CertificateProof] = []

    def verify(self, proof: CertificateProof, signed: bytes, business_number: str
               ) -> CertifiedCompany:
        self.proofs.append(proof)
        try:
            cert = x509.load_der_x509_certificate(proof.certificate)
        except ValueError as exc:
            raise CertificateRefused("malformed", str(exc)) from exc
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            key.verify(proof.signature, signed, PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise CertificateRefused("bad_signature") from exc
        if proof.random_r is None:
            raise CertificateRefused("no_vid", "the key file has no R")
        return CertifiedCompany(
            business_number=business_number, subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(), serial=format(cert.serial_number, "x"),
            policy_oid="1.2.410.200005.1.1.5",
            not_after=cert.not_valid_after_utc.replace(tzinfo=None))


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    """A CA and a corporate certificate with its key files (made by idp/npki_keyfiles.py)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yessign"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "yessignCA Class 2 (test)")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yessign"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "corporation4EC"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "(주)한국이디에스()0012345")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(0x1A2B3C)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(dt.datetime(2027, 1, 21, 14, 59, 59, tzinfo=dt.UTC))
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                x509.ObjectIdentifier("1.2.410.200005.1.1.5"), None)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    der = serialization.Encoding.DER
    pkcs8 = key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return {
        "key": key, "cert": cert, "ca": ca, "cert_der": cert.public_bytes(der),
        "ca_der": ca.public_bytes(der), "pkcs8": pkcs8,
        "pkcs8_with_r": kf.private_key_info(key, R),
        "d": key.private_numbers().d.to_bytes(256, "big"),
        "sign_pri": kf.write_sign_pri(key, PASSWORD, R, "seed-cbc-sha1"),
        "sign_pri_pbes2": kf.write_sign_pri(key, PASSWORD, R, "pbes2-seed"),
        "sign_pri_no_r": kf.write_sign_pri(key, PASSWORD, None, "seed-cbc-sha1"),
        "pfx_r": kf.write_pfx(cert, key, PASSWORD, [ca], random_r=R),
        "pfx": kf.write_pfx(cert, key, PASSWORD, [ca]),
        "pfx_3des": kf.write_pfx(cert, key, PASSWORD, [ca], legacy=True),
        "pfx_ber": to_ber(kf.write_pfx(cert, key, PASSWORD, [ca], random_r=R)),
    }


@pytest.fixture()
def site(app: Any, request: pytest.FixtureRequest, pki: dict[str, Any],
         tmp_path: Path) -> dict[str, Any]:
    """Test-only pages on the test app, the signature-checking verifier, the key files on disk."""
    verifier = SignatureCheckingVerifier()
    app.extensions["idp"].certificate_verifier = verifier
    bp = Blueprint("npki_widget_test", __name__)

    @bp.get("/_test/npki/lab")
    def lab() -> str:
        return render_template_string(LAB)

    @bp.get("/_test/npki/widget")
    def widget() -> str:
        return render_template_string(PAGE, bn=BUSINESS_NUMBER)

    @bp.get("/_test/npki/in-form")
    def in_form() -> str:
        return render_template_string(IN_FORM)

    @bp.get("/_test/npki/done")
    def done() -> str:
        try:
            company = take_certificate("login")
            result = f"OK {company.business_number} {company.subject}"
        except CertificateError as exc:
            result = f"ERROR {certificate_message(exc.reason)}"
        return render_template_string(DONE, result=result)

    app.register_blueprint(bp)
    files = {}
    for name in ("sign_pri", "sign_pri_pbes2", "sign_pri_no_r", "pfx_r", "pfx", "pfx_3des"):
        suffix = ".pfx" if name.startswith("pfx") else ".key"
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(pki[name])
        files[name] = str(path)
    cert_path = tmp_path / "signCert.der"
    cert_path.write_bytes(pki["cert_der"])
    files["cert"] = str(cert_path)
    issuer = request.getfixturevalue("live_server")
    return {"base": issuer, "verifier": verifier, "files": files}


@pytest.fixture()
def page(browser: Any) -> Any:
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 900, "height": 1100})
    ctx.set_default_timeout(20_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


# --- (a) the primitives and the key files, in the page ------------------------------------------

IMPORT = ("const seed = await import('/static/npki/seed.js');"
          "const des = await import('/static/npki/des.js');"
          "const kf = await import('/static/npki/keyfiles.js');"
          "const h = (s) => Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));"
          "const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');")


def run_js(page: Any, body: str, arg: Any = None) -> Any:
    return page.evaluate(f"async (arg) => {{ {IMPORT} {body} }}", arg)


def test_seed_rfc4269_vectors_and_openssl(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"{site['base']}/_test/npki/lab")
    got = run_js(page, """
        return arg.map(([k, p]) => hex(seed.encryptBlock(seed.keySchedule(h(k)), h(p))));""",
                 [[k, p] for k, p, _ in RFC4269])
    assert got == [c for _, _, c in RFC4269]
    back = run_js(page, """
        return arg.map(([k, c]) => hex(seed.decryptBlock(seed.keySchedule(h(k)), h(c))));""",
                  [[k, c] for k, _, c in RFC4269])
    assert back == [p for _, p, _ in RFC4269]
    # SEED-CBC against OpenSSL on random keys, IVs and lengths (every S-box entry gets used)
    cases = []
    for n in range(40):
        key, iv, plain = os.urandom(16), os.urandom(16), os.urandom(n * 7)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(SEED(key), modes.CBC(iv)).encryptor()
        cipher = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
        cases.append([key.hex(), iv.hex(), plain.hex(), cipher.hex()])
    result = run_js(page, """
        return arg.map(([k, iv, p, c]) => [hex(seed.cbcEncrypt(h(k), h(iv), h(p))) === c,
                                           hex(seed.cbcDecrypt(h(k), h(iv), h(c))) === p]);""",
                    cases)
    assert result == [[True, True]] * len(cases)


def test_3des_against_openssl(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"{site['base']}/_test/npki/lab")
    cases = []
    for n in range(12):
        key, iv, plain = os.urandom(24), os.urandom(8), os.urandom(n * 5)
        padder = padding.PKCS7(64).padder()
        enc = Cipher(TripleDES(key), modes.CBC(iv)).encryptor()
        cipher = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
        cases.append([key.hex(), iv.hex(), plain.hex(), cipher.hex()])
    result = run_js(page, """
        return arg.map(([k, iv, p, c]) =>
            hex(des.tripleDesCbcDecrypt(h(k), h(iv), h(c))) === p);""",
                    cases)
    assert result == [True] * len(cases)


def test_key_derivations(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"{site['base']}/_test/npki/lab")
    salt = bytes.fromhex("c8ea2fa25023c285")
    got = run_js(page, """
        const pw = kf.utf8(arg.pw), salt = h(arg.salt);
        return {
          pbkdf1: hex(await kf.pbkdf1Sha1(pw, salt, 2048, 20)),
          rfc6070_2: hex(await kf.pbkdf2(kf.utf8('password'), kf.utf8('salt'), 2, 20)),
          rfc6070_4096: hex(await kf.pbkdf2(kf.utf8('password'), kf.utf8('salt'), 4096, 20)),
          sha256: hex(await kf.pbkdf2(pw, salt, 1000, 32, 'SHA-256')),
          p12: hex(await kf.pkcs12Kdf('smeg', h('0a58cf64530d823f'), 1, 1, 24)),
        };""", {"pw": PASSWORD, "salt": salt.hex()})
    assert got["pbkdf1"] == kf.pbkdf1_sha1(PASSWORD.encode(), salt, 2048).hex()
    # RFC 6070 §2
    assert got["rfc6070_2"] == "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
    assert got["rfc6070_4096"] == "4b007901b765489abead49d926f721d065a429c1"
    assert got["sha256"] == hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, 1000).hex()
    assert got["p12"] == kf.pkcs12_kdf("smeg", bytes.fromhex("0a58cf64530d823f"), 1, 1, 24,
                                       "sha1").hex()


@pytest.mark.parametrize("name", ["sign_pri", "sign_pri_pbes2", "pfx_r", "pfx", "pfx_3des",
                                  "pfx_ber"])
def test_key_files_written_by_python_open_in_the_page(page: Any, site: dict[str, Any],
                                                      pki: dict[str, Any], name: str) -> None:
    page.goto(f"{site['base']}/_test/npki/lab")
    got = run_js(page, """
        const open = (pw) => arg.pfx ? kf.openPfx(kf.fromBase64(arg.file), pw)
            : kf.openSignPri(kf.fromBase64(arg.cert), kf.fromBase64(arg.file), pw);
        const r = await open(arg.pw);
        const sig = await kf.sign(r.key.pkcs8, '챌린지 to sign');
        let wrong = 'none';
        try { await open('wrong password'); } catch (e) { wrong = e.constructor.name; }
        return {r: r.key.randomR && hex(r.key.randomR), pkcs8: kf.toBase64(r.key.pkcs8),
                cn: r.certificate.subject.cn, issuer: r.certificate.issuer.o,
                notAfter: r.certificate.notAfter.toISOString(), chain: r.chain.length,
                sig: kf.toBase64(sig), wrong};""",
                 {"pfx": name.startswith("pfx"), "file": b64(pki[name]),
                  "cert": b64(pki["cert_der"]), "pw": PASSWORD})
    assert got["r"] == (R.hex() if name in ("sign_pri", "sign_pri_pbes2", "pfx_r", "pfx_ber")
                        else None)
    assert base64.b64decode(got["pkcs8"]) == pki["pkcs8"]  # attributes dropped for WebCrypto
    assert got["cn"] == "(주)한국이디에스()0012345" and got["issuer"] == "yessign"
    assert got["notAfter"] == "2027-01-21T14:59:59.000Z"
    assert got["chain"] == (1 if name.startswith("pfx") else 0)
    pki["key"].public_key().verify(base64.b64decode(got["sig"]), "챌린지 to sign".encode(),
                                   PKCS1v15(), hashes.SHA256())
    assert got["wrong"] == "WrongPassword"


def test_pypinksign_vector_in_the_page(page: Any, site: dict[str, Any]) -> None:
    """A real yessign test certificate's signPri.key (seedCBCWithSHA1) and its 3DES pfx."""
    page.goto(f"{site['base']}/_test/npki/lab")
    got = run_js(page, """
        const a = await kf.openSignPri(kf.fromBase64(arg.signCert), kf.fromBase64(arg.signPri),
                                       arg.password);
        const b = await kf.openPfx(kf.fromBase64(arg.pfx), arg.password);
        return {r: hex(a.key.randomR), rPfx: hex(b.key.randomR),
                sig: hex(await kf.sign(a.key.pkcs8, arg.test_msg)),
                cn: a.certificate.subject.cn, policy: a.certificate.policy,
                serial: a.certificate.serial};""", VECTOR)
    assert got["r"] == got["rPfx"] == VECTOR["r_hex"]
    assert got["sig"] == VECTOR["sign_hex"]
    assert got["cn"] == "HKD(KILDONG.HONG)009104120200225191000030"
    assert got["policy"] == "1.2.410.200005.1.1.4"
    assert int(got["serial"], 16) == VECTOR["serial"]


# --- (b)-(e) the widget ---------------------------------------------------------------------

def _capture(page: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    page.on("request", lambda req: seen.append(
        {"url": req.url, "method": req.method, "body": req.post_data_buffer or b"",
         "headers": json.dumps(req.all_headers(), ensure_ascii=False).encode()}))
    return seen


def _assert_no_secret(seen: list[dict[str, Any]], pki: dict[str, Any], key_file: bytes) -> None:
    """No URL or body carries the password, the key file, or the decrypted key (in any of the
    encodings a script could use)."""
    secrets_ = {
        "password": [PASSWORD.encode(), json.dumps(PASSWORD).encode(),
                     json.dumps(PASSWORD, ensure_ascii=True).encode()],
        "key file": [key_file, b64(key_file).encode(), key_file.hex().encode()],
        "decrypted key": [pki["pkcs8"], b64(pki["pkcs8"]).encode(), pki["pkcs8_with_r"],
                          b64(pki["pkcs8_with_r"]).encode(), pki["d"], b64(pki["d"]).encode(),
                          pki["d"].hex().encode()],
    }
    for request in seen:
        haystack = b"\n".join([request["url"].encode(), request["headers"], request["body"]])
        for what, forms in secrets_.items():
            for form in forms:
                assert form not in haystack, f"{what} sent in {request['method']} {request['url']}"


def _choose(page: Any, site: dict[str, Any], pfx: str | None = None,
            key: str = "sign_pri") -> None:
    if pfx:
        page.locator("#npki-login-pfx").set_input_files(site["files"][pfx])
    else:
        page.locator("#npki-login-cert").set_input_files(site["files"]["cert"])
        page.locator("#npki-login-key").set_input_files(site["files"][key])


@pytest.mark.parametrize(("key", "pfx"), [("sign_pri", None), ("sign_pri_pbes2", None),
                                           ("sign_pri", "pfx_r")])
def test_widget_signs_in_with_the_real_endpoints(page: Any, site: dict[str, Any],
                                                 pki: dict[str, Any], axe_source: str,  # noqa: F811
                                                 key: str, pfx: str | None) -> None:
    seen = _capture(page)
    page.goto(f"{site['base']}/_test/npki/widget")
    widget = page.locator("#npki-login")
    assert widget.locator(".npki-form").is_visible()
    assert_accessible(page, axe_source, "widget, empty")
    _choose(page, site, pfx, key)
    if not pfx:  # the certificate is shown as soon as it is chosen
        assert widget.locator(".npki-subject").inner_text() == "(주)한국이디에스()0012345"
        assert widget.locator(".npki-expiry").inner_text() == "2027.01.21"
        assert widget.locator(".npki-issuer").inner_text() == "yessign"
        assert widget.locator(".npki-policy").inner_text() == "범용(법인)"
        assert_accessible(page, axe_source, "widget, certificate chosen")
    page.locator("#npki-login-password").fill(PASSWORD)
    page.locator(".npki-submit").click()
    page.wait_for_url("**/_test/npki/done?cr=*")
    assert page.locator("#result").inner_text() == (
        f"OK {BUSINESS_NUMBER} {pki['cert'].subject.rfc4514_string()}")
    # what the server got: the certificate, R, the chain of the pfx, a valid signature
    (proof,) = site["verifier"].proofs
    assert proof.certificate == pki["cert_der"] and proof.random_r == R
    assert proof.chain == ((pki["ca_der"],) if pfx else ())
    posts = [r for r in seen if r["method"] == "POST"]
    assert [r["url"].split("/certificate/")[1].split("/")[0] for r in posts] == [
        "challenge", "verify"]
    sent = json.loads(posts[1]["body"])
    assert set(sent) == {"certificate", "signature", "random_r", "chain"}
    assert base64.b64decode(sent["certificate"]) == pki["cert_der"]
    _assert_no_secret(seen, pki, pki[pfx or key])
    if key == "sign_pri" and not pfx:
        shots = PROJECT / "docs" / "img"
        shots.mkdir(parents=True, exist_ok=True)
        page.goto(f"{site['base']}/_test/npki/widget")
        _choose(page, site)
        page.locator("#npki-login .npki-subject").filter(has_text="한국이디에스").wait_for()
        page.locator("#npki-login-password").fill("********")
        page.locator("#npki-login").screenshot(path=str(shots / "npki-widget.png"))


def test_wrong_password_message_and_no_request(page: Any, site: dict[str, Any],
                                               pki: dict[str, Any], axe_source: str  # noqa: F811
                                               ) -> None:
    page.goto(f"{site['base']}/_test/npki/widget")
    seen = _capture(page)
    _choose(page, site)
    page.locator("#npki-login-password").fill("not-the-password")
    page.locator(".npki-submit").click()
    status = page.locator("#npki-login-status")
    status.filter(has_text="인증서 암호가 올바르지 않습니다").wait_for()
    assert status.inner_text() == "인증서 암호가 올바르지 않습니다. 다시 입력해 주세요."
    assert page.locator("#npki-login-password").get_attribute("aria-invalid") == "true"
    assert page.locator("#npki-login-password").input_value() == ""
    page.wait_for_timeout(300)
    assert [r for r in seen if "/certificate/" in r["url"]] == []
    assert site["verifier"].proofs == []
    assert_accessible(page, axe_source, "widget, wrong password")
    # the same with a pfx
    _choose(page, site, "pfx_3des")
    page.locator("#npki-login-password").fill("not-the-password")
    page.locator(".npki-submit").click()
    page.wait_for_function(
        "() => document.querySelector('#npki-login-password').getAttribute('aria-invalid')")
    assert status.inner_text() == "인증서 암호가 올바르지 않습니다. 다시 입력해 주세요."
    assert [r for r in seen if "/certificate/" in r["url"]] == []
    _assert_no_secret(seen, pki, pki["pfx_3des"])


def test_refusals_show_the_servers_message(page: Any, site: dict[str, Any],
                                           pki: dict[str, Any], axe_source: str  # noqa: F811
                                           ) -> None:
    """A key without R: the server's no_vid message; a bad business number: its message."""
    page.goto(f"{site['base']}/_test/npki/widget")
    status = page.locator("#npki-login-status")
    _choose(page, site, key="sign_pri_no_r")
    page.locator("#npki-login-password").fill(PASSWORD)
    page.locator(".npki-submit").click()
    status.filter(has_text="VID").wait_for()
    assert status.inner_text() == certificate_message("no_vid")
    assert page.locator("#npki-login-password").input_value() == ""  # not kept once used
    # a pfx without R (written by a tool that drops PrivateKeyInfo attributes): no_vid too
    status.evaluate("(el) => { el.textContent = ''; }")
    _choose(page, site, "pfx")
    page.locator("#npki-login-password").fill(PASSWORD)
    page.locator(".npki-submit").click()
    status.filter(has_text="VID").wait_for()
    assert [p.random_r for p in site["verifier"].proofs] == [None, None]
    assert_accessible(page, axe_source, "widget, refused")
    page.locator("#business_number").fill("1234567890")
    page.locator("#npki-login-password").fill(PASSWORD)
    page.locator(".npki-submit").click()
    status.filter(has_text="사업자등록번호").wait_for()
    assert status.inner_text() == certificate_message("business_number")
    # missing files / password: the widget's own messages, nothing sent
    page.goto(f"{site['base']}/_test/npki/widget")
    page.locator(".npki-submit").click()
    status.filter(has_text="선택해 주세요").wait_for()
    _choose(page, site)
    page.locator(".npki-submit").click()
    status.filter(has_text="인증서 암호를 입력해 주세요").wait_for()


def test_mismatched_key_and_english(page: Any, site: dict[str, Any], pki: dict[str, Any],
                                    tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "other.key"
    path.write_bytes(kf.write_sign_pri(other, PASSWORD, R))
    page.goto(f"{site['base']}/_test/npki/widget?lang=en")
    assert page.locator("#npki-login-title").inner_text() == "Find certificate"
    page.locator("#npki-login-cert").set_input_files(site["files"]["cert"])
    page.locator("#npki-login-key").set_input_files(str(path))
    page.locator("#npki-login-password").fill(PASSWORD)
    page.locator(".npki-submit").click()
    status = page.locator("#npki-login-status")
    status.filter(has_text="do not match").wait_for()
    assert site["verifier"].proofs == []


def test_inside_another_form_enter_is_the_widgets(page: Any, site: dict[str, Any],
                                                  axe_source: str) -> None:  # noqa: F811
    """Pages put the widget inside their own form: Enter in its password field runs the
    widget (a wrong password here), it does not submit the page's form."""
    page.goto(f"{site['base']}/_test/npki/in-form")
    page.locator("#npki-register-cert").set_input_files(site["files"]["cert"])
    page.locator("#npki-register-key").set_input_files(site["files"]["sign_pri"])
    page.locator("#npki-register-password").fill("wrong")
    page.locator("#npki-register-password").press("Enter")
    status = page.locator("#npki-register-status")
    status.filter(has_text="인증서 암호가 올바르지 않습니다").wait_for()
    assert page.url.endswith("/_test/npki/in-form")
    assert_accessible(page, axe_source, "widget inside a form")
