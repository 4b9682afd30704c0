"""Revocation of Korean corporate certificates, and the composition of the NPKI verifier
(issue 7; RFC 5280 §5 CRLs and §4.2.1.13 distribution points, RFC 4516 LDAP URLs, RFC 6960
OCSP; KOREA-FACTS: "CRL distribution points are often ldap:// URLs; OCSP needs a contract").

`CrlOcspRevocation.is_revoked(cert, issuer)` asks, in order:
  1. each CRL distribution point of `cert` (http(s):// with `requests`, ldap:// with `ldap3`):
     the CRL must be signed by `issuer`'s key and name `issuer` as its issuer, be current
     (thisUpdate ≤ now < nextUpdate); the first usable one answers;
  2. without a usable CRL, each OCSP responder of the AIA extension (a response signed by
     the issuer or by a responder it delegated with id-kp-OCSPSigning; RFC 6960 §4.2.2.2);
  3. nothing usable: RevocationUnavailable (strict mode refuses, soft accepts: the verifier).

CRLs are cached until their nextUpdate (at most `crl_cache_seconds`) in two levels: the
provider's store (`provider().store`: Redis or the database, so every process and worker
shares one download per CRL and nextUpdate) and a small per-process memo of the parsed,
signature-checked CRL (at most `MEMO_ENTRIES`, least recently used out) so a verification
with a cached CRL costs no download, no parse and no signature check. A delta CRL, an
indirect CRL and partitioned-CRL scopes are not used (KISA's licensed CAs publish full,
direct CRLs per distribution point).

Every URL read from a certificate goes through `check_url` first: a malformed one or one of
another scheme is RevocationUnavailable (never a 500). AIA caIssuers URLs come from the
sender's own, not yet chained certificate, so `IssuerDownloads` also refuses IP literals and
host names resolving to non-public addresses (loopback, private, link-local, multicast,
reserved) unless `[npki] aia_hosts` lists the host (and then ONLY the listed hosts).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import logging
import socket
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from idp.config import PROJECT_ROOT
from idp.services.npki import (
    NpkiVerifier,
    RevocationUnavailable,
    load_certificate,
)
from idp.services.ports import CertificateVerifier, Clock
from idp.stores import Store

log = logging.getLogger(__name__)

MEMO_ENTRIES = 64  # parsed CRLs kept per process
CLOCK_SKEW = dt.timedelta(minutes=5)  # a CA's thisUpdate a little in our future is fine
STORE_PREFIX = "npki:crl:"
OCSP_PREFIX = "npki:ocsp:"

Fetch = Callable[[str], bytes]
Resolve = Callable[[str], Sequence[str]]  # host name -> its IP addresses


def check_url(url: str, schemes: Collection[str]) -> tuple[str, str]:
    """(scheme, host) of a URL taken from a certificate; RevocationUnavailable when it is
    malformed (urlsplit's ValueError, a bad port), has no host or another scheme."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # ValueError when not a number or out of range
    except ValueError as exc:
        raise RevocationUnavailable(f"{url!r}: malformed URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise RevocationUnavailable(f"{url!r}: {scheme or 'no'} scheme not supported")
    if not host:
        raise RevocationUnavailable(f"{url!r}: no host")
    return scheme, host


def resolve_host(host: str) -> list[str]:
    """The addresses a host name resolves to (the system resolver)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise RevocationUnavailable(f"{host}: does not resolve") from exc
    return [str(info[4][0]) for info in infos]


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback
                                 or ip.is_link_local or ip.is_private)


def check_public_host(host: str, allowed_hosts: Collection[str],
                      resolve: Resolve = resolve_host) -> None:
    """RevocationUnavailable unless `host` may be fetched from: one of `allowed_hosts` when
    that list is not empty; otherwise a host NAME whose every address is public (an IP
    literal is refused). The name is resolved again when connecting: the allow-list is the
    firm guard (docs/npki.md)."""
    name = host.lower().rstrip(".")
    if allowed_hosts:
        if name in {h.lower().rstrip(".") for h in allowed_hosts}:
            return
        raise RevocationUnavailable(f"{host}: not in npki.aia_hosts")
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        pass
    else:
        raise RevocationUnavailable(f"{host}: an IP address, not a host name")
    addresses = resolve(name)
    if not addresses:
        raise RevocationUnavailable(f"{host}: does not resolve")
    try:
        if all(_public(a) for a in addresses):
            return
    except ValueError:
        pass
    raise RevocationUnavailable(f"{host}: not a public address")


def crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for dp in dps:
        for name in dp.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier):
                urls.append(name.value)
    return urls


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == x509.AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


# ---------------------------------------------------------------------------------------------
# Transports

def http_get(url: str, *, timeout: float, max_bytes: int, budget: float | None = None
             ) -> bytes:
    """GET a CRL or CA certificate; RevocationUnavailable for anything but a 200. `timeout`
    bounds each wait; `budget` (seconds) the whole download, a slow drip included."""
    import requests  # on the first download, not with the module (issue 10, memory)
    import urllib3

    deadline = None if budget is None else time.monotonic() + budget
    if budget is not None:
        timeout = max(0.01, min(timeout, budget))
    try:
        with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as answer:
            if answer.status_code != 200:
                raise RevocationUnavailable(f"{url}: HTTP {answer.status_code}")
            body = bytearray()
            while True:  # read1: whatever has arrived, so a slow drip meets the deadline
                chunk = answer.raw.read1(64 * 1024)
                if not chunk:
                    break
                body += chunk
                if len(body) > max_bytes:
                    raise RevocationUnavailable(f"{url}: larger than {max_bytes} bytes")
                if deadline is not None and time.monotonic() > deadline:
                    raise RevocationUnavailable(f"{url}: took longer than {budget} s")
            return bytes(body)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
            ValueError) as exc:
        raise RevocationUnavailable(f"{url!r}: {exc.__class__.__name__}") from exc


def load_ldap3() -> Any:
    """ldap3, imported when an ldap:// distribution point is first used. ldap3 2.9 (its
    latest release) still imports pyasn1's deprecated names; that warning is not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ldap3
    return ldap3


def ldap_get(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """The CRL attribute of an ldap:// URL (RFC 4516: ldap://host:port/dn?attribute),
    read anonymously with a base-scope search, as Korean CAs publish them."""
    ldap3 = load_ldap3()
    check_url(url, ("ldap",))
    parts = urlsplit(url)
    dn = unquote(parts.path.lstrip("/"))
    attribute = unquote(parts.query.split("?")[0]) or "certificateRevocationList;binary"
    try:
        server = ldap3.Server(parts.hostname or "", port=parts.port or 389,
                              connect_timeout=timeout, get_info=ldap3.NONE)
        conn = ldap3.Connection(server, receive_timeout=timeout, read_only=True)
        try:  # anonymous bind; unbind closes the socket even when the bind failed
            conn.bind()
            conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE,
                        attributes=[attribute])
            entries = conn.response or []
        finally:
            conn.unbind()
            if getattr(conn, "socket", None) is not None:
                conn.socket.close()  # ldap3 2.9 leaves it open when the connect failed
    except ldap3.core.exceptions.LDAPException as exc:
        raise RevocationUnavailable(f"{url}: {exc.__class__.__name__}") from exc
    for entry in entries:
        raw: Mapping[str, Any] = entry.get("raw_attributes", {})
        for name, values in raw.items():
            if name.lower() == attribute.lower() and values:
                value = bytes(values[0])
                if len(value) > max_bytes:
                    raise RevocationUnavailable(f"{url}: larger than {max_bytes} bytes")
                return value
    raise RevocationUnavailable(f"{url}: no {attribute}")


def ocsp_post(url: str, body: bytes, *, timeout: float) -> bytes:
    import requests

    try:
        answer = requests.post(url, data=body, timeout=timeout, allow_redirects=False,
                               headers={"Content-Type": "application/ocsp-request"})
    except (requests.RequestException, ValueError) as exc:
        raise RevocationUnavailable(f"{url!r}: {exc.__class__.__name__}") from exc
    if answer.status_code != 200:
        raise RevocationUnavailable(f"{url}: HTTP {answer.status_code}")
    return answer.content


# ---------------------------------------------------------------------------------------------
# The revocation source

@dataclass
class _Memo:
    crl: x509.CertificateRevocationList
    next_update: dt.datetime
    issuer_key: bytes  # the issuer key the signature was checked with
    # The revoked serials as a set: cryptography's lookup by serial walks the whole list
    # (about 1 ms for 10,000 entries), the set answers in microseconds.
    serials: frozenset[int] = frozenset()


def _key_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


class CrlOcspRevocation:
    """services.npki.RevocationSource over CRLs (HTTP, LDAP) and OCSP (module docstring)."""

    def __init__(self, store: Store, clock: Clock, *, timeout: float = 5.0,
                 crl_cache_seconds: int = 86400, max_bytes: int = 20 * 1024 * 1024,
                 fetch: Mapping[str, Fetch] | None = None,
                 post_ocsp: Callable[[str, bytes], bytes] | None = None,
                 rewrite: Callable[[str], str] | None = None, ocsp_max_age: int = 600
                 ) -> None:
        self.store, self.clock = store, clock
        self.ocsp_max_age = dt.timedelta(seconds=ocsp_max_age)
        self.crl_cache_seconds = crl_cache_seconds
        self.fetchers: dict[str, Fetch] = {
            "http": lambda u: http_get(u, timeout=timeout, max_bytes=max_bytes),
            "https": lambda u: http_get(u, timeout=timeout, max_bytes=max_bytes),
            "ldap": lambda u: ldap_get(u, timeout=timeout, max_bytes=max_bytes),
        }
        self.fetchers.update(fetch or {})
        self.post_ocsp = post_ocsp or (lambda u, b: ocsp_post(u, b, timeout=timeout))
        self.rewrite = rewrite or (lambda u: u)
        self._memo: OrderedDict[tuple[str, bytes], _Memo] = OrderedDict()
        self._lock = threading.Lock()  # server threads share one revocation source

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)

    def is_revoked(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        problems: list[str] = []
        for url in crl_urls(cert):
            try:
                current = self._current(url, issuer)
            except RevocationUnavailable as exc:
                problems.append(str(exc))
                continue
            return cert.serial_number in current.serials
        for url in ocsp_urls(cert):
            try:
                return self.ocsp_status(url, cert, issuer)
            except RevocationUnavailable as exc:
                problems.append(str(exc))
        raise RevocationUnavailable("; ".join(problems) or
                                    "no CRL distribution point and no OCSP responder")

    # -- CRLs ----------------------------------------------------------------------------------

    def crl(self, url: str, issuer: x509.Certificate) -> x509.CertificateRevocationList:
        """The current CRL at `url`, signed by `issuer` (cached until its nextUpdate)."""
        return self._current(url, issuer).crl

    def _current(self, url: str, issuer: x509.Certificate) -> _Memo:
        scheme, _host = check_url(url, self.fetchers)
        now = self._now()
        key = (url, _key_der(issuer))
        with self._lock:
            memo = self._memo.get(key)
            if memo is not None and now < memo.next_update:
                self._memo.move_to_end(key)
                return memo
        store_key = STORE_PREFIX + hashlib.sha256(url.encode()).hexdigest()
        cached = self.store.get(store_key)
        if cached is not None:
            try:
                return self._remember(key, self._check_crl(
                    base64.b64decode(cached["der"]), issuer, url, now))
            except RevocationUnavailable:
                self.store.delete(store_key)  # stale or another CA's: fetch it again
        data = self.fetchers[scheme](self.rewrite(url))
        crl = self._check_crl(data, issuer, url, now)
        der = crl.public_bytes(serialization.Encoding.DER)
        next_update = crl.next_update_utc
        assert next_update is not None  # _check_crl refuses a CRL without one
        ttl = min((next_update - now).total_seconds(), self.crl_cache_seconds)
        if ttl >= 1:
            self.store.put(store_key, {"der": base64.b64encode(der).decode()}, ttl)
        return self._remember(key, crl)

    def _remember(self, key: tuple[str, bytes], crl: x509.CertificateRevocationList
                  ) -> _Memo:
        next_update = crl.next_update_utc
        assert next_update is not None
        limit = self._now() + dt.timedelta(seconds=self.crl_cache_seconds)
        memo = _Memo(crl, min(next_update, limit), key[1],
                     frozenset(r.serial_number for r in crl))
        with self._lock:
            self._memo[key] = memo
            self._memo.move_to_end(key)
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return memo

    @staticmethod
    def _check_crl(data: bytes, issuer: x509.Certificate, url: str, now: dt.datetime
                   ) -> x509.CertificateRevocationList:
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                crl = x509.load_pem_x509_crl(data)
            else:
                crl = x509.load_der_x509_crl(data)
        except ValueError as exc:
            raise RevocationUnavailable(f"{url}: not a CRL") from exc
        # RFC 5280 §6.3.3 (f), (g): the CRL issuer is the certificate's issuer and its key
        # signs the CRL. The signature is what counts; the name is checked on top.
        if crl.issuer != issuer.subject or not _crl_signed_by(crl, issuer):
            raise RevocationUnavailable(f"{url}: CRL not signed by the issuing CA")
        next_update = crl.next_update_utc
        if next_update is None or now >= next_update:
            raise RevocationUnavailable(f"{url}: CRL out of date")
        if crl.last_update_utc > now + CLOCK_SKEW:
            raise RevocationUnavailable(f"{url}: CRL not yet valid")
        return crl

    # -- OCSP (RFC 6960) -----------------------------------------------------------------------

    def ocsp_status(self, url: str, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        check_url(url, ("http", "https"))  # RFC 6960 Appendix A: OCSP over HTTP
        # CertID hashes: SHA-1 is what RFC 6960 §4.1.1 / RFC 5019 responders expect; it
        # names the certificate, it does not protect anything.
        request = ocsp.OCSPRequestBuilder().add_certificate(
            cert, issuer, hashes.SHA1()).build()  # noqa: S303
        store_key = OCSP_PREFIX + hashlib.sha256(
            f"{url}|{request.issuer_key_hash.hex()}|{cert.serial_number:x}".encode()).hexdigest()
        cached = self.store.get(store_key)
        if cached is not None:
            return bool(cached["revoked"])
        revoked, next_update = self._ask_ocsp(url, cert, issuer, request)
        if next_update is not None:  # cached until the responder's nextUpdate, like a CRL
            ttl = min((next_update - self._now()).total_seconds(), self.crl_cache_seconds)
            if ttl >= 1:
                self.store.put(store_key, {"revoked": revoked}, ttl)
        return revoked

    def _ask_ocsp(self, url: str, cert: x509.Certificate, issuer: x509.Certificate,
                  request: ocsp.OCSPRequest) -> tuple[bool, dt.datetime | None]:
        try:
            answer = ocsp.load_der_ocsp_response(
                self.post_ocsp(self.rewrite(url),
                               request.public_bytes(serialization.Encoding.DER)))
        except ValueError as exc:
            raise RevocationUnavailable(f"{url}: not an OCSP response") from exc
        if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailable(f"{url}: OCSP {answer.response_status.name}")
        if not _ocsp_signed(answer, issuer, self._now()):
            raise RevocationUnavailable(f"{url}: OCSP response not signed for the CA")
        for single in answer.responses:
            if single.serial_number != cert.serial_number or \
                    single.issuer_key_hash != request.issuer_key_hash:
                continue
            now = self._now()
            # RFC 6960 §4.2.2.1 / RFC 5019 §4: thisUpdate not in the future (a small skew);
            # past nextUpdate is stale; without nextUpdate ("newer information is always
            # available") only a fresh answer counts: thisUpdate within ocsp_max_age.
            if single.this_update_utc > now + CLOCK_SKEW or (
                    single.next_update_utc is not None and now >= single.next_update_utc) or (
                    single.next_update_utc is None and
                    single.this_update_utc < now - self.ocsp_max_age):
                raise RevocationUnavailable(f"{url}: OCSP response out of date")
            if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
                return False, single.next_update_utc
            if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                return True, single.next_update_utc
            raise RevocationUnavailable(f"{url}: OCSP status unknown")
        raise RevocationUnavailable(f"{url}: OCSP response is about another certificate")


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, UnsupportedAlgorithm):
        return False


def _verify_with(signer: x509.Certificate, signature: bytes, data: bytes,
                 algorithm: hashes.HashAlgorithm | None) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _ocsp_signed(answer: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime
                 ) -> bool:
    """Signed by the CA itself, or by a responder certificate the CA issued for
    id-kp-OCSPSigning (RFC 6960 §4.2.2.2), valid now."""
    signers = [issuer]
    for responder in answer.certificates:
        if not responder.not_valid_before_utc <= now <= responder.not_valid_after_utc:
            continue
        try:
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in eku and _issued_by(responder, issuer):
            signers.append(responder)
    return any(_verify_with(s, answer.signature, answer.tbs_response_bytes,
                            answer.signature_hash_algorithm) for s in signers)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# AIA caIssuers (optional)

class IssuerDownloads:
    """CA certificates from AIA caIssuers URLs (DER, PEM or a certs-only PKCS#7, RFC 5280
    §4.2.2.1), kept per process (a CA certificate changes once in years)."""

    def __init__(self, fetch: Callable[[str, float], bytes], *,
                 allowed_hosts: Collection[str] = (), resolve: Resolve = resolve_host,
                 budget: float = 5.0) -> None:
        self.fetch = fetch  # (url, seconds at most) -> body
        self.allowed_hosts = tuple(allowed_hosts)
        self.resolve = resolve
        self.budget = budget  # a caller that names no budget (tests)
        self._seen: OrderedDict[str, list[x509.Certificate]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, url: str, seconds: float | None = None) -> Sequence[x509.Certificate]:
        """The certificates at `url`; RevocationUnavailable when the URL is malformed, not
        http(s), its host refused (check_public_host) or the download fails."""
        with self._lock:
            if url in self._seen:
                return self._seen[url]
        _scheme, host = check_url(url, ("http", "https"))
        try:
            check_public_host(host, self.allowed_hosts, self.resolve)
        except RevocationUnavailable:
            log.warning("npki: AIA caIssuers URL refused: %r", url)
            raise
        data = self.fetch(url, self.budget if seconds is None else seconds)
        certs: list[x509.Certificate]
        try:
            certs = [load_certificate(data)]
        except ValueError:
            try:
                certs = list(pkcs7.load_der_pkcs7_certificates(data))
            except ValueError:
                certs = []
        with self._lock:
            self._seen[url] = certs
            while len(self._seen) > MEMO_ENTRIES:
                self._seen.popitem(last=False)
        return certs


# ---------------------------------------------------------------------------------------------
# Composition (called by idp/wiring.py)

def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def load_certificate_files(paths: Sequence[str], what: str) -> list[x509.Certificate]:
    """Certificates from files (DER, or PEM with one or more); RuntimeError naming the file
    when one is missing or unreadable: a configured trust anchor that cannot be read must
    stop the start, not silently disable certificate login."""
    certs: list[x509.Certificate] = []
    for raw in paths:
        path = _resolve(raw)
        try:
            data = path.read_bytes()
            if b"-----BEGIN" in data:
                certs.extend(x509.load_pem_x509_certificates(data))
            else:
                certs.append(x509.load_der_x509_certificate(data))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{what}: cannot read a certificate from {path}: {exc}") from exc
    return certs


def demo_dir(settings: dict[str, Any]) -> Path | None:
    """The demo PKI's folder ([npki] demo_pki), outside production only."""
    folder = settings["npki"]["demo_pki"]
    if not folder or settings.get("env", "production") == "production":
        return None
    return _resolve(folder)


def _demo_rewrite(settings: dict[str, Any]) -> Callable[[str], str]:
    """Development and tests only: the demo certificates name `make run`'s CRL address
    (npki_pki.DEMO_CRL_BASE); fetch it from the issuer the app runs at instead (the test
    suite's live servers run on other ports)."""
    from idp.npki_pki import DEMO_CRL_BASE

    def rewrite(url: str) -> str:
        if url.startswith(DEMO_CRL_BASE):
            return f"{settings['issuer']}/dev/npki/crl/{url[len(DEMO_CRL_BASE):]}"
        return url
    return rewrite


def build_certificate_verifier(settings: dict[str, Any], store: Store, clock: Clock
                               ) -> CertificateVerifier | None:
    """The NPKI verifier from [npki], or None (certificate login unavailable: the web seam
    answers 503 "unavailable") when no trust anchor is configured, with a warning at start.

    Production needs IDP_NPKI_TRUST_ANCHORS (KISA RootCA 1 and 4, from rootca.or.kr).
    Development and testing fall back to the demo PKI of [npki] demo_pki (written when
    missing), whose CRL the app serves at /dev/npki/crl/.
    """
    section = settings["npki"]
    env = settings.get("env", "production")
    anchors_paths = list(section["trust_anchors"])
    intermediate_paths = list(section["intermediates"])
    rewrite = None
    if section["demo_pki"] and env == "production":
        # Never trusted in production, whatever the settings say.
        log.warning("npki.demo_pki (IDP_NPKI_DEMO_PKI) is ignored in production")
    elif section["demo_pki"]:
        rewrite = _demo_rewrite(settings)
        if not anchors_paths:
            from idp.npki_pki import ensure_demo_pki

            root = ensure_demo_pki(_resolve(section["demo_pki"]))
            anchors_paths = [str(root)]
            # The browser sends signCert.der alone: the licensed CA comes from here.
            intermediate_paths.append(str(root.parent / "ca.der"))
    if not anchors_paths:
        log.warning("certificate login unavailable: no trust anchors configured "
                    "(IDP_NPKI_TRUST_ANCHORS, comma-separated PEM or DER files)")
        return None
    revocation = CrlOcspRevocation(
        store, clock, timeout=section["timeout"],
        crl_cache_seconds=section["crl_cache_seconds"], max_bytes=section["crl_max_bytes"],
        rewrite=rewrite, ocsp_max_age=section["ocsp_max_age"])
    fetch_issuers = None
    if section["aia_fetch"]:
        fetch_issuers = IssuerDownloads(
            lambda u, seconds: http_get(u, timeout=section["timeout"], max_bytes=1024 * 1024,
                                        budget=seconds),
            allowed_hosts=section["aia_hosts"], budget=section["aia_budget"])
    return NpkiVerifier(
        trust_anchors=load_certificate_files(anchors_paths, "npki.trust_anchors"),
        intermediates=load_certificate_files(intermediate_paths, "npki.intermediates"),
        allowed_policies=section["allowed_policies"], revocation=revocation, clock=clock,
        revocation_mode=section["revocation"], fetch_issuers=fetch_issuers,
        aia_budget=section["aia_budget"])


__all__ = ["CrlOcspRevocation", "IssuerDownloads", "build_certificate_verifier",
           "check_public_host", "check_url", "crl_urls", "demo_dir", "load_ldap3", "resolve_host",
           "http_get", "ldap_get", "load_certificate_files", "ocsp_urls"]
