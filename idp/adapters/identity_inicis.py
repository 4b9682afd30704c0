"""KG이니시스 통합인증 (간편인증: 카카오, 네이버, PASS, 토스, ...) as an IdentityVerifier.

The vendor protocol, as KG이니시스's sample and gnuboard/gnuboard5:plugin/inicert implement it
(KOREA-FACTS, "Identity verification"):

1. The browser POSTs to https://sa.inicis.com/auth: mid, reqSvcCd=01, mTxId (ours, unique),
   authHash = sha256(mid + mTxId + apiKey) hex, flgFixedUser=N, successUrl, failUrl.
2. The vendor posts the browser back to successUrl/failUrl with resultCode ("0000" = done),
   resultMsg, txId (the vendor's transaction; characters 6..16 are the mid), authRequestUrl
   and token.
3. The server POSTs JSON {mid, txId} to authRequestUrl — only after checking that its host is
   one of the vendor's result hosts (kssa/fcsa.inicis.com): the URL comes through the browser,
   and posting our mid to any host it names would let anyone feed us a made-up person — and
   gets resultCode, txId, userName, userPhone, userBirthday (YYYYMMDD), userCi.
   With `seed_encrypted` (a contract option) the four user fields are SEED-CBC encrypted,
   Base64, with the key Base64-decoded from `token` and the IV "SASHOSTSIRIAS000".

What the vendor does not give, and how we fill it in (documented in docs/identity.md):
- gender: None (the port allows it).
- nationality: not reported; "domestic" (the 간편인증 apps' certificates are issued to holders
  of a Korean mobile number; a foreigner shows as domestic until verified by phone or card).
- DI: not reported. We derive a site-specific one from the CI: "INI" + Base64(HMAC-SHA256(
  di_key, CI)), di_key derived from the personal-data master key — stable per person for
  this site, so duplicate sign-up checks work among INICIS verifications; across vendors the
  UNIQUE CI hash of member_identities still stops a second account.
- carrier: not reported (None). corporate: never (the apps are personal certificates).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from idp.services.personal_data import inicis_di, inicis_di_key, master_key
from idp.services.ports import (
    VendorStart,
    VendorUnavailable,
    VerificationFailed,
    VerifiedIdentity,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger("idp.identity.inicis")

SEED_IV = b"SASHOSTSIRIAS000"
DEFAULT_AUTH_URL = "https://sa.inicis.com/auth"
DEFAULT_RESULT_HOSTS = ("kssa.inicis.com", "fcsa.inicis.com")

# Remembers a vendor transaction id for a while; False when it was seen already (a replay).
SeenOnce = Callable[[str], bool]


def auth_hash(mid: str, m_tx_id: str, api_key: str) -> str:
    """authHash = sha256(mid + mTxId + apiKey), lower-case hex (KG이니시스 sample)."""
    return hashlib.sha256(f"{mid}{m_tx_id}{api_key}".encode()).hexdigest()


def seed_decrypt(value: str, token: str) -> str:
    """SEED-128-CBC with the key Base64-decoded from `token` and the fixed IV, PKCS#7."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import SEED
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    try:
        key = base64.b64decode(token)[:16]
        decryptor = Cipher(SEED(key), modes.CBC(SEED_IV)).decryptor()
        padded = decryptor.update(base64.b64decode(value)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationFailed("invalid", f"SEED decryption failed: {exc}") from None


class InicisIdentityVerifier:
    """KG이니시스 통합인증 for the method "simple" (간편인증)."""

    vendor = "inicis"

    def __init__(self, *, mid: str, api_key: str, di_key: bytes,
                 auth_url: str = DEFAULT_AUTH_URL,
                 result_hosts: tuple[str, ...] = DEFAULT_RESULT_HOSTS,
                 seed_encrypted: bool = False, timeout: float = 10.0,
                 seen_once: SeenOnce | None = None,
                 session: requests.Session | None = None) -> None:
        self.mid = mid
        self.api_key = api_key
        self.di_key = di_key
        self.auth_url = auth_url
        self.result_hosts = tuple(h.lower() for h in result_hosts)
        self.seed_encrypted = seed_encrypted
        self.timeout = timeout
        self.seen_once = seen_once
        self._http = session

    @property
    def http(self) -> requests.Session:
        """The HTTP session, made on first use (requests is not imported before: issue 10)."""
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http

    @property
    def configured(self) -> bool:
        """Whether the contract's credentials are set (else `begin` is unavailable)."""
        return bool(self.mid and self.api_key)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any],
                      seen_once: SeenOnce | None = None) -> InicisIdentityVerifier:
        s = settings.get("identity_inicis", {})
        # The DI key follows the personal-data master key (not secret_key alone), so that
        # rotating secret_key does not change the DIs of members verified by KG이니시스.
        master = master_key(str(settings.get("personal_data", {}).get("key", "")),
                            str(settings.get("secret_key", "")))
        return cls(mid=str(s.get("mid", "")), api_key=str(s.get("api_key", "")),
                   di_key=inicis_di_key(master),
                   auth_url=str(s.get("auth_url") or DEFAULT_AUTH_URL),
                   result_hosts=tuple(s.get("result_hosts") or DEFAULT_RESULT_HOSTS),
                   seed_encrypted=bool(s.get("seed_encrypted", False)),
                   timeout=float(s.get("timeout", 10)), seen_once=seen_once)

    # --- 1. the request ------------------------------------------------------------------

    def begin(self, request_id: str, method: str, callback_url: str) -> VendorStart:
        if not self.mid or not self.api_key:
            raise VendorUnavailable("identity_inicis.mid / api_key are not configured")
        # mTxId: ours, unique per request (the vendor limits it to 20 characters).
        m_tx_id = "K" + secrets.token_hex(9)
        fields = {
            "mid": self.mid, "reqSvcCd": "01", "mTxId": m_tx_id,
            "authHash": auth_hash(self.mid, m_tx_id, self.api_key),
            "flgFixedUser": "N", "successUrl": callback_url, "failUrl": callback_url,
        }
        return VendorStart(url=self.auth_url, http_method="POST", fields=fields,
                           state={"mTxId": m_tx_id})

    # --- 2./3. the answer ----------------------------------------------------------------

    def finish(self, request_id: str, method: str, state: Mapping[str, Any],
               params: Mapping[str, str]) -> VerifiedIdentity:
        code = params.get("resultCode", "")
        if code != "0000":
            # The vendor's codes for a user's cancel are not in the public samples: any
            # answer other than success is a failure (the page offers to try again).
            raise VerificationFailed("failed", f"resultCode {code!r}")
        tx_id = params.get("txId", "")
        if len(tx_id) < 16 or tx_id[6:16] != self.mid[:10]:
            raise VerificationFailed("invalid", "txId of another merchant")
        if params.get("mTxId") and params.get("mTxId") != state.get("mTxId"):
            raise VerificationFailed("invalid", "mTxId of another request")
        url = params.get("authRequestUrl", "")
        if not self._vendor_url(url):
            raise VerificationFailed("invalid", f"authRequestUrl not the vendor's: {url!r}")
        if self.seen_once is not None and not self.seen_once(f"inicis:{tx_id}"):
            raise VerificationFailed("invalid", "txId presented again")
        answer = self._lookup(url, tx_id)
        if answer.get("resultCode") != "0000":
            raise VerificationFailed("failed", f"result resultCode {answer.get('resultCode')!r}")
        if answer.get("txId") not in (None, tx_id):
            raise VerificationFailed("invalid", "result for another txId")
        fields = {k: str(answer.get(k) or "") for k in
                  ("userName", "userPhone", "userBirthday", "userCi")}
        if self.seed_encrypted:
            token = params.get("token", "")
            fields = {k: seed_decrypt(v, token) if v else "" for k, v in fields.items()}
        return self._identity(fields)

    def _vendor_url(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        return (parts.scheme == "https" and host in self.result_hosts
                and parts.username is None and parts.password is None)

    def _lookup(self, url: str, tx_id: str) -> dict[str, Any]:
        import requests

        try:
            resp = self.http.post(url, json={"mid": self.mid, "txId": tx_id},
                                  headers={"Accept": "application/json"},
                                  timeout=self.timeout)
        except requests.RequestException as exc:
            raise VendorUnavailable(f"KG이니시스 result lookup: {exc}") from None
        if resp.status_code >= 500:
            raise VendorUnavailable(f"KG이니시스 result lookup: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError:
            raise VerificationFailed("invalid", "result is not JSON") from None
        if resp.status_code != 200 or not isinstance(data, dict):
            raise VerificationFailed("failed", f"result HTTP {resp.status_code}")
        return data

    def _identity(self, f: Mapping[str, str]) -> VerifiedIdentity:
        phone = "".join(c for c in f["userPhone"] if c.isdigit())
        try:
            birthdate = dt.datetime.strptime(f["userBirthday"], "%Y%m%d").date()
        except ValueError:
            raise VerificationFailed("invalid", "userBirthday is not YYYYMMDD") from None
        if not f["userName"] or not f["userCi"] or not phone:
            raise VerificationFailed("invalid", "a user field is missing")
        di = inicis_di(self.di_key, f["userCi"])
        return VerifiedIdentity(
            name=f["userName"].strip(), birthdate=birthdate, gender=None,
            nationality="domestic", mobile=phone, carrier=None, ci=f["userCi"], di=di,
            method="simple", vendor=self.vendor,
        )
