"""The Korean PKI's rules for a corporate certificate authentication (issue 7; KOREA-FACTS
"Corporate certificates"; KISA KCAC.TS.SIVID for the VID; RFC 5280 for the path).

`NpkiVerifier.verify(proof, signed, business_number)` checks, in this order, and raises
`CertificateRefused(reason)` at the first failure (the reasons of ports.CERTIFICATE_REASONS):

    step                                                       refusal
    1 parse the certificate, the chain and the signature       malformed
    2 the signature over `signed` with the leaf's key:         bad_signature
      RSASSA-PKCS1-v1_5 with SHA-256 only (RFC 8017 §8.2). SHA-1 signatures are refused:
      the challenge is ours and every browser can hash it with SHA-256.
    3 a path to a configured trust anchor, built by key identifiers (RFC 5280 §4.2.1.1/2)
      and verified signatures, NEVER by names: a CA certificate with the right name but
      another key does not chain. Issuers come from the proof's chain, the configured
      intermediates, and (optionally) the AIA caIssuers URLs: at most MAX_AIA_URLS per
      verification, within `aia_budget` seconds in all (the URLs come from a certificate
      not yet chained: the adapter also refuses non-public hosts).             untrusted
    4 every certificate of the path valid at the provider's clock                expired
    5 the leaf's keyUsage has digitalSignature or nonRepudiation               key_usage
    6 the FIRST certificatePolicies OID (the kind of certificate; the extension is
      critical on real certificates, which is fine here): a personal kind        personal
      not in the allow-list (IDP_NPKI_ALLOWED_POLICIES)                            policy
    7 revocation of every certificate below the anchor (CRL or OCSP, RevocationSource)
                                                          revoked / revocation_unavailable
      (IDP_NPKI_REVOCATION=soft accepts an unchecked one, result.revocation = "soft";
      the certificates above it are still checked, and a revoked one still refuses)
    8 the VID of the subjectAltName against the business number claimed, hashed with the
      certificate's own hashAlg (SHA-1 on old certificates, SHA-256 on new)
                                                                    no_vid / vid_mismatch

The business number is never read from the subject (CN): only the VID binds it.

Pure code apart from the RevocationSource and IssuerFetcher ports (HTTP, LDAP and their
caches live in idp/adapters/npki_revocation.py, which also builds this verifier).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from asn1crypto import core as asn1
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtensionOID

from idp.services.ports import CertificateProof, CertificateRefused, CertifiedCompany, Clock

# KISA's object identifiers (KCAC.TS.SIVID; KOREA-FACTS).
OID_IDENTIFY_DATA = "1.2.410.200004.10.1.1"  # subjectAltName otherName type-id
OID_VID = "1.2.410.200004.10.1.1.1"  # userInfo entry holding the VID
OID_RANDOM_NUM = "1.2.410.200004.10.1.1.3"  # R, in the private key file's attributes

MAX_PATH = 6  # leaf, licensed CA(s), root: real NPKI paths have 3
MAX_AIA_URLS = 2  # caIssuers URLs tried per verification, in all (the leaf's come first)


# ---------------------------------------------------------------------------------------------
# The kinds of certificate (the first certificatePolicies OID), as data.

@dataclass(frozen=True)
class CertificateKind:
    label: str  # the manual's wording (chapter 01/02, 사용 가능한 기업 범용인증서 종류)
    ca: str  # licensed CA (O= of the issuer) and its Korean name
    oids: tuple[str, ...]  # () where no public source names the OID (docs/npki.md)


# The manual's table "사용 가능한 기업 범용인증서 종류", row by row, with the policy OIDs
# from KOREA-FACTS and its sources (letsgolee/jCastle:lib/oid-kr.js, vendor filter lists).
# Three of the manual's rows have no OID in any public source we found: they are listed with
# none and an operator adds theirs with IDP_NPKI_ALLOWED_POLICIES once the CA names it.
CORPORATE_KINDS: tuple[CertificateKind, ...] = (
    CertificateKind("한국정보인증(법인)", "KICA 한국정보인증", ("1.2.410.200004.5.2.1.1",)),
    CertificateKind("전자인증(법인)", "CrossCert 한국전자인증", ("1.2.410.200004.5.4.1.2",)),
    CertificateKind("증권전산(법인)", "SignKorea 코스콤(증권전산)", ("1.2.410.200004.5.1.1.7",)),
    CertificateKind("한국전산원(기관)", "NCASign 한국전산원", ("1.2.410.200004.5.3.1.1",)),
    CertificateKind("금융결제원(법인)", "yessign 금융결제원", ("1.2.410.200005.1.1.5",)),
    CertificateKind("한국전산원(법인)", "NCASign 한국전산원", ("1.2.410.200004.5.3.1.2",)),
    CertificateKind("한국무역정보통신(법인)", "TradeSign 한국무역정보통신",
                    ("1.2.410.200012.1.1.3",)),
    CertificateKind("금융결제원 은행/보험(법인)", "yessign 금융결제원", ("1.2.410.200005.1.1.2",)),
    CertificateKind("금융결제원 증권(법인)", "yessign 금융결제원", ()),
    CertificateKind("금융결제원 은행(법인)", "yessign 금융결제원", ()),
    CertificateKind("금융결제원 기업뱅킹(법인)", "yessign 금융결제원", ("1.2.410.200005.1.1.6.1",)),
    CertificateKind("금융결제원 법인업무(법인)", "yessign 금융결제원", ()),
    CertificateKind("금융결제원 조달청 원클릭(법인)", "yessign 금융결제원",
                    ("1.2.410.200005.1.1.6.3",)),
    CertificateKind("전자인증 용도제한(법인)", "CrossCert 한국전자인증",
                    ("1.2.410.200004.5.4.1.5",)),
    CertificateKind("한국무역정보통신 특수목적(법인)", "TradeSign 한국무역정보통신", ()),
    CertificateKind("한국무역정보통신 용도제한 전자무역(법인)", "TradeSign 한국무역정보통신",
                    ("1.2.410.200012.1.1.9",)),
    CertificateKind("정보인증전자세금용(법인)", "KICA 한국정보인증",
                    ("1.2.410.200004.5.2.1.5001", "1.2.410.200004.5.2.1.6.257")),
)

# Personal certificates (범용 개인 and the personal restricted kinds): refused with their
# own message ("personal"), whatever the allow-list says.
PERSONAL_KINDS: tuple[CertificateKind, ...] = (
    CertificateKind("금융결제원 범용(개인)", "yessign 금융결제원", ("1.2.410.200005.1.1.1",)),
    CertificateKind("한국정보인증 범용(개인)", "KICA 한국정보인증", ("1.2.410.200004.5.2.1.2",)),
    CertificateKind("증권전산 범용(개인)", "SignKorea 코스콤(증권전산)",
                    ("1.2.410.200004.5.1.1.5",)),
    CertificateKind("전자인증 범용(개인)", "CrossCert 한국전자인증", ("1.2.410.200004.5.4.1.1",)),
    CertificateKind("한국무역정보통신 범용(개인)", "TradeSign 한국무역정보통신",
                    ("1.2.410.200012.1.1.1",)),
    CertificateKind("한국전산원 범용(개인)", "NCASign 한국전산원", ("1.2.410.200004.5.3.1.9",)),
    CertificateKind("은행/보험용(개인)", "여러 인증기관", (
        "1.2.410.200005.1.1.4", "1.2.410.200004.5.4.1.101", "1.2.410.200004.5.2.1.7.1",
        "1.2.410.200012.1.1.101")),
    CertificateKind("증권/보험용(개인)", "여러 인증기관", (
        "1.2.410.200004.5.4.1.102", "1.2.410.200004.5.2.1.7.2", "1.2.410.200004.5.1.1.9",
        "1.2.410.200012.1.1.103")),
    CertificateKind("신용카드용(개인)", "여러 인증기관", (
        "1.2.410.200005.1.1.6.2", "1.2.410.200004.5.4.1.103", "1.2.410.200004.5.2.1.7.3",
        "1.2.410.200004.5.1.1.9.2", "1.2.410.200012.1.1.105")),
)


def default_allowed_policies() -> list[str]:
    """Every OID of the manual's table (config/default.toml repeats it; a test keeps both
    equal)."""
    return [oid for kind in CORPORATE_KINDS for oid in kind.oids]


PERSONAL_POLICIES = frozenset(oid for kind in PERSONAL_KINDS for oid in kind.oids)


def kind_of(oid: str) -> CertificateKind | None:
    for kind in CORPORATE_KINDS + PERSONAL_KINDS:
        if oid in kind.oids:
            return kind
    return None


# ---------------------------------------------------------------------------------------------
# The VID (KISA KCAC.TS.SIVID): subjectAltName otherName 1.2.410.200004.10.1.1 holding
#   IdentifyData ::= SEQUENCE { realName UTF8String,
#                               userInfo SEQUENCE OF SEQUENCE { idType OID, idValue ANY } }
#   VID ::= SEQUENCE { hashAlg AlgorithmIdentifier, virtualID [0] EXPLICIT OCTET STRING }
#   VID value = h(h(DER(SEQUENCE { idn PrintableString, randomNum BIT STRING })))

class _AlgorithmIdentifier(asn1.Sequence):
    _fields = [("algorithm", asn1.ObjectIdentifier), ("parameters", asn1.Any, {"optional": True})]


class Vid(asn1.Sequence):
    _fields = [("hash_alg", _AlgorithmIdentifier),
               ("virtual_id", asn1.OctetString, {"explicit": 0})]


class _IdentifyInfo(asn1.Sequence):
    _fields = [("id_type", asn1.ObjectIdentifier), ("id_value", asn1.Any)]


class _UserInfo(asn1.SequenceOf):
    _child_spec = _IdentifyInfo


class IdentifyData(asn1.Sequence):
    _fields = [("real_name", asn1.UTF8String), ("user_info", _UserInfo)]


class _VidInput(asn1.Sequence):
    _fields = [("idn", asn1.PrintableString), ("random_num", asn1.OctetBitString)]


# hashAlg OIDs -> hashlib names (SHA-1 on old certificates, SHA-256 on new).
VID_HASHES = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
HASH_OIDS = {name: oid for oid, name in VID_HASHES.items()}


def vid_value(idn: str, random_r: bytes, hash_name: str = "sha256") -> bytes:
    """h(h(DER(SEQUENCE { idn PrintableString, randomNum BIT STRING }))) (KCAC.TS.SIVID)."""
    der = _VidInput({"idn": idn, "random_num": random_r}).dump()
    return hashlib.new(hash_name, hashlib.new(hash_name, der).digest()).digest()


def identify_data(real_name: str, idn: str, random_r: bytes, hash_name: str = "sha256"
                  ) -> bytes:
    """DER of IdentifyData with one VID (what a CA puts in the otherName; the PKI builder)."""
    vid = Vid({"hash_alg": {"algorithm": HASH_OIDS[hash_name]},
               "virtual_id": vid_value(idn, random_r, hash_name)})
    return IdentifyData({"real_name": real_name,
                         "user_info": [{"id_type": OID_VID, "id_value": vid}]}).dump()


@dataclass(frozen=True)
class CertificateVid:
    real_name: str
    hash_oid: str
    value: bytes


def read_vid(cert: x509.Certificate) -> CertificateVid | None:
    """The certificate's VID, or None when it has none (ValueError when it is malformed)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    for name in san.value.get_values_for_type(x509.OtherName):
        if name.type_id.dotted_string != OID_IDENTIFY_DATA:
            continue
        data = IdentifyData.load(name.value, strict=True)
        for info in data["user_info"]:
            if info["id_type"].dotted != OID_VID:
                continue
            vid = Vid.load(info["id_value"].dump(), strict=True)
            return CertificateVid(real_name=data["real_name"].native,
                                  hash_oid=vid["hash_alg"]["algorithm"].dotted,
                                  value=vid["virtual_id"].native)
    return None


# ---------------------------------------------------------------------------------------------
# Ports of the verifier.

class RevocationUnavailable(Exception):
    """The CA's CRL and OCSP could not be had (or not trusted): the status is unknown."""


class RevocationSource(Protocol):
    """Revocation status of `cert`, issued by `issuer` (whose key signs the CRL/OCSP)."""

    def is_revoked(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        """True when revoked; RevocationUnavailable when it cannot tell."""
        ...


# (AIA caIssuers URL, seconds left of the verification's download budget) -> certificates;
# RevocationUnavailable (or nothing) when the URL is refused or the download fails.
IssuerFetcher = Callable[[str, float], Sequence[x509.Certificate]]


# ---------------------------------------------------------------------------------------------
# The verifier.

def _utc(moment: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(moment, dt.UTC)


def _extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def _key_id(cert: x509.Certificate) -> bytes | None:
    ski = _extension(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    if isinstance(ski, x509.SubjectKeyIdentifier):
        return ski.digest
    return None


def _authority_key_id(cert: x509.Certificate) -> bytes | None:
    aki = _extension(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    if isinstance(aki, x509.AuthorityKeyIdentifier):
        return aki.key_identifier
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    """RFC 5280 §6.1.4 (k), (n): a CA certificate that may sign certificates."""
    bc = _extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
    if not isinstance(bc, x509.BasicConstraints) or not bc.ca:
        return False
    ku = _extension(cert, ExtensionOID.KEY_USAGE)
    return not isinstance(ku, x509.KeyUsage) or ku.key_cert_sign


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The certificate's signature verifies with the issuer's key (and, as RFC 5280 §6.1.3
    (a)(4) asks, its issuer field is the issuer's subject: a check on top of the key, never
    a way to pick the issuer)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _aia_issuers(cert: x509.Certificate) -> list[str]:
    aia = _extension(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return []
    return [d.access_location.value for d in aia
            if d.access_method == x509.AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def _has_revocation_pointer(cert: x509.Certificate) -> bool:
    if _extension(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS) is not None:
        return True
    aia = _extension(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    return isinstance(aia, x509.AuthorityInformationAccess) and any(
        d.access_method == x509.AuthorityInformationAccessOID.OCSP for d in aia)


def load_certificate(data: bytes) -> x509.Certificate:
    """DER or PEM; ValueError otherwise."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


class NpkiVerifier:
    """ports.CertificateVerifier for the Korean PKI (module docstring: the steps)."""

    def __init__(self, *, trust_anchors: Iterable[x509.Certificate],
                 allowed_policies: Iterable[str], revocation: RevocationSource,
                 clock: Clock, revocation_mode: str = "strict",
                 intermediates: Iterable[x509.Certificate] = (),
                 fetch_issuers: IssuerFetcher | None = None, aia_budget: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if revocation_mode not in ("strict", "soft"):
            raise ValueError(f"revocation_mode must be strict or soft, not {revocation_mode!r}")
        self.trust_anchors = tuple(trust_anchors)
        if not self.trust_anchors:
            raise ValueError("at least one trust anchor is needed")
        self.intermediates = tuple(intermediates)
        self.allowed_policies = frozenset(allowed_policies)
        self.revocation = revocation
        self.revocation_mode = revocation_mode
        self.clock = clock
        self.fetch_issuers = fetch_issuers
        self.aia_budget = aia_budget
        self.monotonic = monotonic

    # -- the steps, in order ------------------------------------------------------------------

    def verify(self, proof: CertificateProof, signed: bytes, business_number: str
               ) -> CertifiedCompany:
        leaf, given = self._parse(proof)
        self._check_signature(leaf, proof.signature, signed)
        path = self._build_path(leaf, given)
        self._check_validity(path)
        self._check_key_usage(leaf)
        policy = self._check_policy(leaf)
        revocation = self._check_revocation(path)
        self._check_vid(leaf, proof.random_r, business_number)
        not_after = leaf.not_valid_after_utc.replace(tzinfo=None)
        return CertifiedCompany(
            business_number=business_number, subject=leaf.subject.rfc4514_string(),
            issuer=leaf.issuer.rfc4514_string(), serial=format(leaf.serial_number, "x"),
            policy_oid=policy, not_after=not_after, revocation=revocation)

    @staticmethod
    def _parse(proof: CertificateProof) -> tuple[x509.Certificate, list[x509.Certificate]]:
        try:
            leaf = load_certificate(proof.certificate)
            given = [load_certificate(c) for c in proof.chain]
            # Parse every extension now: a broken one is "malformed", not a crash later.
            for cert in [leaf, *given]:
                list(cert.extensions)
        except ValueError as exc:
            raise CertificateRefused("malformed", f"certificate: {exc}") from exc
        if not proof.signature:
            raise CertificateRefused("malformed", "empty signature")
        return leaf, given

    @staticmethod
    def _check_signature(leaf: x509.Certificate, signature: bytes, signed: bytes) -> None:
        """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2.2) over the challenge text."""
        key = leaf.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise CertificateRefused("bad_signature", "not an RSA key")
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise CertificateRefused("bad_signature") from exc

    def _build_path(self, leaf: x509.Certificate, given: list[x509.Certificate]
                    ) -> list[x509.Certificate]:
        """leaf → … → anchor (RFC 5280 §6.1; issuers found by key identifier, kept only
        when their key verifies the signature)."""
        pool = [c for c in [*given, *self.intermediates] if _is_ca(c)]
        fetched: set[str] = set()
        started = self.monotonic()

        def candidates(cert: x509.Certificate) -> list[tuple[x509.Certificate, bool]]:
            aki = _authority_key_id(cert)

            def matches(c: x509.Certificate) -> bool:
                return aki is None or _key_id(c) is None or _key_id(c) == aki

            found = [(a, True) for a in self.trust_anchors if matches(a)]
            found += [(c, False) for c in pool if matches(c)]
            if self.fetch_issuers is not None and not found:
                for url in _aia_issuers(cert):
                    if url in fetched:
                        continue
                    left = self.aia_budget - (self.monotonic() - started)
                    if len(fetched) >= MAX_AIA_URLS or left <= 0:
                        break  # the URLs are the sender's: a bounded number, a bounded time
                    fetched.add(url)
                    try:
                        more = [c for c in self.fetch_issuers(url, left) if _is_ca(c)]
                    except RevocationUnavailable:
                        more = []
                    pool.extend(more)
                    found += [(c, False) for c in more if matches(c)]
            return found

        def walk(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
            if len(path) >= MAX_PATH:
                return None
            cert = path[-1]
            for issuer, is_anchor in candidates(cert):
                if any(issuer == p for p in path) or not _signed_by(cert, issuer):
                    continue
                if is_anchor:
                    return [*path, issuer]
                longer = walk([*path, issuer])
                if longer is not None:
                    return longer
            return None

        path = walk([leaf])
        if path is None:
            raise CertificateRefused("untrusted", f"issuer {leaf.issuer.rfc4514_string()}")
        self._check_path_lengths(path)
        return path

    @staticmethod
    def _check_path_lengths(path: list[x509.Certificate]) -> None:
        """RFC 5280 §4.2.1.9: a CA's pathLenConstraint bounds the CAs below it."""
        for depth, cert in enumerate(path[1:], start=1):
            bc = _extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
            below = depth - 1  # CA certificates between this one and the leaf
            if isinstance(bc, x509.BasicConstraints) and bc.path_length is not None \
                    and below > bc.path_length:
                raise CertificateRefused("untrusted", "path length constraint")

    def _check_validity(self, path: list[x509.Certificate]) -> None:
        now = _utc(self.clock.now())
        for cert in path:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise CertificateRefused("expired", cert.subject.rfc4514_string())

    @staticmethod
    def _check_key_usage(leaf: x509.Certificate) -> None:
        ku = _extension(leaf, ExtensionOID.KEY_USAGE)
        if not isinstance(ku, x509.KeyUsage) or not (ku.digital_signature or
                                                      ku.content_commitment):
            raise CertificateRefused("key_usage")

    def _check_policy(self, leaf: x509.Certificate) -> str:
        """The kind is the FIRST policyIdentifier (KOREA-FACTS). Real certificates mark the
        extension critical; the plain x509 API reads it either way."""
        policies = _extension(leaf, ExtensionOID.CERTIFICATE_POLICIES)
        if not isinstance(policies, x509.CertificatePolicies) or len(policies) == 0:
            raise CertificateRefused("policy", "no certificatePolicies")
        first = policies[0].policy_identifier.dotted_string
        if first in PERSONAL_POLICIES:
            raise CertificateRefused("personal", first)
        if first not in self.allowed_policies:
            raise CertificateRefused("policy", first)
        return first

    def _check_revocation(self, path: list[x509.Certificate]) -> str:
        """Every certificate below the anchor, from the leaf up (RFC 5280 §6.3). In soft mode
        an unreachable source does not stop the walk: a revoked CA above still refuses."""
        result = "good"
        for depth, (cert, issuer) in enumerate(zip(path, path[1:], strict=False)):
            if depth > 0 and not _has_revocation_pointer(cert):
                continue  # a CA certificate that names no CRL/OCSP: its anchor vouches
            try:
                revoked = self.revocation.is_revoked(cert, issuer)
            except RevocationUnavailable as exc:
                if self.revocation_mode == "strict":
                    raise CertificateRefused("revocation_unavailable", str(exc)) from exc
                result = "soft"
                continue
            if revoked:
                raise CertificateRefused("revoked", cert.subject.rfc4514_string())
        return result

    @staticmethod
    def _check_vid(leaf: x509.Certificate, random_r: bytes | None,
                   business_number: str) -> None:
        try:
            vid = read_vid(leaf)
        except ValueError as exc:
            raise CertificateRefused("malformed", f"VID: {exc}") from exc
        if vid is None:
            raise CertificateRefused("no_vid", "the certificate has no VID")
        if not random_r:
            raise CertificateRefused("no_vid", "the key file has no R")
        hash_name = VID_HASHES.get(vid.hash_oid)
        if hash_name is None:
            raise CertificateRefused("no_vid", f"VID hash {vid.hash_oid}")
        if not hmac.compare_digest(vid_value(business_number, random_r, hash_name), vid.value):
            raise CertificateRefused("vid_mismatch")


__all__ = ["CORPORATE_KINDS", "OID_IDENTIFY_DATA", "OID_RANDOM_NUM", "OID_VID",
           "PERSONAL_KINDS", "PERSONAL_POLICIES", "CertificateKind", "CertificateVid",
           "IdentifyData", "IssuerFetcher", "MAX_AIA_URLS", "NpkiVerifier", "RevocationSource",
           "RevocationUnavailable", "Vid", "default_allowed_policies", "identify_data",
           "kind_of", "load_certificate", "read_vid", "vid_value"]
