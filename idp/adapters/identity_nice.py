"""NICE 통합형 본인확인 (휴대폰 and 신용카드, the standard window called through the API) as an
IdentityVerifier.

The vendor protocol, as NICE's guide and public client code (e.g. nice-auth-node) implement
it (KOREA-FACTS, "Identity verification"):

1. An access token by client credentials: POST {base}/digital/niceid/oauth/oauth/token,
   `Authorization: Basic base64(client_id:client_secret)`, form grant_type=client_credentials
   & scope=default → dataBody.access_token (long-lived: kept in this process).
2. A crypto token per request: POST {base}/digital/niceid/api/v1.0/common/crypto/token,
   `Authorization: bearer base64(access_token:unix time:client_id)`, `ProductID`, JSON
   {dataHeader: {CNTY_CD: ko}, dataBody: {req_dtim YYYYMMDDHHMMSS, req_no, enc_mode "1"}}
   → dataHeader.GW_RSLT_CD "1200", dataBody.rsp_cd "P000", site_code, token_version_id,
   token_val.
3. seed = Base64(SHA-256(req_dtim + req_no + token_val)); key = seed[:16], iv = seed[-16:],
   hmac key = seed[:32] (the characters, as bytes). The request JSON (requestno, returnurl,
   sitecode, authtype M = 휴대폰 / C = 신용카드, methodtype post, popupyn N) is AES-128-CBC
   (PKCS#7) encrypted → enc_data (Base64); integrity_value = Base64(HMAC-SHA256(hmac key,
   enc_data)). The browser POSTs m=service, token_version_id, enc_data, integrity_value to
   the window (https://nice.checkplus.co.kr/CheckPlusSafeModel/service.cb).
4. The window posts back token_version_id, enc_data, integrity_value. We check the token
   version and the HMAC (constant time) before decrypting with the request's key and iv; the
   result JSON (EUC-KR) carries resultcode, requestno, responseno, authtype, name (utf8_name
   URL-encoded UTF-8), birthdate, gender (1 male, 0 female), nationalinfo (0 내국인,
   1 외국인), mobileco, mobileno, ci, di and businessno (set for a corporate phone: 법인 명의).
   CheckPlus's upper-case names (NAME, BIRTHDATE, GENDER, NATIONALINFO, DI, CI, MOBILE_NO,
   MOBILE_CO, AUTH_TYPE, REQ_SEQ, BUSINESSNO) are read too.

The key material of a request (key, iv, hmac key) is kept in the server-side verification
state, never in the browser.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from idp.services.ports import (
    VendorStart,
    VendorUnavailable,
    VerificationFailed,
    VerifiedIdentity,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger("idp.identity.nice")

DEFAULT_BASE_URL = "https://svc.niceapi.co.kr:22001"
DEFAULT_WINDOW_URL = "https://nice.checkplus.co.kr/CheckPlusSafeModel/service.cb"
TOKEN_PATH = "/digital/niceid/oauth/oauth/token"
CRYPTO_TOKEN_PATH = "/digital/niceid/api/v1.0/common/crypto/token"
AUTH_TYPES = {"mobile": "M", "card": "C"}
# mobileco / MOBILE_CO: 1 SKT, 2 KT, 3 LG U+, 5/6/7 알뜰폰 on SKT/KT/LG U+ networks.
CARRIERS = {"1": "SKT", "2": "KT", "3": "LGU", "5": "MVNO", "6": "MVNO", "7": "MVNO"}
KST = dt.timezone(dt.timedelta(hours=9))

SeenOnce = Callable[[str], bool]


def derive_keys(req_dtim: str, req_no: str, token_val: str) -> tuple[bytes, bytes, bytes]:
    """(key, iv, hmac key) from the crypto token (NICE guide, 대칭키 생성)."""
    seed = base64.b64encode(hashlib.sha256(
        (req_dtim.strip() + req_no.strip() + token_val.strip()).encode()).digest()).decode()
    return seed[:16].encode(), seed[-16:].encode(), seed[:32].encode()


def encrypt(plain: bytes, key: bytes, iv: bytes) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def decrypt(enc_data: str, key: bytes, iv: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(base64.b64decode(enc_data, validate=True)) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def integrity(enc_data: str, hmac_key: bytes) -> str:
    return base64.b64encode(hmac.new(hmac_key, enc_data.encode(), hashlib.sha256)
                            .digest()).decode()


class NiceIdentityVerifier:
    """NICE 통합형 for the methods "mobile" (휴대폰) and "card" (신용카드)."""

    vendor = "nice"

    def __init__(self, *, client_id: str, client_secret: str, product_id: str,
                 base_url: str = DEFAULT_BASE_URL, window_url: str = DEFAULT_WINDOW_URL,
                 timeout: float = 10.0, seen_once: SeenOnce | None = None,
                 now: Callable[[], float] = time.time,
                 session: requests.Session | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.product_id = product_id
        self.base_url = base_url.rstrip("/")
        self.window_url = window_url
        self.timeout = timeout
        self.seen_once = seen_once
        self.now = now
        self._http = session
        self._access_token: str | None = None
        self._lock = threading.Lock()

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
        return bool(self.client_id and self.client_secret and self.product_id)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any],
                      seen_once: SeenOnce | None = None) -> NiceIdentityVerifier:
        s = settings.get("identity_nice", {})
        return cls(client_id=str(s.get("client_id", "")),
                   client_secret=str(s.get("client_secret", "")),
                   product_id=str(s.get("product_id", "")),
                   base_url=str(s.get("base_url") or DEFAULT_BASE_URL),
                   window_url=str(s.get("window_url") or DEFAULT_WINDOW_URL),
                   timeout=float(s.get("timeout", 10)), seen_once=seen_once)

    # --- 1.–3. the request ----------------------------------------------------------------

    def begin(self, request_id: str, method: str, callback_url: str) -> VendorStart:
        if method not in AUTH_TYPES:
            raise ValueError(f"NICE 통합형 does not do {method!r}")
        if not (self.client_id and self.client_secret and self.product_id):
            raise VendorUnavailable("identity_nice.client_id / client_secret / product_id "
                                    "are not configured")
        req_dtim = dt.datetime.fromtimestamp(self.now(), KST).strftime("%Y%m%d%H%M%S")
        req_no = secrets.token_hex(15)  # at most 30 characters
        body = self._crypto_token(req_dtim, req_no)
        key, iv, hmac_key = derive_keys(req_dtim, req_no, body["token_val"])
        requestno = "R" + secrets.token_hex(14)
        plain = json.dumps({
            "requestno": requestno, "returnurl": callback_url,
            "sitecode": body["site_code"], "authtype": AUTH_TYPES[method],
            "methodtype": "post", "popupyn": "N", "receivedata": "",
        }, separators=(",", ":")).encode()
        enc_data = encrypt(plain, key, iv)
        fields = {"m": "service", "token_version_id": body["token_version_id"],
                  "enc_data": enc_data, "integrity_value": integrity(enc_data, hmac_key)}
        state = {"requestno": requestno, "token_version_id": body["token_version_id"],
                 "key": key.decode(), "iv": iv.decode(), "hmac_key": hmac_key.decode(),
                 "authtype": AUTH_TYPES[method]}
        return VendorStart(url=self.window_url, http_method="POST", fields=fields,
                           state=state)

    def _access(self) -> str:
        with self._lock:
            if self._access_token:
                return self._access_token
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        data = self._post(TOKEN_PATH, headers={"Authorization": f"Basic {basic}"},
                          data={"grant_type": "client_credentials", "scope": "default"})
        token = (data.get("dataBody") or {}).get("access_token")
        if not token:
            raise VendorUnavailable("NICE access token: none in the answer")
        with self._lock:
            self._access_token = str(token)
        return str(token)

    def _crypto_token(self, req_dtim: str, req_no: str) -> dict[str, str]:
        for attempt in (1, 2):
            access = self._access()
            auth = base64.b64encode(
                f"{access}:{int(self.now())}:{self.client_id}".encode()).decode()
            data = self._post(CRYPTO_TOKEN_PATH, headers={
                "Authorization": f"bearer {auth}", "ProductID": self.product_id,
            }, json_body={"dataHeader": {"CNTY_CD": "ko"},
                          "dataBody": {"req_dtim": req_dtim, "req_no": req_no,
                                       "enc_mode": "1"}}, auth_retry=attempt == 1)
            if data:
                break
        header, body = data.get("dataHeader") or {}, data.get("dataBody") or {}
        if (header.get("GW_RSLT_CD") != "1200" or body.get("rsp_cd") != "P000"
                or body.get("result_cd", "0000") != "0000"):
            raise VendorUnavailable(f"NICE crypto token refused: {header.get('GW_RSLT_CD')} "
                                    f"{body.get('rsp_cd')} {body.get('result_cd')}")
        if not all(body.get(k) for k in ("token_val", "site_code", "token_version_id")):
            raise VendorUnavailable("NICE crypto token: fields missing")
        return {k: str(body[k]) for k in ("token_val", "site_code", "token_version_id")}

    def _post(self, path: str, *, headers: dict[str, str], data: dict[str, str] | None = None,
              json_body: dict[str, Any] | None = None, auth_retry: bool = False
              ) -> dict[str, Any]:
        import requests

        try:
            resp = self.http.post(self.base_url + path, headers=headers, data=data,
                                  json=json_body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise VendorUnavailable(f"NICE {path}: {exc}") from None
        if resp.status_code == 401 and auth_retry:
            with self._lock:
                self._access_token = None  # revoked or expired: ask again, once
            return {}
        if resp.status_code != 200:
            raise VendorUnavailable(f"NICE {path}: HTTP {resp.status_code}")
        try:
            answer = resp.json()
        except ValueError:
            raise VendorUnavailable(f"NICE {path}: not JSON") from None
        if not isinstance(answer, dict):
            raise VendorUnavailable(f"NICE {path}: not an object")
        return answer

    # --- 4. the answer --------------------------------------------------------------------

    def finish(self, request_id: str, method: str, state: Mapping[str, Any],
               params: Mapping[str, str]) -> VerifiedIdentity:
        enc_data = params.get("enc_data", "")
        if not enc_data:
            # The window sends the browser back without a result when the user closes it.
            raise VerificationFailed("cancelled", "no enc_data")
        if not state.get("key") or params.get("token_version_id") != state.get(
                "token_version_id"):
            raise VerificationFailed("invalid", "token_version_id of another request")
        expected = integrity(enc_data, str(state["hmac_key"]).encode())
        if not hmac.compare_digest(expected.encode(),
                                   params.get("integrity_value", "").encode()):
            raise VerificationFailed("invalid", "integrity_value does not match")
        try:
            raw = decrypt(enc_data, str(state["key"]).encode(), str(state["iv"]).encode())
        except ValueError:
            raise VerificationFailed("invalid", "enc_data does not decrypt") from None
        result = _parse(raw)
        if result.get("REQUESTNO", result.get("REQ_SEQ")) != state.get("requestno"):
            raise VerificationFailed("invalid", "result for another requestno")
        code = result.get("RESULTCODE", "0000")
        if code != "0000":
            raise VerificationFailed("failed", f"resultcode {code!r}")
        response_no = result.get("RESPONSENO", result.get("RES_SEQ", ""))
        if self.seen_once is not None and response_no and not self.seen_once(
                f"nice:{response_no}"):
            raise VerificationFailed("invalid", "responseno presented again")
        return self._identity(result, method)

    def _identity(self, r: Mapping[str, str], method: str) -> VerifiedIdentity:
        name = unquote(r["UTF8_NAME"]) if r.get("UTF8_NAME") else r.get("NAME", "")
        try:
            birthdate = dt.datetime.strptime(r.get("BIRTHDATE", ""), "%Y%m%d").date()
        except ValueError:
            raise VerificationFailed("invalid", "birthdate is not YYYYMMDD") from None
        ci, di = r.get("CI", ""), r.get("DI", "")
        if not name or not ci or not di:
            raise VerificationFailed("invalid", "name, CI or DI missing")
        gender = {"1": "M", "0": "F"}.get(r.get("GENDER", ""))
        mobile = "".join(c for c in r.get("MOBILENO", r.get("MOBILE_NO", "")) if c.isdigit())
        carrier = CARRIERS.get(r.get("MOBILECO", r.get("MOBILE_CO", "")))
        return VerifiedIdentity(
            name=name.strip(), birthdate=birthdate, gender=gender,
            nationality="foreign" if r.get("NATIONALINFO") == "1" else "domestic",
            mobile=mobile or None, carrier=carrier, ci=ci, di=di, method=method,
            vendor=self.vendor, corporate=bool(r.get("BUSINESSNO", "").strip()),
        )


def _parse(raw: bytes) -> dict[str, str]:
    """The decrypted result: JSON in EUC-KR (UTF-8 accepted), keys upper-cased and without
    underscores' variants (mobile_no and mobileno both become MOBILENO / MOBILE_NO kept)."""
    for charset in ("utf-8", "euc-kr"):
        try:
            text = raw.decode(charset)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise VerificationFailed("invalid", "result is neither UTF-8 nor EUC-KR")
    try:
        data = json.loads(text)
    except ValueError:
        raise VerificationFailed("invalid", "result is not JSON") from None
    if not isinstance(data, dict):
        raise VerificationFailed("invalid", "result is not an object")
    return {str(k).upper(): str(v) for k, v in data.items() if v is not None}
