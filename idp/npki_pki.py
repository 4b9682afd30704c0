"""A Korean-style PKI built with `cryptography`, for the tests and for `make run`'s demo
(issue 7; KOREA-FACTS "Corporate certificates"). Never a production trust anchor.

    pki = Pki(crl_base_url="http://127.0.0.1:8080/crl/")
    pki.root, pki.ca                          # like KISA RootCA 4 and a licensed CA (yessign)
    leaf = pki.corporate("1248100998", "테스트기업")   # 범용 법인, VID of the number with R
    leaf.cert, leaf.key, leaf.random_r
    pki.revoke(leaf.cert); pki.crl_der()      # the CA's CRL (at crl_base_url + <ca>.crl)

`write_demo_pki(out_dir, crl_base_url)` writes the files a person picks in the browser
(NPKI/<CA>/USER/<cn>/signCert.der + signPri.key, a .pfx) for the two demo companies and one
personal certificate, the root (root.der) and the CRL (crl/<ca>.crl), with a README.txt of
the passwords.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from idp.npki_keyfiles import write_pfx, write_sign_pri
from idp.services.npki import OID_IDENTIFY_DATA, identify_data

GENERAL_CORPORATE = "1.2.410.200005.1.1.5"  # yessign 범용(법인)
GENERAL_PERSONAL = "1.2.410.200005.1.1.1"  # yessign 범용(개인)
CA_SLUG = "yessign-demo"  # the CRL's file name and the NPKI/<CA> folder

# `make run` serves the demo CRL itself (idp/web/npki_dev.py) at this address; in the test
# suite the revocation adapter maps it to the issuer the app runs at.
DEMO_CRL_BASE = "http://127.0.0.1:5000/dev/npki/crl/"
DEMO_COMPANIES = (("6638501035", "(주)한국이디에스"), ("1208200275", "대한무역투자진흥공사"))
DEMO_PERSONAL = ("8001011234567", "홍길동")


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    random_r: bytes | None = None

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


@dataclass
class Pki:
    """A root, a licensed CA under it, and leaves; every knob a test needs."""

    crl_base_url: str = "http://127.0.0.1:9/crl/"
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    bits: int = 2048
    ca_org: str = "yessign"
    ca_slug: str = CA_SLUG
    root: Issued = field(init=False)
    ca: Issued = field(init=False)
    revoked: dict[int, dt.datetime] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.root = self.make_root()
        self.ca = self.make_ca(self.root)

    # -- CAs -----------------------------------------------------------------------------------

    def make_root(self, cn: str = "KISA RootCA 4 (demo)") -> Issued:
        key = _key(self.bits)
        name = _name((NameOID.COUNTRY_NAME, "KR"), (NameOID.ORGANIZATION_NAME, "KISA"),
                     (NameOID.ORGANIZATIONAL_UNIT_NAME, "Korea Certification Authority Central"),
                     (NameOID.COMMON_NAME, cn))
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(self.now - dt.timedelta(days=3650))
                .not_valid_after(self.now + dt.timedelta(days=3650 * 2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(_ca_key_usage(), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        return Issued(cert, key)

    def make_ca(self, root: Issued, *, cn: str = "yessignCA Class 2 (demo)",
                key: rsa.RSAPrivateKey | None = None, days: int = 3650,
                not_before: dt.datetime | None = None, arl_url: str | None = None) -> Issued:
        """A licensed CA (OU=AccreditedCA) signed by `root`. Pass the same cn with another
        key to make a look-alike CA."""
        key = key or _key(self.bits)
        name = _name((NameOID.COUNTRY_NAME, "KR"), (NameOID.ORGANIZATION_NAME, self.ca_org),
                     (NameOID.ORGANIZATIONAL_UNIT_NAME, "AccreditedCA"),
                     (NameOID.COMMON_NAME, cn))
        start = not_before or self.now - dt.timedelta(days=365)
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(root.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(_ca_key_usage(), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False)
                   .add_extension(_aki(root), critical=False))
        if arl_url:  # the root's authority revocation list
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(arl_url)], None, None, None)]), critical=False)
        return Issued(builder.sign(root.key, hashes.SHA256()), key)

    # -- leaves --------------------------------------------------------------------------------

    def leaf(self, *, cn: str, idn: str, real_name: str, policy: str,
             issuer: Issued | None = None, random_r: bytes | None = None,
             vid_hash: str | None = "sha256", critical_policies: bool = True,
             key_usage: x509.KeyUsage | None = None, not_before: dt.datetime | None = None,
             not_after: dt.datetime | None = None, crl: bool = True,
             ocsp_url: str | None = None,
             ca_issuers_url: str | tuple[str, ...] | None = None,
             key: rsa.RSAPrivateKey | None = None, extra_policies: tuple[str, ...] = (),
             ou: str = "corporation") -> Issued:
        issuer = issuer or self.ca
        key = key or _key(self.bits)
        random_r = random_r if random_r is not None else secrets.token_bytes(20)
        subject = _name((NameOID.COUNTRY_NAME, "kr"), (NameOID.ORGANIZATION_NAME, self.ca_org),
                        (NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                        (NameOID.COMMON_NAME, cn))
        start = not_before or self.now - dt.timedelta(days=30)
        end = not_after or start + dt.timedelta(days=365)
        policies = x509.CertificatePolicies([
            x509.PolicyInformation(x509.ObjectIdentifier(oid), None)
            for oid in (policy, *extra_policies)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(key_usage or x509.KeyUsage(
                       digital_signature=True, content_commitment=True, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(policies, critical=critical_policies)
                   .add_extension(_aki(issuer), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False))
        if vid_hash is not None:
            san = x509.SubjectAlternativeName([x509.OtherName(
                x509.ObjectIdentifier(OID_IDENTIFY_DATA),
                identify_data(real_name, idn, random_r, vid_hash))])
            builder = builder.add_extension(san, critical=False)
        if crl:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(self.crl_url())], None, None, None)]),
                critical=False)
        access = []
        if ocsp_url:
            access.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                                 x509.UniformResourceIdentifier(ocsp_url)))
        for url in (ca_issuers_url,) if isinstance(ca_issuers_url, str) else \
                ca_issuers_url or ():
            access.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                                 x509.UniformResourceIdentifier(url)))
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access),
                                            critical=False)
        return Issued(builder.sign(issuer.key, hashes.SHA256()), key, random_r)

    def corporate(self, business_number: str, name: str, *, policy: str = GENERAL_CORPORATE,
                  **options: Any) -> Issued:
        """A corporate certificate; the CN carries a number that is NOT the business
        number, as real ones do (never read it)."""
        cn = f"{name}()00{secrets.randbelow(10**10):010d}"
        return self.leaf(cn=cn, idn=business_number, real_name=name, policy=policy, **options)

    def personal(self, idn: str, name: str, **options: Any) -> Issued:
        cn = f"{name}()00{secrets.randbelow(10**10):010d}"
        options.setdefault("policy", GENERAL_PERSONAL)
        options.setdefault("ou", "personal4IB")
        return self.leaf(cn=cn, idn=idn, real_name=name, **options)

    # -- revocation ----------------------------------------------------------------------------

    def crl_url(self) -> str:
        return f"{self.crl_base_url}{self.ca_slug}.crl"

    def revoke(self, cert: x509.Certificate, when: dt.datetime | None = None) -> None:
        self.revoked[cert.serial_number] = when or self.now - dt.timedelta(days=1)

    def crl(self, *, this_update: dt.datetime | None = None,
            next_update: dt.datetime | None = None, signer: Issued | None = None
            ) -> x509.CertificateRevocationList:
        signer = signer or self.ca
        start = this_update or self.now - dt.timedelta(hours=1)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(signer.cert.subject)
                   .last_update(start).next_update(next_update or start + dt.timedelta(days=1))
                   .add_extension(_aki(signer), critical=False)
                   .add_extension(x509.CRLNumber(int(start.timestamp())), critical=False))
        for serial, when in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
                .build())
        return builder.sign(signer.key, hashes.SHA256())

    def crl_der(self, **options: Any) -> bytes:
        return self.crl(**options).public_bytes(serialization.Encoding.DER)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=False, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                         decipher_only=False)


def _aki(issuer: Issued) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())


# ---------------------------------------------------------------------------------------------
# The demo PKI of `make run` (and of tests that want the files a person picks).

def _password() -> str:
    # Letters and digits a person can type from the README; NPKI key passwords need both.
    return f"demo{secrets.token_hex(3)}!{secrets.randbelow(90) + 10}"


def _write_user(base: Path, pki: Pki, issued: Issued, password: str) -> dict[str, str]:
    """NPKI/<CA>/USER/<cn>/signCert.der (+ signPri.key) and <cn>.pfx, as Korean CAs lay them
    out on a disk."""
    value = issued.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    cn = value if isinstance(value, str) else value.decode()
    folder_name = str(issued.cert.subject.rfc4514_string()).lower()
    folder = base / "NPKI" / pki.ca_slug / "USER" / folder_name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "signCert.der").write_bytes(issued.der)
    files = {"signCert": str(folder / "signCert.der")}
    (folder / "signPri.key").write_bytes(write_sign_pri(issued.key, password, issued.random_r))
    files["signPri"] = str(folder / "signPri.key")
    pfx_path = base / "pfx" / f"{cn}.pfx"
    pfx_path.parent.mkdir(exist_ok=True)
    pfx_path.write_bytes(write_pfx(issued.cert, issued.key, password, chain=[pki.ca.cert],
                                   random_r=issued.random_r))
    files["pfx"] = str(pfx_path)
    return files


def write_demo_pki(out_dir: Path, crl_base_url: str = DEMO_CRL_BASE, *,
                   bits: int = 2048, replace: bool = True) -> dict[str, Any]:
    """Write a fresh demo PKI into `out_dir` (replaced as a whole; with replace=False, kept
    when another process wrote it first) and return what README.txt says: the files and
    their passwords."""
    pki = Pki(crl_base_url=crl_base_url, bits=bits)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-pki-", dir=out_dir.parent))
    try:
        (tmp / "root.der").write_bytes(pki.root.der)
        (tmp / "ca.der").write_bytes(pki.ca.der)
        people: list[dict[str, Any]] = []
        # Five years: a laptop's demo keeps working long after it was written.
        until = pki.now + dt.timedelta(days=5 * 365)
        for number, name in DEMO_COMPANIES:
            issued = pki.corporate(number, name, not_after=until)
            password = _password()
            people.append({"kind": "corporate", "business_number": number, "name": name,
                           "password": password, "random_r": issued.random_r.hex()
                           if issued.random_r else None,
                           "files": _write_user(tmp, pki, issued, password)})
        idn, name = DEMO_PERSONAL
        issued = pki.personal(idn, name, not_after=until)
        password = _password()
        people.append({"kind": "personal", "name": name, "password": password,
                       "files": _write_user(tmp, pki, issued, password)})
        (tmp / "crl").mkdir()
        (tmp / "crl" / f"{pki.ca_slug}.crl").write_bytes(pki.crl_der(
            next_update=pki.now + dt.timedelta(days=3650)))
        summary = {"root": "root.der", "crl_url": pki.crl_url(), "people": people}
        for person in people:  # paths relative to out_dir, as they will be
            person["files"] = {k: str(Path(v).relative_to(tmp)) for k, v in
                               person["files"].items()}
        (tmp / "demo-pki.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
        (tmp / "README.txt").write_text(_readme(out_dir, summary))
        os.chmod(tmp, 0o700)
        if replace and out_dir.exists():
            shutil.rmtree(out_dir)
        try:
            os.rename(tmp, out_dir)  # atomic; fails when out_dir exists and is not empty
        except OSError:
            if replace or not (out_dir / "root.der").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process won the race: keep its
            return demo_summary(out_dir) or summary
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def ensure_demo_pki(out_dir: Path, crl_base_url: str = DEMO_CRL_BASE) -> Path:
    """The demo root's path, writing the demo PKI first when it is missing."""
    root = out_dir / "root.der"
    if not root.exists():
        # Several test workers may start at once: the first to rename its folder wins and
        # the others use it (never replace a demo PKI a running verifier already trusts).
        write_demo_pki(out_dir, crl_base_url, replace=out_dir.exists())
    return root


def demo_summary(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / "demo-pki.json"
    return json.loads(path.read_text()) if path.exists() else None


def _readme(out_dir: Path, summary: dict[str, Any]) -> str:
    lines = ["Demo corporate certificates of kotra-idp (make run). NOT real certificates.",
             f"Trust anchor (IDP_NPKI_TRUST_ANCHORS): {out_dir / summary['root']}",
             f"CRL served at: {summary['crl_url']}", ""]
    for person in summary["people"]:
        who = person.get("business_number") or "personal"
        lines.append(f"{person['name']} ({who}) password: {person['password']}")
        for kind, path in person["files"].items():
            lines.append(f"  {kind:<9} {out_dir / path}")
    return "\n".join(lines) + "\n"


__all__ = ["CA_SLUG", "DEMO_COMPANIES", "DEMO_CRL_BASE", "GENERAL_CORPORATE",
           "GENERAL_PERSONAL", "Issued", "Pki", "demo_summary", "ensure_demo_pki",
           "write_demo_pki"]
