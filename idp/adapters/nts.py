"""The tax office's business-status API (국세청 사업자등록정보 상태조회; issue 7, KOREA-FACTS).

Vendor: 공공데이터포털 (data.go.kr) dataset 15081808, 국세청_사업자등록정보 진위확인 및 상태조회
서비스, served by odcloud:

    POST {base_url}/api/nts-businessman/v1/status?serviceKey=KEY
    Content-Type: application/json
    {"b_no": ["1248100998", ...]}                                (at most 100 numbers)

    200 {"status_code": "OK", "request_cnt": 2, "match_cnt": 1, "data": [
          {"b_no": "1248100998", "b_stt": "계속사업자", "b_stt_cd": "01",
           "tax_type": "부가가치세 일반과세자", "tax_type_cd": "01", "end_dt": "",
           "utcc_yn": "N", "tax_type_change_dt": "", "invoice_apply_dt": "",
           "rbf_tax_type": "해당없음", "rbf_tax_type_cd": "99"},
          {"b_no": "1234567891", "b_stt": "", "b_stt_cd": "",
           "tax_type": "국세청에 등록되지 않은 사업자등록번호입니다.", ...}]}

b_stt_cd is 01 계속사업자, 02 휴업자, 03 폐업자 (end_dt: 폐업일 YYYYMMDD); an unregistered number
has an empty b_stt_cd and that sentence in tax_type. Errors: {"status_code": "BAD_JSON_REQUEST"}
(400), "REQUEST_DATA_MALFORMED" (411), "TOO_LARGE_REQUEST" (413), "INTERNAL_ERROR" (500); the
odcloud gateway answers a key it does not know with {"code": -4, "msg": "등록되지 않은 인증키
입니다."}.

Every error, an answer we cannot read, a timeout or a refused connection raises
BusinessRegistryUnavailable ("잠시 후 다시 시도해 주세요"): an outage is never "not registered".
Definitive answers are cached in the provider's store for `nts.cache_seconds`.

The emulator (`nts.adapter = "emulator"`, development and testing only) is this same adapter
pointed at idp/web/nts_emulator.py under the provider's own issuer, reached in-process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from idp.config import env_variable
from idp.services.ports import (
    BusinessRegistry,
    BusinessRegistryUnavailable,
    BusinessStatus,
    Clock,
)
from idp.stores import Store

if TYPE_CHECKING:
    import requests
    from requests.adapters import BaseAdapter

log = logging.getLogger(__name__)

STATUS_PATH = "/api/nts-businessman/v1/status"
BATCH_SIZE = 100  # the API's limit per call (TOO_LARGE_REQUEST beyond)
STATES = {"01": "active", "02": "suspended", "03": "closed"}
UNREGISTERED_TEXT = "국세청에 등록되지 않은 사업자등록번호입니다."
_DIGITS10 = re.compile(r"\d{10}")


def _batches(numbers: Sequence[str], size: int = BATCH_SIZE) -> Iterator[list[str]]:
    for start in range(0, len(numbers), size):
        yield list(numbers[start:start + size])


def parse_status(item: Any) -> BusinessStatus:
    """One entry of the answer's `data`; ValueError for anything we cannot read."""
    if not isinstance(item, dict):
        raise ValueError("data entry is not an object")
    number = str(item.get("b_no") or "").replace("-", "")
    if not _DIGITS10.fullmatch(number):
        raise ValueError(f"b_no {item.get('b_no')!r}")
    code = str(item.get("b_stt_cd") or "").strip()
    tax_type = str(item.get("tax_type") or "").strip() or None
    if code in STATES:
        closed_on = None
        end = str(item.get("end_dt") or "").strip()
        if code == "03" and end:
            try:
                closed_on = dt.datetime.strptime(end, "%Y%m%d").date()
            except ValueError:
                closed_on = None  # the state is what matters; a garbled date is not an outage
        return BusinessStatus(number, STATES[code], tax_type=tax_type, closed_on=closed_on)
    if not code and tax_type is not None and "등록되지 않은" in tax_type:
        return BusinessStatus(number, "unregistered")
    raise ValueError(f"b_stt_cd {code!r} with tax_type {tax_type!r}")


class NtsBusinessRegistry:
    """The real adapter (BusinessRegistry port) over data.go.kr's status API."""

    def __init__(self, *, base_url: str, service_key: str, timeout: float = 5.0,
                 cache_seconds: float = 0, store: Store | None = None,
                 transport: BaseAdapter | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # data.go.kr shows each key twice, "Encoding" (percent-encoded) and "Decoding": accept
        # either, and let requests encode it once.
        self.service_key = unquote(service_key) if "%" in service_key else service_key
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.store = store
        self.transport = transport
        self._cache_prefix = "nts:" + hashlib.sha256(self.base_url.encode()).hexdigest()[:12]

    @classmethod
    def from_settings(cls, settings: dict[str, Any], store: Store | None = None
                      ) -> NtsBusinessRegistry:
        section = settings["nts"]
        return cls(base_url=section["base_url"], service_key=section["service_key"],
                   timeout=float(section["timeout"]),
                   cache_seconds=float(section["cache_seconds"]), store=store)

    # --- the port -------------------------------------------------------------------------

    def status(self, business_numbers: list[str]) -> dict[str, BusinessStatus]:
        """Every number asked for (10 digits, dashes allowed) is in the answer, keyed as
        given without dashes; raises BusinessRegistryUnavailable when any batch fails."""
        wanted = list(dict.fromkeys(n.replace("-", "") for n in business_numbers))
        for n in wanted:
            if not _DIGITS10.fullmatch(n):
                raise ValueError(f"not a 10-digit business number: {n!r}")
        found: dict[str, BusinessStatus] = {}
        missing = []
        for n in wanted:
            cached = self._cached(n)
            if cached is None:
                missing.append(n)
            else:
                found[n] = cached
        for batch in _batches(missing):
            answered = self._ask(batch)
            for n in batch:
                self._remember(answered[n])
                found[n] = answered[n]
        return found

    # --- one call -------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        import requests  # on the first call, not with the module (issue 10, memory)

        s = requests.Session()
        if self.transport is not None:
            s.mount("http://", self.transport)
            s.mount("https://", self.transport)
        return s

    def _unavailable(self, problem: str) -> BusinessRegistryUnavailable:
        text = problem
        if self.service_key:  # never in a log or a message, raw or percent-encoded
            for form in {self.service_key, quote(self.service_key, safe=""),
                         quote(self.service_key)}:  # what requests.utils.quote gives
                text = text.replace(form, "***")
        log.warning("tax office status API unavailable: %s", text[:500])
        return BusinessRegistryUnavailable(text[:500])

    def _ask(self, batch: list[str]) -> dict[str, BusinessStatus]:
        import requests

        if not self.service_key:
            raise self._unavailable("nts.service_key (IDP_NTS_SERVICE_KEY) is not set")
        url = self.base_url + STATUS_PATH
        try:
            with self._session() as s:
                resp = s.post(url, params={"serviceKey": self.service_key},
                              json={"b_no": batch}, timeout=self.timeout,
                              allow_redirects=False,
                              headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise self._unavailable(f"{type(exc).__name__}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            raise self._unavailable(f"HTTP {resp.status_code}, not JSON: "
                                    f"{resp.text[:200]!r}") from None
        code = body.get("status_code") if isinstance(body, dict) else None
        if resp.status_code != 200 or code != "OK":
            detail = (body.get("status_code") or body.get("msg") or body.get("code")
                      if isinstance(body, dict) else None)
            raise self._unavailable(f"HTTP {resp.status_code}: {detail!r}")
        data = body.get("data")
        if not isinstance(data, list):
            raise self._unavailable("answer without a data list")
        answered: dict[str, BusinessStatus] = {}
        try:
            for item in data:
                parsed = parse_status(item)
                answered[parsed.business_number] = parsed
        except ValueError as exc:
            raise self._unavailable(f"unreadable data entry: {exc}") from None
        absent = [n for n in batch if n not in answered]
        if absent:
            raise self._unavailable(f"answer lacks {len(absent)} of the numbers asked")
        return answered

    # --- the short cache (definitive answers only) ----------------------------------------

    def _cached(self, number: str) -> BusinessStatus | None:
        if self.store is None or self.cache_seconds <= 0:
            return None
        data = self.store.get(f"{self._cache_prefix}:{number}")
        if not data:
            return None
        closed = data.get("closed_on")
        return BusinessStatus(number, str(data["state"]), tax_type=data.get("tax_type"),
                              closed_on=dt.date.fromisoformat(closed) if closed else None)

    def _remember(self, status: BusinessStatus) -> None:
        if self.store is None or self.cache_seconds <= 0:
            return
        self.store.put(f"{self._cache_prefix}:{status.business_number}",
                       {"state": status.state, "tax_type": status.tax_type,
                        "closed_on": status.closed_on.isoformat() if status.closed_on
                        else None}, self.cache_seconds)


# --- the emulator -------------------------------------------------------------------------

EMULATOR_PATH = "/dev/nts"
EMULATOR_SERVICE_KEY = "kotra-emulator-nts-service-key"


class NtsEmulatorRegistry(NtsBusinessRegistry):
    """The real adapter pointed at the loopback emulator (idp/web/nts_emulator.py) with the
    emulator's key; refused in production (wiring.refuse_emulators_in_production)."""

    emulator = True

    @classmethod
    def from_settings(cls, settings: dict[str, Any], store: Store | None = None
                      ) -> NtsBusinessRegistry:
        from idp.adapters.nts_loopback import LoopbackTransport

        issuer = str(settings["issuer"]).rstrip("/")
        section = settings["nts"]
        return cls(base_url=issuer + EMULATOR_PATH, service_key=EMULATOR_SERVICE_KEY,
                   timeout=float(section["timeout"]),
                   cache_seconds=float(section["cache_seconds"]), store=store,
                   transport=LoopbackTransport(issuer))


# The adapters `nts.adapter` may name (registered in idp/wiring.py ADAPTERS, which refuses the
# emulator in production).
NTS_ADAPTERS: dict[str, type[NtsBusinessRegistry]] = {"api": NtsBusinessRegistry,
                                                       "emulator": NtsEmulatorRegistry}


def build_business_registry(settings: dict[str, Any], store: Store, clock: Clock
                            ) -> BusinessRegistry | None:
    """The adapter that `nts.adapter` names ("api" or "emulator")."""
    name = settings["nts"]["adapter"]
    if name not in NTS_ADAPTERS:
        raise ValueError(f"nts.adapter ({env_variable('nts.adapter')}) = {name!r}: "
                         f"choose one of {', '.join(sorted(NTS_ADAPTERS))}")
    return NTS_ADAPTERS[name].from_settings(settings, store)
