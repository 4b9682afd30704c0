"""The NPKI rules (idp/services/npki.py): VID, chain by key identifiers, validity, key usage,
policy, revocation modes, every refusal reason; with a PKI built by idp/npki_pki.py and a
scripted revocation source."""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from idp.adapters.clock import FakeClock
from idp.config import CONFIG_DIR
from idp.npki_pki import GENERAL_CORPORATE, GENERAL_PERSONAL, Issued, Pki
from idp.services.npki import (
    CORPORATE_KINDS,
    NpkiVerifier,
    RevocationUnavailable,
    default_allowed_policies,
    identify_data,
    kind_of,
    read_vid,
    vid_value,
)
from idp.services.ports import CERTIFICATE_REASONS, CertificateProof, CertificateRefused

BN = "1248100998"
SIGNED = b"kotra-idp certificate authentication\nnonce: test"


class ScriptedRevocation:
    def __init__(self) -> None:
        self.revoked: set[int] = set()
        self.unavailable = False
        self.asked: list[tuple[int, int]] = []

    def is_revoked(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        self.asked.append((cert.serial_number, issuer.serial_number))
        if self.unavailable:
            raise RevocationUnavailable("the CA did not answer")
        return cert.serial_number in self.revoked


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def good(pki: Pki) -> Issued:
    return pki.corporate(BN, "테스트기업")


@pytest.fixture()
def revocation() -> ScriptedRevocation:
    return ScriptedRevocation()


@pytest.fixture()
def clock(pki: Pki) -> FakeClock:
    return FakeClock(pki.now.timestamp())


def _verifier(pki: Pki, revocation: Any, clock: FakeClock, **options: Any) -> NpkiVerifier:
    options.setdefault("allowed_policies", default_allowed_policies())
    return NpkiVerifier(trust_anchors=[pki.root.cert], revocation=revocation, clock=clock,
                        **options)


def _proof(issued: Issued, pki: Pki, *, signed: bytes = SIGNED, chain: tuple[bytes, ...] | None
           = None, **changes: Any) -> CertificateProof:
    signature = issued.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    proof = CertificateProof(certificate=issued.der, signature=signature,
                             random_r=issued.random_r,
                             chain=(pki.ca.der,) if chain is None else chain)
    return replace(proof, **changes)


def _refusal(verifier: NpkiVerifier, proof: CertificateProof, bn: str = BN) -> str:
    with pytest.raises(CertificateRefused) as exc:
        verifier.verify(proof, SIGNED, bn)
    assert exc.value.reason in CERTIFICATE_REASONS
    return exc.value.reason


# -- the VID (KISA KCAC.TS.SIVID) ---------------------------------------------------------------

def test_vid_matches_the_korea_facts_vector():
    r = bytes.fromhex("79ea7568a2d3776604e18bcd3a1b1b85b7da0872")
    assert vid_value("1234561234567", r, "sha256").hex() == \
        "17692c8dd00ead33791de0a64a937c60799634c64ac56fa57570c0e05252ab35"


def test_vid_is_the_double_hash_of_the_der_of_idn_and_r():
    r = bytes(range(20))
    der = bytes.fromhex("3023130a") + BN.encode() + bytes.fromhex("031500") + r
    assert vid_value(BN, r, "sha1") == hashlib.sha1(hashlib.sha1(der).digest()).digest()


@pytest.mark.parametrize("hash_name, oid", [("sha1", "1.3.14.3.2.26"),
                                            ("sha256", "2.16.840.1.101.3.4.2.1")])
def test_certificate_vids_with_sha1_and_sha256_are_checked_with_their_own_hash(
        pki, revocation, clock, hash_name, oid):
    leaf = pki.corporate(BN, "옛기업", vid_hash=hash_name)
    vid = read_vid(leaf.cert)
    assert vid is not None and vid.hash_oid == oid and vid.real_name == "옛기업"
    assert vid.value == vid_value(BN, leaf.random_r, hash_name)
    result = _verifier(pki, revocation, clock).verify(_proof(leaf, pki), SIGNED, BN)
    assert result.business_number == BN


def test_identify_data_parses_back():
    der = identify_data("기업", BN, b"\x01" * 20)
    assert der[0] == 0x30  # IdentifyData is a SEQUENCE (the otherName's [0] content)


# -- the happy path -----------------------------------------------------------------------------

def test_a_good_corporate_certificate_is_certified(pki, good, revocation, clock):
    result = _verifier(pki, revocation, clock).verify(_proof(good, pki), SIGNED, BN)
    assert result.business_number == BN
    assert result.policy_oid == GENERAL_CORPORATE
    assert result.serial == format(good.cert.serial_number, "x")
    assert result.revocation == "good"
    assert "AccreditedCA" in result.issuer
    assert result.not_after == good.cert.not_valid_after_utc.replace(tzinfo=None)
    # the leaf's revocation was asked of its issuer (the CA has no CRL pointer: not asked)
    assert revocation.asked == [(good.cert.serial_number, pki.ca.cert.serial_number)]


def test_the_business_number_is_never_read_from_the_cn(pki, revocation, clock):
    # A CN that names another business number changes nothing: only the VID binds.
    leaf = pki.leaf(cn="테스트(2208162517)", idn=BN, real_name="테스트",
                    policy=GENERAL_CORPORATE)
    v = _verifier(pki, revocation, clock)
    assert v.verify(_proof(leaf, pki), SIGNED, BN).business_number == BN
    assert _refusal(v, _proof(leaf, pki), "2208162517") == "vid_mismatch"


def test_critical_and_non_critical_certificate_policies_are_both_read(pki, revocation, clock):
    v = _verifier(pki, revocation, clock)
    for critical in (True, False):
        leaf = pki.corporate(BN, "기업", critical_policies=critical)
        ext = leaf.cert.extensions.get_extension_for_class(x509.CertificatePolicies)
        assert ext.critical is critical
        assert v.verify(_proof(leaf, pki), SIGNED, BN).policy_oid == GENERAL_CORPORATE


def test_configured_intermediates_complete_a_chain_the_browser_did_not_send(
        pki, good, revocation, clock):
    v = _verifier(pki, revocation, clock, intermediates=[pki.ca.cert])
    assert v.verify(_proof(good, pki, chain=()), SIGNED, BN).business_number == BN


def test_the_ca_certificate_can_come_from_the_aia_ca_issuers_url(pki, revocation, clock):
    leaf = pki.corporate(BN, "기업", ca_issuers_url="http://ca.example/yessign.der")
    asked: list[str] = []

    def fetch(url: str, seconds: float) -> list[x509.Certificate]:
        asked.append(url)
        assert 0 < seconds <= 5.0
        return [pki.ca.cert]

    v = _verifier(pki, revocation, clock, fetch_issuers=fetch)
    assert v.verify(_proof(leaf, pki, chain=()), SIGNED, BN).business_number == BN
    assert asked == ["http://ca.example/yessign.der"]


def test_at_most_two_ca_issuers_urls_are_tried_per_verification(pki, revocation, clock):
    urls = tuple(f"http://ca{i}.example/ca.der" for i in range(300))
    leaf = pki.corporate(BN, "기업", ca_issuers_url=urls)
    asked: list[str] = []

    def fetch(url: str, seconds: float) -> list[x509.Certificate]:
        asked.append(url)
        raise RevocationUnavailable("refused")

    v = _verifier(pki, revocation, clock, fetch_issuers=fetch)
    assert _refusal(v, _proof(leaf, pki, chain=())) == "untrusted"
    assert asked == list(urls[:2])


def test_ca_issuers_downloads_share_one_time_budget(pki, revocation, clock):
    leaf = pki.corporate(BN, "기업", ca_issuers_url=("http://a.example/1", "http://b.example/2"))
    now = [100.0]
    given: list[float] = []

    def fetch(url: str, seconds: float) -> list[x509.Certificate]:
        given.append(seconds)
        now[0] += 5.0  # the first download used the whole budget
        return []

    v = _verifier(pki, revocation, clock, fetch_issuers=fetch, aia_budget=5.0,
                  monotonic=lambda: now[0])
    assert _refusal(v, _proof(leaf, pki, chain=())) == "untrusted"
    assert given == [5.0]  # no time left for the second URL


# -- every refusal ------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    {"certificate": b"not a certificate"},
    {"chain": (b"\x30\x03\x02\x01\x01",)},
    {"signature": b""},
])
def test_malformed_input_is_refused_as_malformed(pki, good, revocation, clock, change):
    assert _refusal(_verifier(pki, revocation, clock), _proof(good, pki, **change)) == \
        "malformed"


def test_a_signature_by_another_key_is_a_bad_signature(pki, good, revocation, clock):
    other = pki.corporate(BN, "다른기업")
    forged = other.key.sign(SIGNED, padding.PKCS1v15(), hashes.SHA256())
    assert _refusal(_verifier(pki, revocation, clock),
                    _proof(good, pki, signature=forged)) == "bad_signature"


def test_a_signature_over_another_text_is_a_bad_signature(pki, good, revocation, clock):
    assert _refusal(_verifier(pki, revocation, clock),
                    _proof(good, pki, signed=b"another challenge")) == "bad_signature"


def test_sha1_signatures_are_refused_sha256_only(pki, good, revocation, clock):
    sha1 = good.key.sign(SIGNED, padding.PKCS1v15(), hashes.SHA1())
    assert _refusal(_verifier(pki, revocation, clock),
                    _proof(good, pki, signature=sha1)) == "bad_signature"


def test_a_ca_with_the_same_name_but_another_key_is_untrusted(pki, revocation, clock):
    # A look-alike licensed CA: same subject as the real one, signed by a look-alike root
    # with the real root's name. Names all match; no key does.
    fake = Pki(now=pki.now)
    assert fake.root.cert.subject == pki.root.cert.subject
    assert fake.ca.cert.subject == pki.ca.cert.subject
    leaf = fake.corporate(BN, "가짜기업")
    v = _verifier(pki, revocation, clock)
    assert _refusal(v, _proof(leaf, fake)) == "untrusted"
    assert _refusal(v, _proof(leaf, fake, chain=(fake.ca.der, fake.root.der))) == "untrusted"


def test_a_real_leaf_with_a_look_alike_ca_in_the_chain_is_untrusted(pki, good, revocation,
                                                                    clock):
    # The browser sends a CA certificate with the right name and key identifier claims but
    # another key: its signature does not verify the leaf, so the path is not built.
    look_alike = pki.make_ca(pki.root)  # same name, signed by the real root, another key
    v = _verifier(pki, revocation, clock)
    assert _refusal(v, _proof(good, pki, chain=(look_alike.der,))) == "untrusted"
    assert _refusal(v, _proof(good, pki, chain=())) == "untrusted"


def test_a_leaf_cannot_act_as_a_ca(pki, good, revocation, clock):
    under_leaf = pki.leaf(cn="x", idn=BN, real_name="x", policy=GENERAL_CORPORATE, issuer=good)
    assert _refusal(_verifier(pki, revocation, clock),
                    _proof(under_leaf, pki, chain=(good.der, pki.ca.der))) == "untrusted"


def test_an_expired_leaf_is_expired(pki, revocation, clock):
    old = pki.corporate(BN, "기업", not_before=pki.now - dt.timedelta(days=800),
                        not_after=pki.now - dt.timedelta(days=1))
    assert _refusal(_verifier(pki, revocation, clock), _proof(old, pki)) == "expired"


def test_a_leaf_not_yet_valid_is_expired(pki, good, revocation, clock):
    clock.advance(-40 * 86400)  # before the leaf's notBefore (30 days ago)
    assert _refusal(_verifier(pki, revocation, clock), _proof(good, pki)) == "expired"


def test_an_expired_ca_makes_the_leaf_expired(pki, revocation, clock):
    short_ca = pki.make_ca(pki.root, cn="yessignCA short", days=30,
                           not_before=pki.now - dt.timedelta(days=60))
    leaf = pki.corporate(BN, "기업", issuer=short_ca,
                         not_before=pki.now - dt.timedelta(days=50))
    assert _refusal(_verifier(pki, revocation, clock),
                    _proof(leaf, pki, chain=(short_ca.der,))) == "expired"


def test_a_leaf_that_may_not_sign_is_refused_for_key_usage(pki, revocation, clock):
    encipher_only = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)
    leaf = pki.corporate(BN, "기업", key_usage=encipher_only)
    assert _refusal(_verifier(pki, revocation, clock), _proof(leaf, pki)) == "key_usage"


def test_non_repudiation_alone_may_sign(pki, revocation, clock):
    non_repudiation = x509.KeyUsage(
        digital_signature=False, content_commitment=True, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)
    leaf = pki.corporate(BN, "기업", key_usage=non_repudiation)
    assert _verifier(pki, revocation, clock).verify(_proof(leaf, pki), SIGNED, BN)


def test_a_personal_certificate_is_refused_as_personal(pki, revocation, clock):
    person = pki.personal(BN, "홍길동")
    assert read_vid(person.cert) is not None
    assert _refusal(_verifier(pki, revocation, clock), _proof(person, pki)) == "personal"
    # even when an operator lists its OID
    assert _refusal(_verifier(pki, revocation, clock,
                              allowed_policies=[GENERAL_PERSONAL]), _proof(person, pki)) == \
        "personal"


def test_only_the_first_policy_oid_counts(pki, revocation, clock):
    # A server certificate kind first, a general corporate one second: refused.
    leaf = pki.corporate(BN, "기업", policy="1.2.410.200005.1.1.3",
                         extra_policies=(GENERAL_CORPORATE,))
    assert _refusal(_verifier(pki, revocation, clock), _proof(leaf, pki)) == "policy"


def test_a_kind_outside_the_allow_list_is_refused_as_policy(pki, revocation, clock):
    tax_only = pki.corporate(BN, "기업", policy="1.2.410.200005.1.1.6.8")  # 전자세금용
    v = _verifier(pki, revocation, clock)
    assert _refusal(v, _proof(tax_only, pki)) == "policy"
    narrow = _verifier(pki, revocation, clock, allowed_policies=["1.2.410.200004.5.2.1.1"])
    good = pki.corporate(BN, "기업")
    assert _refusal(narrow, _proof(good, pki)) == "policy"


def test_a_revoked_certificate_is_revoked(pki, good, revocation, clock):
    revocation.revoked.add(good.cert.serial_number)
    assert _refusal(_verifier(pki, revocation, clock), _proof(good, pki)) == "revoked"


def test_a_licensed_ca_revoked_on_the_roots_list_revokes_its_leaves(pki, revocation, clock):
    ca = pki.make_ca(pki.root, cn="yessignCA Class 3 (demo)", arl_url="http://root/arl.crl")
    leaf = pki.corporate(BN, "기업", issuer=ca)
    v = _verifier(pki, revocation, clock)
    assert v.verify(_proof(leaf, pki, chain=(ca.der,)), SIGNED, BN)
    assert (ca.cert.serial_number, pki.root.cert.serial_number) in revocation.asked
    revocation.revoked.add(ca.cert.serial_number)
    assert _refusal(v, _proof(leaf, pki, chain=(ca.der,))) == "revoked"


def test_an_unreachable_ca_refuses_in_strict_mode(pki, good, revocation, clock):
    revocation.unavailable = True
    assert _refusal(_verifier(pki, revocation, clock), _proof(good, pki)) == \
        "revocation_unavailable"


def test_an_unreachable_ca_is_accepted_as_soft_in_soft_mode(pki, good, revocation, clock):
    revocation.unavailable = True
    v = _verifier(pki, revocation, clock, revocation_mode="soft")
    assert v.verify(_proof(good, pki), SIGNED, BN).revocation == "soft"


def test_soft_mode_checks_the_cas_above_an_unreachable_leaf_source(pki, clock):
    ca = pki.make_ca(pki.root, cn="yessignCA Class 3 (demo)", arl_url="http://root/arl.crl")
    leaf = pki.corporate(BN, "기업", issuer=ca)

    class LeafUnreachable(ScriptedRevocation):
        def is_revoked(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
            self.asked.append((cert.serial_number, issuer.serial_number))
            if cert.serial_number == leaf.cert.serial_number:
                raise RevocationUnavailable("the leaf's CRL did not answer")
            return cert.serial_number in self.revoked

    source = LeafUnreachable()
    v = _verifier(pki, source, clock, revocation_mode="soft")
    assert v.verify(_proof(leaf, pki, chain=(ca.der,)), SIGNED, BN).revocation == "soft"
    assert (ca.cert.serial_number, pki.root.cert.serial_number) in source.asked
    source.revoked.add(ca.cert.serial_number)
    assert _refusal(v, _proof(leaf, pki, chain=(ca.der,))) == "revoked"


def test_soft_mode_still_refuses_a_revoked_certificate(pki, good, revocation, clock):
    revocation.revoked.add(good.cert.serial_number)
    v = _verifier(pki, revocation, clock, revocation_mode="soft")
    assert _refusal(v, _proof(good, pki)) == "revoked"


def test_a_certificate_without_vid_or_a_key_without_r_is_no_vid(pki, good, revocation, clock):
    bare = pki.corporate(BN, "기업", vid_hash=None)
    v = _verifier(pki, revocation, clock)
    assert _refusal(v, _proof(bare, pki)) == "no_vid"
    assert _refusal(v, _proof(good, pki, random_r=None)) == "no_vid"


def test_the_wrong_r_or_business_number_is_a_vid_mismatch(pki, good, revocation, clock):
    v = _verifier(pki, revocation, clock)
    assert _refusal(v, _proof(good, pki, random_r=b"\x00" * 20)) == "vid_mismatch"
    assert _refusal(v, _proof(good, pki), "2208162517") == "vid_mismatch"


def test_the_checks_run_in_the_documented_order(pki, revocation, clock):
    # Expired AND personal AND no VID: the first failing step names the refusal.
    leaf = pki.personal(BN, "홍길동", vid_hash=None,
                        not_before=pki.now - dt.timedelta(days=800),
                        not_after=pki.now - dt.timedelta(days=1))
    revocation.unavailable = True
    assert _refusal(_verifier(pki, revocation, clock), _proof(leaf, pki)) == "expired"


# -- the policy table and the settings ------------------------------------------------------

def test_default_toml_allows_exactly_the_manual_table():
    with open(CONFIG_DIR / "default.toml", "rb") as fh:
        npki = tomllib.load(fh)["npki"]
    assert npki["allowed_policies"] == default_allowed_policies()
    assert npki["revocation"] == "strict"
    assert len(CORPORATE_KINDS) == 17  # the manual's table, chapter 01/02
    assert kind_of(GENERAL_CORPORATE).label == "금융결제원(법인)"  # type: ignore[union-attr]
    assert GENERAL_PERSONAL not in default_allowed_policies()


def test_trust_anchors_and_policies_come_comma_separated_from_the_environment():
    from idp.config import load_settings

    settings = load_settings(environ={
        "IDP_ENV": "testing", "IDP_NPKI_TRUST_ANCHORS": "/etc/kisa/root1.der, /etc/kisa/r4.pem",
        "IDP_NPKI_ALLOWED_POLICIES": "1.2.410.200005.1.1.5,1.2.410.200004.5.2.1.1",
        "IDP_NPKI_REVOCATION": "soft"})
    assert settings["npki"]["trust_anchors"] == ["/etc/kisa/root1.der", "/etc/kisa/r4.pem"]
    assert settings["npki"]["allowed_policies"] == ["1.2.410.200005.1.1.5",
                                                    "1.2.410.200004.5.2.1.1"]
    assert settings["npki"]["revocation"] == "soft"


def test_aia_hosts_budget_and_ocsp_age_are_settings():
    from idp.config import ConfigError, load_settings

    settings = load_settings(environ={
        "IDP_ENV": "testing", "IDP_NPKI_AIA_HOSTS": "ca.example, 127.0.0.1",
        "IDP_NPKI_AIA_BUDGET": "2.5", "IDP_NPKI_OCSP_MAX_AGE": "300"})
    assert settings["npki"]["aia_hosts"] == ["ca.example", "127.0.0.1"]
    assert settings["npki"]["aia_budget"] == 2.5
    assert settings["npki"]["ocsp_max_age"] == 300
    defaults = load_settings(environ={"IDP_ENV": "testing"})["npki"]
    assert (defaults["aia_hosts"], defaults["aia_budget"], defaults["ocsp_max_age"]) == \
        ([], 5.0, 600)
    for name, value in (("AIA_BUDGET", "0"), ("OCSP_MAX_AGE", "0")):
        with pytest.raises(ConfigError, match=f"npki.{name.lower()}"):
            load_settings(environ={"IDP_ENV": "testing", f"IDP_NPKI_{name}": value})


def test_an_unknown_revocation_mode_is_a_config_error():
    from idp.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="npki.revocation"):
        load_settings(environ={"IDP_ENV": "testing", "IDP_NPKI_REVOCATION": "maybe"})


# -- composition (idp/adapters/npki_revocation.py build_certificate_verifier) ------------------

def _settings(**npki: Any) -> dict[str, Any]:
    from idp.config import load_settings

    settings = load_settings(environ={"IDP_ENV": "testing"})
    settings["npki"].update(npki)
    return settings


def test_without_trust_anchors_certificate_login_is_unavailable_with_a_warning(caplog):
    from idp.adapters.npki_revocation import build_certificate_verifier
    from idp.stores import MemoryStore

    settings = _settings(trust_anchors=[], demo_pki="")
    assert build_certificate_verifier(settings, MemoryStore(), FakeClock()) is None
    assert "certificate login unavailable" in caplog.text


def test_production_never_trusts_the_demo_pki(caplog):
    from idp.adapters.npki_revocation import build_certificate_verifier
    from idp.stores import MemoryStore

    settings = {**_settings(trust_anchors=[]), "env": "production"}
    assert build_certificate_verifier(settings, MemoryStore(), FakeClock()) is None
    assert "ignored in production" in caplog.text


def test_configured_anchor_files_pem_and_der_are_loaded(pki, tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    from idp.adapters.npki_revocation import build_certificate_verifier
    from idp.stores import MemoryStore

    der = tmp_path / "root.der"
    der.write_bytes(pki.root.der)
    pem = tmp_path / "roots.pem"
    pem.write_bytes(pki.root.cert.public_bytes(Encoding.PEM) +
                    pki.ca.cert.public_bytes(Encoding.PEM))
    settings = _settings(trust_anchors=[str(der), str(pem)], demo_pki="", revocation="soft")
    verifier = build_certificate_verifier(settings, MemoryStore(), FakeClock())
    assert isinstance(verifier, NpkiVerifier)
    assert len(verifier.trust_anchors) == 3 and verifier.revocation_mode == "soft"
    assert verifier.fetch_issuers is None  # aia_fetch is off by default


def test_aia_fetch_builds_a_guarded_downloader(pki, tmp_path):
    from idp.adapters.npki_revocation import IssuerDownloads, build_certificate_verifier
    from idp.stores import MemoryStore

    der = tmp_path / "root.der"
    der.write_bytes(pki.root.der)
    settings = _settings(trust_anchors=[str(der)], demo_pki="", aia_fetch=True,
                         aia_hosts=["ca.example"], aia_budget=3.0, ocsp_max_age=120)
    verifier = build_certificate_verifier(settings, MemoryStore(), FakeClock())
    assert isinstance(verifier, NpkiVerifier)
    assert isinstance(verifier.fetch_issuers, IssuerDownloads)
    assert verifier.fetch_issuers.allowed_hosts == ("ca.example",)
    assert verifier.aia_budget == 3.0
    assert verifier.revocation.ocsp_max_age == dt.timedelta(seconds=120)  # type: ignore[attr-defined]


def test_an_unreadable_anchor_file_stops_the_start(tmp_path):
    from idp.adapters.npki_revocation import build_certificate_verifier
    from idp.stores import MemoryStore

    (tmp_path / "junk.der").write_bytes(b"junk")
    for path in (tmp_path / "missing.der", tmp_path / "junk.der"):
        with pytest.raises(RuntimeError, match="npki.trust_anchors"):
            build_certificate_verifier(_settings(trust_anchors=[str(path)], demo_pki=""),
                                       MemoryStore(), FakeClock())
