"""Emulator of the tax office's business-status API for development and tests (issue 7).

Mounted at /dev/nts by create_app in development and testing only (404 in production, whose
wiring also refuses `nts.adapter = "emulator"`). It answers
POST /dev/nts/api/nts-businessman/v1/status?serviceKey=KEY in the vendor's own shapes
(idp/adapters/nts.py has them), errors included, so that the real adapter runs against it
unchanged:

- every well-formed number is 01 계속사업자, except the demo numbers below (휴업, 폐업,
  unregistered) and numbers whose check digit is wrong (unregistered, as the tax office has
  never issued them);
- a body that is not JSON → 400 BAD_JSON_REQUEST; no `b_no` list → 411 REQUEST_DATA_MALFORMED;
  more than 100 numbers → 413 TOO_LARGE_REQUEST; a key other than the emulator's →
  {"code": -4, "msg": "등록되지 않은 인증키 입니다."}.

Switches that tests (or a developer, with `set_mode` / `set_status`) flip, kept in the store so
that every worker sees them: mode "internal_error" (500 INTERNAL_ERROR), "down" (503 from the
gateway, not JSON), "slow" (waits `delay` seconds: the adapter's timeout fires); and a state
for any number ("active", "suspended", "closed", "unregistered").
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, request

from idp.adapters.nts import EMULATOR_SERVICE_KEY, STATUS_PATH
from idp.oidc.server import provider
from idp.services.business_numbers import is_business_number
from idp.stores import Store

bp = Blueprint("nts_emulator", __name__, url_prefix="/dev/nts")

SWITCH_TTL = 30 * 24 * 3600

# The demo numbers (valid check digits, made up; docs/companies-registries.md lists them).
DEMO_SUSPENDED = {"1018600011": "휴업 데모 (주)쉼표상사"}
DEMO_CLOSED = {"1018600025": ("폐업 데모 (주)마침표무역", "20240630")}
DEMO_UNREGISTERED = {"1018600030": "국세청 미등록 데모"}

_STATES = {"active": ("계속사업자", "01"), "suspended": ("휴업자", "02"),
           "closed": ("폐업자", "03")}
UNREGISTERED_TEXT = "국세청에 등록되지 않은 사업자등록번호입니다."


def set_mode(store: Store, mode: str | None, delay: float = 0.0) -> None:
    """Flip the emulator into a fault mode (None: normal)."""
    if mode is None:
        store.delete("nts-emu:mode")
    else:
        store.put("nts-emu:mode", {"mode": mode, "delay": delay}, SWITCH_TTL)


def set_status(store: Store, business_number: str, state: str | None,
               end_dt: str = "") -> None:
    """Make the emulator answer `state` for one number (None: back to the built-in data)."""
    if state is None:
        store.delete(f"nts-emu:number:{business_number}")
    else:
        store.put(f"nts-emu:number:{business_number}", {"state": state, "end_dt": end_dt},
                  SWITCH_TTL)


def state_of(store: Store, number: str) -> tuple[str, str]:
    """(state, end_dt) the emulator answers for a number."""
    switched = store.get(f"nts-emu:number:{number}")
    if switched:
        return str(switched["state"]), str(switched.get("end_dt") or "")
    if number in DEMO_SUSPENDED:
        return "suspended", ""
    if number in DEMO_CLOSED:
        return "closed", DEMO_CLOSED[number][1]
    if number in DEMO_UNREGISTERED or not is_business_number(number):
        return "unregistered", ""
    return "active", ""


def _entry(b_no: str, state: str, end_dt: str) -> dict[str, str]:
    blank = {"b_no": b_no, "b_stt": "", "b_stt_cd": "", "tax_type": "", "tax_type_cd": "",
             "end_dt": "", "utcc_yn": "", "tax_type_change_dt": "", "invoice_apply_dt": "",
             "rbf_tax_type": "", "rbf_tax_type_cd": ""}
    if state not in _STATES:
        return {**blank, "tax_type": UNREGISTERED_TEXT}
    name, code = _STATES[state]
    return {**blank, "b_stt": name, "b_stt_cd": code, "tax_type": "부가가치세 일반과세자",
            "tax_type_cd": "01", "end_dt": end_dt if state == "closed" else "",
            "utcc_yn": "N", "rbf_tax_type": "해당없음", "rbf_tax_type_cd": "99"}


def _json(data: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status,
                    mimetype="application/json")


@bp.post(STATUS_PATH)
def status() -> Response:
    """사업자등록 상태조회, as data.go.kr answers it."""
    store = provider().store
    switch = store.get("nts-emu:mode") or {}
    mode = switch.get("mode")
    if mode == "down":
        return Response("<html><body>503 Service Unavailable</body></html>", 503,
                        mimetype="text/html")
    if mode == "slow":
        time.sleep(min(float(switch.get("delay", 0.0)), 30.0))  # the adapter's timeout fires
    key = request.args.get("serviceKey")
    if not key:
        return _json({"code": -401, "msg": "유효하지 않은 인증키 입니다."}, 401)
    if key != EMULATOR_SERVICE_KEY:
        return _json({"code": -4, "msg": "등록되지 않은 인증키 입니다."}, 401)
    if mode == "internal_error":
        return _json({"status_code": "INTERNAL_ERROR"}, 500)
    try:
        body = json.loads(request.get_data(as_text=True) or "")
    except ValueError:
        return _json({"status_code": "BAD_JSON_REQUEST"}, 400)
    numbers = body.get("b_no") if isinstance(body, dict) else None
    if not isinstance(numbers, list) or not numbers or \
            not all(isinstance(n, str) for n in numbers):
        return _json({"status_code": "REQUEST_DATA_MALFORMED"}, 411)
    if len(numbers) > 100:
        return _json({"status_code": "TOO_LARGE_REQUEST"}, 413)
    data = []
    for b_no in numbers:
        state, end_dt = state_of(store, b_no.replace("-", ""))
        data.append(_entry(b_no, state, end_dt))
    matched = sum(1 for d in data if d["b_stt_cd"])
    return _json({"request_cnt": len(numbers), "match_cnt": matched, "status_code": "OK",
                  "data": data}, 200)
