"""Revocation of corporate certificates against real local servers (idp/adapters/
npki_revocation.py): a CRL served over HTTP (cached until nextUpdate in the shared store,
fetches counted), CRL signatures, strict and soft modes, an OCSP responder, an LDAP
distribution point (ldap3's mock server)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from idp.adapters.clock import FakeClock
from idp.adapters.npki_revocation import CrlOcspRevocation, ldap_get, load_ldap3
from idp.npki_pki import Issued, Pki
from idp.services.npki import RevocationUnavailable
from idp.stores import MemoryStore

BN = "1248100998"


class PkiServer:
    """A CA's publication point on 127.0.0.1: GET paths from `files`, POST to /ocsp answered
    by `ocsp_answer`; every request counted by path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.ocsp_answer: Callable[[bytes], bytes] | None = None
        self.drip: set[str] = set()  # paths answered one byte every 50 ms
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                if self.path in outer.drip:
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        for _ in range(200):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass  # the client gave up, as it should
                    return
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:  # noqa: N802
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                request = self.rfile.read(int(self.headers["Content-Length"]))
                body = outer.ocsp_answer(request) if outer.ocsp_answer else b""
                self.send_response(200 if body else 500)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def server() -> Iterator[PkiServer]:
    s = PkiServer()
    yield s
    s.close()


@pytest.fixture()
def pki(server: PkiServer) -> Pki:
    return Pki(crl_base_url=f"{server.base}/crl/")


@pytest.fixture()
def clock(pki: Pki) -> FakeClock:
    return FakeClock(pki.now.timestamp())


def _publish(server: PkiServer, pki: Pki, **options: Any) -> str:
    path = f"/crl/{pki.ca_slug}.crl"
    server.files[path] = pki.crl_der(**options)
    return path


def test_a_crl_is_fetched_once_and_cached_until_next_update(server, pki, clock):
    leaf = pki.corporate(BN, "기업")
    path = _publish(server, pki, next_update=pki.now + dt.timedelta(hours=6))
    store = MemoryStore(clock)
    source = CrlOcspRevocation(store, clock, timeout=2)
    for _ in range(5):
        assert source.is_revoked(leaf.cert, pki.ca.cert) is False
    assert server.hits[path] == 1
    # another process (its own memo) shares the store's copy: still one download
    other = CrlOcspRevocation(store, clock, timeout=2)
    assert other.is_revoked(leaf.cert, pki.ca.cert) is False
    assert server.hits[path] == 1
    # past nextUpdate the CRL is fetched again, once
    pki.revoke(leaf.cert)
    _publish(server, pki, this_update=pki.now + dt.timedelta(hours=5),
             next_update=pki.now + dt.timedelta(hours=30))
    clock.advance(6 * 3600 + 1)
    assert source.is_revoked(leaf.cert, pki.ca.cert) is True
    assert other.is_revoked(leaf.cert, pki.ca.cert) is True
    assert server.hits[path] == 2


def test_threads_share_one_source_and_one_download(server, pki, clock):
    from concurrent.futures import ThreadPoolExecutor

    leaves = [pki.corporate(BN, f"기업{i}") for i in range(3)]
    pki.revoke(leaves[0].cert)
    path = _publish(server, pki)
    source = CrlOcspRevocation(MemoryStore(clock), clock)
    source.is_revoked(leaves[1].cert, pki.ca.cert)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: source.is_revoked(leaves[i % 3].cert, pki.ca.cert),
                                range(300)))
    assert answers == [i % 3 == 0 for i in range(300)]
    assert server.hits[path] == 1


def test_the_crl_cache_is_bounded_by_crl_cache_seconds(server, pki, clock):
    leaf = pki.corporate(BN, "기업")
    path = _publish(server, pki, next_update=pki.now + dt.timedelta(days=7))
    source = CrlOcspRevocation(MemoryStore(clock), clock, timeout=2, crl_cache_seconds=60)
    source.is_revoked(leaf.cert, pki.ca.cert)
    clock.advance(61)
    source.is_revoked(leaf.cert, pki.ca.cert)
    assert server.hits[path] == 2


def test_a_revoked_serial_is_revoked(server, pki, clock):
    leaf = pki.corporate(BN, "기업")
    pki.revoke(leaf.cert)
    _publish(server, pki)
    assert CrlOcspRevocation(MemoryStore(clock), clock).is_revoked(leaf.cert, pki.ca.cert)


def test_a_crl_signed_by_another_key_is_not_used(server, pki, clock):
    leaf = pki.corporate(BN, "기업")
    look_alike = pki.make_ca(pki.root)  # the CA's name, another key
    _publish(server, pki, signer=look_alike)
    with pytest.raises(RevocationUnavailable, match="not signed"):
        CrlOcspRevocation(MemoryStore(clock), clock).is_revoked(leaf.cert, pki.ca.cert)


def test_an_out_of_date_crl_is_not_used(server, pki, clock):
    leaf = pki.corporate(BN, "기업")
    _publish(server, pki, this_update=pki.now - dt.timedelta(days=3),
             next_update=pki.now - dt.timedelta(days=1))
    with pytest.raises(RevocationUnavailable, match="out of date"):
        CrlOcspRevocation(MemoryStore(clock), clock).is_revoked(leaf.cert, pki.ca.cert)


def test_an_unreachable_ca_is_unavailable(pki, clock):
    leaf = Pki(crl_base_url="http://127.0.0.1:9/crl/", now=pki.now).corporate(BN, "기업")
    with pytest.raises(RevocationUnavailable):
        CrlOcspRevocation(MemoryStore(clock), clock, timeout=1).is_revoked(leaf.cert,
                                                                          pki.ca.cert)


def test_a_missing_crl_is_unavailable(server, pki, clock):
    leaf = pki.corporate(BN, "기업")
    with pytest.raises(RevocationUnavailable, match="HTTP 404"):
        CrlOcspRevocation(MemoryStore(clock), clock).is_revoked(leaf.cert, pki.ca.cert)


def test_a_certificate_with_no_crl_and_no_ocsp_is_unavailable(pki, clock):
    leaf = pki.corporate(BN, "기업", crl=False)
    with pytest.raises(RevocationUnavailable, match="no CRL distribution point"):
        CrlOcspRevocation(MemoryStore(clock), clock).is_revoked(leaf.cert, pki.ca.cert)


# -- OCSP (RFC 6960) ------------------------------------------------------------------------

def _ocsp_responder(pki: Pki, status: ocsp.OCSPCertStatus, signer: Issued | None = None,
                    clock: FakeClock | None = None,
                    this_update: dt.timedelta = dt.timedelta(minutes=-5),
                    next_update: dt.timedelta | None = dt.timedelta(hours=1)
                    ) -> Callable[[bytes], bytes]:
    signer = signer or pki.ca

    def answer(body: bytes) -> bytes:
        now = dt.datetime.fromtimestamp(clock.now(), dt.UTC) if clock else pki.now
        request = ocsp.load_der_ocsp_request(body)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number, algorithm=hashes.SHA1(), cert_status=status,
            this_update=now + this_update,
            next_update=None if next_update is None else now + next_update,
            revocation_time=now - dt.timedelta(days=1)
            if status == ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        if signer is not pki.ca:
            builder = builder.certificates([signer.cert])
        return builder.sign(signer.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)
    return answer


@pytest.mark.parametrize("status, revoked", [(ocsp.OCSPCertStatus.GOOD, False),
                                             (ocsp.OCSPCertStatus.REVOKED, True)])
def test_ocsp_answers_when_there_is_no_crl(server, pki, clock, status, revoked):
    leaf = pki.corporate(BN, "기업", crl=False, ocsp_url=f"{server.base}/ocsp")
    server.ocsp_answer = _ocsp_responder(pki, status)
    source = CrlOcspRevocation(MemoryStore(clock), clock)
    assert source.is_revoked(leaf.cert, pki.ca.cert) is revoked
    assert server.hits["/ocsp"] == 1


def test_an_ocsp_answer_is_cached_until_its_next_update(server, pki, clock):
    leaf = pki.corporate(BN, "기업", crl=False, ocsp_url=f"{server.base}/ocsp")
    server.ocsp_answer = _ocsp_responder(pki, ocsp.OCSPCertStatus.GOOD)
    store = MemoryStore(clock)
    for source in (CrlOcspRevocation(store, clock), CrlOcspRevocation(store, clock)):
        assert source.is_revoked(leaf.cert, pki.ca.cert) is False
    assert server.hits["/ocsp"] == 1
    clock.advance(3601)  # the responder's nextUpdate is an hour after its thisUpdate
    server.ocsp_answer = _ocsp_responder(pki, ocsp.OCSPCertStatus.REVOKED, clock=clock)
    assert CrlOcspRevocation(store, clock).is_revoked(leaf.cert, pki.ca.cert) is True
    assert server.hits["/ocsp"] == 2


def test_ocsp_is_the_fallback_when_the_crl_is_unreachable(server, pki, clock):
    leaf = pki.corporate(BN, "기업", ocsp_url=f"{server.base}/ocsp")  # CRL DP: 404
    server.ocsp_answer = _ocsp_responder(pki, ocsp.OCSPCertStatus.GOOD)
    assert CrlOcspRevocation(MemoryStore(clock), clock).is_revoked(leaf.cert,
                                                                   pki.ca.cert) is False


def test_an_ocsp_response_signed_by_a_stranger_is_not_used(server, pki, clock):
    leaf = pki.corporate(BN, "기업", crl=False, ocsp_url=f"{server.base}/ocsp")
    stranger = pki.make_ca(pki.root)
    server.ocsp_answer = _ocsp_responder(pki, ocsp.OCSPCertStatus.GOOD, signer=stranger)
    with pytest.raises(RevocationUnavailable, match="not signed"):
        CrlOcspRevocation(MemoryStore(clock), clock).is_revoked(leaf.cert, pki.ca.cert)


# -- LDAP distribution points (ldap3) -----------------------------------------------------------

def test_a_crl_is_read_from_an_ldap_distribution_point(pki, clock, monkeypatch):
    ldap3 = load_ldap3()
    revoked = pki.corporate(BN, "기업")
    pki.revoke(revoked.cert)
    crl = pki.crl_der()
    dn = "cn=dp1p1,ou=dp,o=yessign,c=kr"
    server = ldap3.Server("mock-ca")
    real_connection = ldap3.Connection

    def connection(_server: Any, **options: Any) -> Any:
        conn = real_connection(server, client_strategy=ldap3.MOCK_SYNC, **options)
        conn.strategy.add_entry(dn, {"objectClass": "cRLDistributionPoint",
                                     "certificateRevocationList;binary": crl})
        return conn

    monkeypatch.setattr(ldap3, "Connection", connection)
    url = f"ldap://ldap.yessign.example:389/{dn}?certificateRevocationList;binary"
    assert ldap_get(url, timeout=2, max_bytes=1 << 20) == crl
    source = CrlOcspRevocation(MemoryStore(clock), clock)
    found = source.crl(url, pki.ca.cert)  # signature checked against the issuing CA
    assert found.get_revoked_certificate_by_serial_number(revoked.cert.serial_number)


def test_an_unreachable_ldap_server_is_unavailable():
    with pytest.raises(RevocationUnavailable):
        ldap_get("ldap://127.0.0.1:9/cn=dp,o=ca?certificateRevocationList;binary",
                 timeout=1, max_bytes=1 << 20)


def _responder(pki: Pki, *, ocsp_signing: bool) -> Issued:
    """A responder certificate issued by the CA, with or without id-kp-OCSPSigning."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    responder_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    usage = [ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing else
             ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OCSP")]))
            .issuer_name(pki.ca.cert.subject).public_key(responder_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(pki.now - dt.timedelta(days=1))
            .not_valid_after(pki.now + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .sign(pki.ca.key, hashes.SHA256()))
    return Issued(cert, responder_key)


@pytest.mark.parametrize("this_update, next_update, fresh", [
    (dt.timedelta(minutes=-2), None, True),  # no nextUpdate: fresh enough
    (dt.timedelta(minutes=-11), None, False),  # no nextUpdate: older than ocsp_max_age
    (dt.timedelta(days=-30), None, False),
    (dt.timedelta(minutes=-11), dt.timedelta(hours=1), True),  # nextUpdate says how long
    (dt.timedelta(minutes=10), dt.timedelta(hours=1), False),  # thisUpdate in the future
    (dt.timedelta(minutes=10), None, False),
    (dt.timedelta(hours=-2), dt.timedelta(hours=-1), False),  # past nextUpdate
])
def test_an_ocsp_answer_must_be_current(server, pki, clock, this_update, next_update, fresh):
    leaf = pki.corporate(BN, "기업", crl=False, ocsp_url=f"{server.base}/ocsp")
    server.ocsp_answer = _ocsp_responder(pki, ocsp.OCSPCertStatus.GOOD, clock=clock,
                                         this_update=this_update, next_update=next_update)
    source = CrlOcspRevocation(MemoryStore(clock), clock, ocsp_max_age=600)
    if fresh:
        assert source.is_revoked(leaf.cert, pki.ca.cert) is False
    else:
        with pytest.raises(RevocationUnavailable, match="out of date"):
            source.is_revoked(leaf.cert, pki.ca.cert)


@pytest.mark.parametrize("ocsp_signing", [True, False])
def test_a_delegated_ocsp_responder_needs_ocsp_signing(server, pki, clock, ocsp_signing):
    leaf = pki.corporate(BN, "기업", crl=False, ocsp_url=f"{server.base}/ocsp")
    server.ocsp_answer = _ocsp_responder(pki, ocsp.OCSPCertStatus.GOOD,
                                         signer=_responder(pki, ocsp_signing=ocsp_signing))
    source = CrlOcspRevocation(MemoryStore(clock), clock)
    if ocsp_signing:
        assert source.is_revoked(leaf.cert, pki.ca.cert) is False
    else:
        with pytest.raises(RevocationUnavailable, match="not signed"):
            source.is_revoked(leaf.cert, pki.ca.cert)


# -- AIA caIssuers (optional) ---------------------------------------------------------------

def test_ca_certificates_are_downloaded_from_ca_issuers_urls(server, pki):
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    from idp.adapters.npki_revocation import IssuerDownloads, http_get

    server.files["/ca.der"] = pki.ca.der
    server.files["/ca.p7c"] = pkcs7.serialize_certificates([pki.ca.cert], Encoding.DER)
    downloads = IssuerDownloads(
        lambda u, seconds: http_get(u, timeout=2, max_bytes=1 << 20, budget=seconds),
        allowed_hosts=["127.0.0.1"])
    assert downloads(f"{server.base}/ca.der") == [pki.ca.cert]
    assert downloads(f"{server.base}/ca.p7c") == [pki.ca.cert]
    assert downloads(f"{server.base}/ca.der") == [pki.ca.cert]
    assert server.hits["/ca.der"] == 1  # kept per process
    with pytest.raises(RevocationUnavailable, match="scheme"):
        downloads("ldap://ca.example/cn=ca")


@pytest.fixture()
def root_file(pki: Pki, tmp_path: Any) -> str:
    path = tmp_path / "root.pem"
    path.write_bytes(pki.root.cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _aia_verifier(root_file: str, clock: FakeClock, **npki: Any) -> Any:
    """The verifier as production builds it, with aia_fetch on and the given [npki] settings
    (the CRL is not what these tests are about: soft mode)."""
    from idp.adapters.npki_revocation import build_certificate_verifier
    from idp.config import load_settings

    settings = load_settings(environ={"IDP_ENV": "testing"})
    settings["npki"].update({"trust_anchors": [root_file], "intermediates": [],
                             "demo_pki": "", "aia_fetch": True, "revocation": "soft",
                             "timeout": 2.0, **npki})
    return build_certificate_verifier(settings, MemoryStore(clock), clock)


def _sign(leaf: Issued) -> Any:
    from cryptography.hazmat.primitives.asymmetric import padding

    from idp.services.ports import CertificateProof

    signature = leaf.key.sign(b"challenge", padding.PKCS1v15(), hashes.SHA256())
    return CertificateProof(certificate=leaf.der, signature=signature,
                            random_r=leaf.random_r, chain=())


def _reason(verifier: Any, proof: Any) -> str:
    from idp.services.ports import CertificateRefused

    with pytest.raises(CertificateRefused) as exc:
        verifier.verify(proof, b"challenge", BN)
    return exc.value.reason


def test_one_verification_fetches_at_most_two_ca_issuers_urls(server, pki, clock, root_file):
    urls = tuple(f"{server.base}/ca{i}.der" for i in range(300))
    leaf = pki.corporate(BN, "기업", ca_issuers_url=urls)
    verifier = _aia_verifier(root_file, clock, aia_hosts=["127.0.0.1"])
    assert _reason(verifier, _sign(leaf)) == "untrusted"
    assert sum(server.hits.values()) == 2


def test_a_ca_issuers_url_completes_the_chain_when_its_host_is_allowed(
        server, pki, clock, root_file):
    server.files["/ca.der"] = pki.ca.der
    leaf = pki.corporate(BN, "기업", ca_issuers_url=f"{server.base}/ca.der")
    verifier = _aia_verifier(root_file, clock, aia_hosts=["127.0.0.1"])
    assert verifier.verify(_sign(leaf), b"challenge", BN).business_number == BN
    assert server.hits["/ca.der"] == 1


@pytest.mark.parametrize("hosts", [[], ["ca.example"]])
def test_a_loopback_ca_issuers_url_is_refused_unless_allowed(server, pki, clock, root_file, hosts):
    server.files["/ca.der"] = pki.ca.der
    leaf = pki.corporate(BN, "기업", ca_issuers_url=(
        f"{server.base}/ca.der", f"http://localhost:{server.base.rsplit(':', 1)[1]}/ca.der"))
    verifier = _aia_verifier(root_file, clock, aia_hosts=hosts)
    assert _reason(verifier, _sign(leaf)) == "untrusted"
    assert server.hits == {}


@pytest.mark.parametrize("url", ["http://[::1/x", "http://ca.example:99999/ca.der",
                                 "file:///etc/passwd", "ftp://ca.example/ca.der", "http:///x"])
def test_a_malformed_or_foreign_ca_issuers_url_is_skipped(server, pki, clock, root_file, url):
    server.files["/ca.der"] = pki.ca.der
    leaf = pki.corporate(BN, "기업", ca_issuers_url=(url, f"{server.base}/ca.der"))
    verifier = _aia_verifier(root_file, clock, aia_hosts=["127.0.0.1", "ca.example"])
    assert verifier.verify(_sign(leaf), b"challenge", BN).business_number == BN


def test_ca_issuers_downloads_stop_at_the_time_budget(server, pki, clock, root_file):
    server.drip.add("/slow.der")
    leaf = pki.corporate(BN, "기업", ca_issuers_url=(f"{server.base}/slow.der",
                                                    f"{server.base}/ca.der"))
    server.files["/ca.der"] = pki.ca.der
    verifier = _aia_verifier(root_file, clock, aia_hosts=["127.0.0.1"], aia_budget=0.5)
    started = time.monotonic()
    assert _reason(verifier, _sign(leaf)) == "untrusted"
    assert time.monotonic() - started < 1.5
    assert "/ca.der" not in server.hits  # no time left for the second URL


@pytest.mark.parametrize("addresses, public", [
    (["93.184.216.34"], True), (["2606:2800:220:1:248:1893:25c8:1946"], True),
    (["127.0.0.1"], False), (["10.1.2.3"], False), (["192.168.0.1"], False),
    (["169.254.169.254"], False), (["224.0.0.1"], False), (["240.0.0.1"], False),
    (["100.64.0.1"], False), (["::1"], False), (["fe80::1"], False), (["fc00::1"], False),
    (["ff0e::1"], False), (["::ffff:127.0.0.1"], False), (["93.184.216.34", "10.0.0.1"], False),
    ([], False),
])
def test_only_host_names_with_public_addresses_may_serve_ca_certificates(addresses, public):
    from idp.adapters.npki_revocation import check_public_host

    def resolve(host: str) -> list[str]:
        return addresses

    if public:
        check_public_host("ca.example", (), resolve)
    else:
        with pytest.raises(RevocationUnavailable):
            check_public_host("ca.example", (), resolve)


@pytest.mark.parametrize("host", ["93.184.216.34", "127.0.0.1", "::1"])
def test_an_ip_literal_is_refused_unless_listed(host):
    from idp.adapters.npki_revocation import check_public_host

    with pytest.raises(RevocationUnavailable, match="IP address"):
        check_public_host(host, (), lambda h: ["93.184.216.34"])
    check_public_host(host, [host], lambda h: [])
    with pytest.raises(RevocationUnavailable, match="aia_hosts"):
        check_public_host("ca.example", [host], lambda h: ["93.184.216.34"])


@pytest.mark.parametrize("url", ["http://[::1/crl", "http://ca.example:99999/a.crl",
                                 "gopher://ca.example/a.crl", "ldap://[::1/cn=ca"])
def test_a_malformed_crl_or_ocsp_url_is_unavailable_not_an_error(clock, url):
    from idp.adapters.npki_revocation import ldap_get

    source = CrlOcspRevocation(MemoryStore(clock), clock, timeout=1)
    pki = Pki()
    with pytest.raises(RevocationUnavailable):
        source.crl(url, pki.ca.cert)
    leaf = pki.corporate(BN, "기업", crl=False, ocsp_url=url)
    with pytest.raises(RevocationUnavailable):
        source.is_revoked(leaf.cert, pki.ca.cert)
    if url.startswith("ldap"):
        with pytest.raises(RevocationUnavailable):
            ldap_get(url, timeout=1, max_bytes=1000)
