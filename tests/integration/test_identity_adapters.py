"""The real identity-verification adapters against fake vendors that implement the vendor side
of each protocol byte for byte (written here from the vendors' descriptions, not from the
adapters' helpers): KG이니시스 통합인증 (authHash, authRequestUrl hosts, server-to-server
result, SEED-encrypted fields) and NICE 통합형 (client-credentials token, crypto token,
key/iv/HMAC derivation, AES-128-CBC enc_data + integrity_value). Tampering, foreign hosts,
replays, vendor 5xx and timeouts."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from requests.adapters import BaseAdapter

from idp.adapters.identity_inicis import InicisIdentityVerifier
from idp.adapters.identity_nice import NiceIdentityVerifier
from idp.services.ports import VendorUnavailable, VerificationFailed

CI = "Q" * 86 + "=="
NICE_DI = "MC0GCCqGSIb3DQIJAyEA" + "d" * 44


class FakeTransport(BaseAdapter):
    """requests' transport to an in-test vendor: handler(method, url, headers, body) →
    (status, json). `fail` makes it raise (a timeout) instead."""

    def __init__(self, handler: Callable[..., tuple[int, Any]]) -> None:
        super().__init__()
        self.handler = handler
        self.fail: Exception | None = None
        self.timeouts: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.timeouts.append(kwargs.get("timeout"))
        if self.fail is not None:
            raise self.fail
        body = request.body or b""
        status, payload = self.handler(request.method, request.url, dict(request.headers),
                                       body if isinstance(body, bytes) else body.encode())
        resp = requests.Response()
        resp.status_code = status
        resp._content = json.dumps(payload).encode() if not isinstance(payload, bytes) \
            else payload
        resp.headers["Content-Type"] = "application/json"
        resp.url = request.url or ""
        resp.request = request
        return resp

    def close(self) -> None:
        pass


def session_for(transport: FakeTransport, *prefixes: str) -> requests.Session:
    s = requests.Session()
    for prefix in prefixes:
        s.mount(prefix, transport)
    return s


# --- KG이니시스 통합인증 -------------------------------------------------------------------

MID, API_KEY = "INIiasTest", "TGdxb2l3enJDWFRTbTgvREU3MGYwUT09"


class FakeInicis:
    """sa.inicis.com/auth (the browser side) and kssa.inicis.com (the result lookup)."""

    def __init__(self, *, seed: bool = False) -> None:
        self.transactions: dict[str, dict[str, Any]] = {}
        self.seed = seed
        self.status = 200

    def auth(self, form: dict[str, str], person: dict[str, str]) -> dict[str, str]:
        """What the vendor posts back to successUrl after the person approved in the app."""
        expected = hashlib.sha256((form["mid"] + form["mTxId"] + API_KEY).encode()).hexdigest()
        if form["authHash"] != expected:
            return {"resultCode": "2001", "resultMsg": "authHash"}
        tx_id = "SA2024" + form["mid"] + secrets.token_hex(6)
        token = base64.b64encode(secrets.token_bytes(16)).decode()
        self.transactions[tx_id] = {"person": person, "token": token}
        return {"resultCode": "0000", "resultMsg": "성공", "txId": tx_id, "token": token,
                "authRequestUrl": "https://kssa.inicis.com/api/v1/result"}

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, Any]:
        if self.status != 200:
            return self.status, {"error": "down"}
        req = json.loads(body)
        tx = self.transactions.get(req.get("txId"))
        if req.get("mid") != MID or tx is None:
            return 200, {"resultCode": "9999", "resultMsg": "no such transaction"}
        p = dict(tx["person"])
        if self.seed:
            key = base64.b64decode(tx["token"])
            for k, v in p.items():
                padder = padding.PKCS7(128).padder()
                data = padder.update(v.encode()) + padder.finalize()
                enc = Cipher(SEED(key), modes.CBC(b"SASHOSTSIRIAS000")).encryptor()
                p[k] = base64.b64encode(enc.update(data) + enc.finalize()).decode()
        return 200, {"resultCode": "0000", "resultMsg": "성공", "txId": req["txId"], **p}


PERSON = {"userName": "홍길동", "userPhone": "01012345678", "userBirthday": "19850301",
          "userCi": CI}


def _inicis(fake: FakeInicis, seen: set[str] | None = None, **kw: Any
            ) -> tuple[InicisIdentityVerifier, FakeTransport]:
    transport = FakeTransport(fake.handle)
    seen_set = seen if seen is not None else set()

    def seen_once(key: str) -> bool:
        if key in seen_set:
            return False
        seen_set.add(key)
        return True

    v = InicisIdentityVerifier(
        mid=MID, api_key=API_KEY, di_key=b"k" * 32, seen_once=seen_once, timeout=3,
        session=session_for(transport, "https://kssa.inicis.com", "https://fcsa.inicis.com",
                            "https://evil.example", "http://kssa.inicis.com"), **kw)
    return v, transport


def _inicis_round(v: InicisIdentityVerifier, fake: FakeInicis, **person: str
                  ) -> tuple[dict[str, Any], dict[str, str]]:
    start = v.begin("rid1", "simple", "https://idp.example/verify/callback/rid1")
    assert start.url == "https://sa.inicis.com/auth" and start.http_method == "POST"
    assert start.fields["successUrl"] == "https://idp.example/verify/callback/rid1"
    return dict(start.state), fake.auth(dict(start.fields), {**PERSON, **person})


def test_inicis_round_trip_gives_the_person_with_a_derived_di() -> None:
    fake = FakeInicis()
    v, transport = _inicis(fake)
    state, back = _inicis_round(v, fake)
    identity = v.finish("rid1", "simple", state, back)
    assert (identity.name, identity.birthdate, identity.mobile, identity.ci) == (
        "홍길동", dt.date(1985, 3, 1), "01012345678", CI)
    assert identity.gender is None and identity.vendor == "inicis"
    assert identity.method == "simple" and not identity.corporate
    # DI: derived from the CI, stable for one person, ≤ 100 characters.
    again = FakeInicis()
    v2, _ = _inicis(again)
    state2, back2 = _inicis_round(v2, again)
    assert v2.finish("rid1", "simple", state2, back2).di == identity.di
    assert identity.di.startswith("INI") and len(identity.di) <= 100
    assert transport.timeouts == [3]


def test_inicis_seed_encrypted_fields_are_decrypted_with_the_token() -> None:
    fake = FakeInicis(seed=True)
    v, _ = _inicis(fake, seed_encrypted=True)
    state, back = _inicis_round(v, fake)
    identity = v.finish("rid1", "simple", state, back)
    assert (identity.name, identity.ci) == ("홍길동", CI)


def test_inicis_seed_with_a_wrong_token_is_invalid() -> None:
    fake = FakeInicis(seed=True)
    v, _ = _inicis(fake, seed_encrypted=True)
    state, back = _inicis_round(v, fake)
    back["token"] = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid1", "simple", state, back)
    assert exc.value.reason == "invalid"


def test_inicis_wrong_api_key_is_refused_by_the_vendor() -> None:
    fake = FakeInicis()
    v, _ = _inicis(fake)
    v.api_key = "wrong"
    state, back = _inicis_round(v, fake)
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid1", "simple", state, back)
    assert exc.value.reason == "failed"


@pytest.mark.parametrize("url", [
    "https://evil.example/api/v1/result",
    "http://kssa.inicis.com/api/v1/result",  # not https
    "https://kssa.inicis.com.evil.example/api",  # a prefix is not the host
    "https://user@evil.example/@kssa.inicis.com",
    "https://kssa.inicis.com@evil.example/",
    "javascript:alert(1)",
    "",
])
def test_inicis_result_is_never_fetched_from_another_host(url: str) -> None:
    fake = FakeInicis()
    v, transport = _inicis(fake)
    state, back = _inicis_round(v, fake)
    back["authRequestUrl"] = url
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid1", "simple", state, back)
    assert exc.value.reason == "invalid"
    assert transport.timeouts == []  # no request left this server


def test_inicis_the_second_result_host_is_allowed() -> None:
    fake = FakeInicis()
    v, _ = _inicis(fake)
    state, back = _inicis_round(v, fake)
    back["authRequestUrl"] = "https://fcsa.inicis.com/api/v1/result"
    assert v.finish("rid1", "simple", state, back).name == "홍길동"


def test_inicis_a_replayed_txid_is_refused() -> None:
    fake = FakeInicis()
    seen: set[str] = set()
    v, _ = _inicis(fake, seen)
    state, back = _inicis_round(v, fake)
    v.finish("rid1", "simple", state, back)
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid2", "simple", state, back)
    assert exc.value.reason == "invalid"


def test_inicis_another_merchants_txid_is_refused() -> None:
    fake = FakeInicis()
    v, _ = _inicis(fake)
    state, back = _inicis_round(v, fake)
    back["txId"] = "SA2024OTHERMID00" + "ab"
    with pytest.raises(VerificationFailed):
        v.finish("rid1", "simple", state, back)


def test_inicis_failure_codes_are_failures() -> None:
    v, _ = _inicis(FakeInicis())
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid1", "simple", {"mTxId": "x"}, {"resultCode": "1111"})
    assert exc.value.reason == "failed"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_inicis_vendor_5xx_is_unavailable(status: int) -> None:
    fake = FakeInicis()
    v, _ = _inicis(fake)
    state, back = _inicis_round(v, fake)
    fake.status = status
    with pytest.raises(VendorUnavailable):
        v.finish("rid1", "simple", state, back)


def test_inicis_vendor_timeout_is_unavailable() -> None:
    fake = FakeInicis()
    v, transport = _inicis(fake)
    state, back = _inicis_round(v, fake)
    transport.fail = requests.Timeout("read timed out")
    with pytest.raises(VendorUnavailable):
        v.finish("rid1", "simple", state, back)


def test_inicis_unconfigured_is_unavailable() -> None:
    v = InicisIdentityVerifier(mid="", api_key="", di_key=b"k")
    with pytest.raises(VendorUnavailable):
        v.begin("rid", "simple", "https://idp.example/cb")


# --- NICE 통합형 --------------------------------------------------------------------------

CLIENT_ID, CLIENT_SECRET, PRODUCT_ID = "c-1d2e", "s3cr3t", "2101979031"
BASE = "https://svc.niceapi.example:22001"


def _nice_keys(req_dtim: str, req_no: str, token_val: str) -> tuple[bytes, bytes, bytes]:
    # NICE's guide: key = first 16, iv = last 16, hmac key = first 32 characters of the
    # Base64 SHA-256 of req_dtim + req_no + token_val.
    value = base64.b64encode(hashlib.sha256(
        (req_dtim + req_no + token_val).encode()).digest()).decode()
    return value[:16].encode(), value[-16:].encode(), value[:32].encode()


class FakeNice:
    """The NICE API (token, crypto token) and the window (service.cb)."""

    def __init__(self) -> None:
        self.access_token = secrets.token_hex(16)
        self.versions: dict[str, tuple[bytes, bytes, bytes]] = {}
        self.status = 200
        self.token_calls = 0

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, Any]:
        if self.status != 200:
            return self.status, {}
        path = urlsplit(url).path
        if path == "/digital/niceid/oauth/oauth/token":
            self.token_calls += 1
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            form = parse_qs(body.decode())
            if headers.get("Authorization") != f"Basic {basic}" or form != {
                    "grant_type": ["client_credentials"], "scope": ["default"]}:
                return 401, {"dataHeader": {"GW_RSLT_CD": "1800"}}
            return 200, {"dataHeader": {"GW_RSLT_CD": "1200", "GW_RSLT_MSG": "오류 없음"},
                         "dataBody": {"access_token": self.access_token,
                                      "expires_in": 1577836799, "token_type": "bearer",
                                      "scope": "default"}}
        if path == "/digital/niceid/api/v1.0/common/crypto/token":
            auth = headers.get("Authorization", "")
            assert auth.startswith("bearer ")
            access, _ts, client = base64.b64decode(auth[7:]).decode().split(":")
            if access != self.access_token or client != CLIENT_ID:
                return 401, {"dataHeader": {"GW_RSLT_CD": "1800"}}
            assert headers.get("ProductID") == PRODUCT_ID
            req = json.loads(body)["dataBody"]
            assert len(req["req_dtim"]) == 14 and req["enc_mode"] == "1"
            assert len(req["req_no"]) <= 30
            token_val, version = secrets.token_urlsafe(24), secrets.token_hex(10)
            self.versions[version] = _nice_keys(req["req_dtim"], req["req_no"], token_val)
            return 200, {"dataHeader": {"GW_RSLT_CD": "1200", "GW_RSLT_MSG": "오류 없음"},
                         "dataBody": {"rsp_cd": "P000", "result_cd": "0000",
                                      "site_code": "BA123", "token_version_id": version,
                                      "token_val": token_val, "period": 3600}}
        return 404, {}

    def window(self, fields: dict[str, str], person: dict[str, str]) -> dict[str, str]:
        """The browser at service.cb: check the request, show the popup, post back."""
        key, iv, hmac_key = self.versions[fields["token_version_id"]]
        mac = base64.b64encode(hmac.new(hmac_key, fields["enc_data"].encode(),
                                        hashlib.sha256).digest()).decode()
        assert fields["integrity_value"] == mac, "the request's integrity value"
        dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = dec.update(base64.b64decode(fields["enc_data"])) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        request = json.loads(unpadder.update(padded) + unpadder.finalize())
        assert request["sitecode"] == "BA123" and request["authtype"] in ("M", "C")
        result = {"resultcode": "0000", "requestno": request["requestno"],
                  "enctime": "20261202100000", "sitecode": "BA123",
                  "responseno": "NICE" + secrets.token_hex(8), "authtype": request["authtype"],
                  "name": "홍길동", "utf8_name": "%ED%99%8D%EA%B8%B8%EB%8F%99",
                  "birthdate": "19850301", "gender": "1", "nationalinfo": "0",
                  "mobileco": "1", "mobileno": "01012345678", "ci": CI, "di": NICE_DI,
                  "businessno": "", "receivedata": "", **person}
        padder = padding.PKCS7(128).padder()
        plain = json.dumps(result, ensure_ascii=False).encode("euc-kr")
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        enc_data = base64.b64encode(enc.update(padder.update(plain) + padder.finalize())
                                    + enc.finalize()).decode()
        integrity = base64.b64encode(hmac.new(hmac_key, enc_data.encode(),
                                              hashlib.sha256).digest()).decode()
        return {"token_version_id": fields["token_version_id"], "enc_data": enc_data,
                "integrity_value": integrity}


def _nice(fake: FakeNice, seen: set[str] | None = None) -> tuple[NiceIdentityVerifier,
                                                                  FakeTransport]:
    transport = FakeTransport(fake.handle)
    seen_set = seen if seen is not None else set()

    def seen_once(key: str) -> bool:
        if key in seen_set:
            return False
        seen_set.add(key)
        return True

    v = NiceIdentityVerifier(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                             product_id=PRODUCT_ID, base_url=BASE, timeout=4,
                             seen_once=seen_once, session=session_for(transport, BASE))
    return v, transport


def _nice_round(v: NiceIdentityVerifier, fake: FakeNice, method: str = "mobile",
                **person: str) -> tuple[dict[str, Any], dict[str, str]]:
    start = v.begin("rid1", method, "https://idp.example/verify/callback/rid1")
    assert start.http_method == "POST" and start.fields["m"] == "service"
    assert start.url.endswith("/CheckPlusSafeModel/service.cb")
    return dict(start.state), fake.window(dict(start.fields), person)


@pytest.mark.parametrize("method", ["mobile", "card"])
def test_nice_round_trip_gives_the_person(method: str) -> None:
    fake = FakeNice()
    v, transport = _nice(fake)
    state, back = _nice_round(v, fake, method)
    identity = v.finish("rid1", method, state, back)
    assert (identity.name, identity.birthdate, identity.gender, identity.nationality) == (
        "홍길동", dt.date(1985, 3, 1), "M", "domestic")
    assert (identity.mobile, identity.carrier, identity.ci, identity.di) == (
        "01012345678", "SKT", CI, NICE_DI)
    assert identity.vendor == "nice" and identity.method == method
    assert not identity.corporate
    assert set(transport.timeouts) == {4}


def test_nice_access_token_is_fetched_once() -> None:
    fake = FakeNice()
    v, _ = _nice(fake)
    _nice_round(v, fake)
    _nice_round(v, fake)
    assert fake.token_calls == 1


def test_nice_a_revoked_access_token_is_fetched_again_once() -> None:
    fake = FakeNice()
    v, _ = _nice(fake)
    _nice_round(v, fake)
    fake.access_token = "renewed"  # NICE revoked the old one: the crypto token answers 401
    _nice_round(v, fake)
    assert fake.token_calls == 2


@pytest.mark.parametrize(("result", "reason"), [
    ({"gender": "0", "nationalinfo": "1", "mobileco": "6"}, None),
    ({"businessno": "1208200275"}, "corporate"),
    ({"resultcode": "0001"}, "failed"),
    ({"birthdate": "1985-03-01"}, "invalid"),
    ({"ci": ""}, "invalid"),
])
def test_nice_result_fields(result: dict[str, str], reason: str | None) -> None:
    fake = FakeNice()
    v, _ = _nice(fake)
    state, back = _nice_round(v, fake, **result)
    if reason is None:
        identity = v.finish("rid1", "mobile", state, back)
        assert (identity.gender, identity.nationality, identity.carrier) == (
            "F", "foreign", "MVNO")
    elif reason == "corporate":
        assert v.finish("rid1", "mobile", state, back).corporate
    else:
        with pytest.raises(VerificationFailed) as exc:
            v.finish("rid1", "mobile", state, back)
        assert exc.value.reason == reason


def _flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[5] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("tamper", ["enc_data", "integrity_value", "token_version_id",
                                    "other_request"])
def test_nice_tampered_or_foreign_answers_are_invalid(tamper: str) -> None:
    fake = FakeNice()
    v, _ = _nice(fake)
    state, back = _nice_round(v, fake)
    if tamper == "other_request":
        _other_state, back = _nice_round(v, fake)  # a genuine answer to another request
    elif tamper == "token_version_id":
        back["token_version_id"] = "0" * 20
    else:
        back[tamper] = _flip(back[tamper])
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid1", "mobile", state, back)
    assert exc.value.reason == "invalid"


def test_nice_a_replayed_answer_is_refused() -> None:
    fake = FakeNice()
    v, _ = _nice(fake)
    state, back = _nice_round(v, fake)
    v.finish("rid1", "mobile", state, back)
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid1", "mobile", state, back)
    assert exc.value.reason == "invalid"


def test_nice_no_answer_is_a_cancel() -> None:
    fake = FakeNice()
    v, _ = _nice(fake)
    state, _back = _nice_round(v, fake)
    with pytest.raises(VerificationFailed) as exc:
        v.finish("rid1", "mobile", state, {})
    assert exc.value.reason == "cancelled"


@pytest.mark.parametrize("status", [500, 503])
def test_nice_vendor_5xx_is_unavailable(status: int) -> None:
    fake = FakeNice()
    fake.status = status
    v, _ = _nice(fake)
    with pytest.raises(VendorUnavailable):
        v.begin("rid1", "mobile", "https://idp.example/cb")


def test_nice_vendor_timeout_is_unavailable() -> None:
    fake = FakeNice()
    v, transport = _nice(fake)
    transport.fail = requests.ConnectTimeout("connect timed out")
    with pytest.raises(VendorUnavailable):
        v.begin("rid1", "mobile", "https://idp.example/cb")


def test_nice_refused_crypto_token_is_unavailable() -> None:
    fake = FakeNice()
    v, _ = _nice(fake)
    v.client_secret = "wrong"
    with pytest.raises(VendorUnavailable):
        v.begin("rid1", "mobile", "https://idp.example/cb")
