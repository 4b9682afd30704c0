"""The tax office's status adapter (idp/adapters/nts.py) against a fake data.go.kr server
started here (a real socket, not the app's emulator): batching, every error, timeouts, the
cache."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from idp.adapters.nts import NtsBusinessRegistry
from idp.services.ports import BusinessRegistryUnavailable, BusinessStatus
from idp.stores import MemoryStore

# Handler: (path, query, raw body) -> (status, content type, body bytes).
Answer = tuple[int, str, bytes]


def entry(b_no: str, code: str = "01", end_dt: str = "") -> dict[str, str]:
    names = {"01": "계속사업자", "02": "휴업자", "03": "폐업자", "": ""}
    tax = "부가가치세 일반과세자" if code else "국세청에 등록되지 않은 사업자등록번호입니다."
    return {"b_no": b_no, "b_stt": names.get(code, "?"), "b_stt_cd": code, "tax_type": tax,
            "tax_type_cd": "01" if code else "", "end_dt": end_dt, "utcc_yn": "N",
            "tax_type_change_dt": "", "invoice_apply_dt": "", "rbf_tax_type": "해당없음",
            "rbf_tax_type_cd": "99"}


def ok(items: list[dict[str, str]]) -> Answer:
    body = {"request_cnt": len(items), "match_cnt": sum(1 for i in items if i["b_stt_cd"]),
            "status_code": "OK", "data": items}
    return 200, "application/json", json.dumps(body, ensure_ascii=False).encode()


class FakeNts:
    """A data.go.kr look-alike: records each call; `answer` decides the reply."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, list[str]], Any]] = []
        self.answer: Callable[[list[str]], Answer] = self.all_active
        self.delay = 0.0

    @staticmethod
    def all_active(numbers: list[str]) -> Answer:
        return ok([entry(n) for n in numbers])

    def handle(self, path: str, query: str, raw: bytes) -> Answer:
        body = json.loads(raw)
        self.calls.append((path, parse_qs(query), body))
        if self.delay:
            time.sleep(self.delay)
        return self.answer(body["b_no"])


@pytest.fixture()
def fake() -> Iterator[tuple[FakeNts, str]]:
    state = FakeNts()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, ctype, body = state.handle(url.path, url.query, raw)
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def registry(url: str, **kw: Any) -> NtsBusinessRegistry:
    kw.setdefault("service_key", "test-key")
    kw.setdefault("timeout", 2.0)
    return NtsBusinessRegistry(base_url=url, **kw)


def test_states_are_read_from_b_stt_cd_and_the_unregistered_sentence(fake):
    state, url = fake
    state.answer = lambda ns: ok([entry("1248100998"), entry("2208162517", "02"),
                                  entry("1018600025", "03", "20240630"),
                                  entry("1018600030", "")])
    got = registry(url).status(["124-81-00998", "2208162517", "1018600025", "1018600030"])
    assert got == {
        "1248100998": BusinessStatus("1248100998", "active", tax_type="부가가치세 일반과세자"),
        "2208162517": BusinessStatus("2208162517", "suspended", tax_type="부가가치세 일반과세자"),
        "1018600025": BusinessStatus("1018600025", "closed", tax_type="부가가치세 일반과세자",
                                     closed_on=__import__("datetime").date(2024, 6, 30)),
        "1018600030": BusinessStatus("1018600030", "unregistered"),
    }
    path, query, body = state.calls[0]
    assert path == "/api/nts-businessman/v1/status"
    assert query == {"serviceKey": ["test-key"]}
    assert body == {"b_no": ["1248100998", "2208162517", "1018600025", "1018600030"]}


def test_more_than_100_numbers_go_in_batches_of_100_each_asked_once(fake):
    state, url = fake
    numbers = [f"{i:010d}" for i in range(250)]
    got = registry(url).status(numbers + numbers[:10])  # duplicates asked once
    assert sorted(got) == numbers and all(s.state == "active" for s in got.values())
    assert [len(body["b_no"]) for _, _, body in state.calls] == [100, 100, 50]
    assert [n for _, _, body in state.calls for n in body["b_no"]] == numbers


def test_the_encoding_form_of_the_key_is_sent_decoded_once(fake):
    state, url = fake
    registry(url, service_key="ab%2Bcd%3D%3D").status(["1248100998"])
    assert state.calls[0][1] == {"serviceKey": ["ab+cd=="]}


def _json_answer(status: int, body: Any) -> Callable[[list[str]], Answer]:
    return lambda ns: (status, "application/json", json.dumps(body, ensure_ascii=False).encode())


@pytest.mark.parametrize("answer", [
    _json_answer(400, {"status_code": "BAD_JSON_REQUEST"}),
    _json_answer(411, {"status_code": "REQUEST_DATA_MALFORMED"}),
    _json_answer(413, {"status_code": "TOO_LARGE_REQUEST"}),
    _json_answer(500, {"status_code": "INTERNAL_ERROR"}),
    _json_answer(200, {"status_code": "INTERNAL_ERROR"}),
    _json_answer(401, {"code": -4, "msg": "등록되지 않은 인증키 입니다."}),
    _json_answer(200, {"code": -4, "msg": "등록되지 않은 인증키입니다."}),
    _json_answer(200, {"status_code": "OK", "data": [entry("1248100998", "09")]}),
    _json_answer(200, {"status_code": "OK", "data": [entry("1248100998")]}),  # one missing
    _json_answer(200, {"status_code": "OK"}),
    _json_answer(200, ["not", "an", "object"]),
    lambda ns: (200, "text/html", b"<html>maintenance</html>"),
    lambda ns: (502, "text/html", b"<html>Bad Gateway</html>"),
    lambda ns: (503, "application/json", b'{"status_code": "OK", "data": []}'),
    lambda ns: (302, "text/html", b""),
], ids=["bad_json", "malformed", "too_large", "internal_error", "internal_error_200",
        "bad_key_401", "bad_key_200", "unknown_code", "number_missing", "no_data",
        "not_object", "html", "bad_gateway", "503", "redirect"])
def test_every_error_answer_is_unavailable_never_unregistered(fake, answer):
    state, url = fake
    state.answer = answer
    with pytest.raises(BusinessRegistryUnavailable):
        registry(url).status(["1248100998", "2208162517"])


def test_a_slow_answer_times_out_as_unavailable(fake):
    state, url = fake
    state.delay = 1.0
    started = time.monotonic()
    with pytest.raises(BusinessRegistryUnavailable) as caught:
        registry(url, timeout=0.2).status(["1248100998"])
    assert time.monotonic() - started < 0.9
    assert "Timeout" in str(caught.value)


def test_a_refused_connection_is_unavailable_and_the_key_is_not_in_the_message():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(BusinessRegistryUnavailable) as caught:
        registry(f"http://127.0.0.1:{port}", service_key="secret+key/1").status(["1248100998"])
    assert "secret" not in str(caught.value) and "ConnectionError" in str(caught.value)


def test_without_a_key_nothing_is_asked():
    with pytest.raises(BusinessRegistryUnavailable) as caught:
        registry("http://127.0.0.1:9", service_key="").status(["1248100998"])
    assert "IDP_NTS_SERVICE_KEY" in str(caught.value)


def test_a_failing_second_batch_fails_the_whole_look_up(fake):
    state, url = fake
    answers = iter([FakeNts.all_active, _json_answer(500, {"status_code": "INTERNAL_ERROR"})])
    state.answer = lambda ns: next(answers)(ns)
    with pytest.raises(BusinessRegistryUnavailable):
        registry(url).status([f"{i:010d}" for i in range(150)])


def test_a_number_that_is_not_ten_digits_is_the_callers_mistake():
    with pytest.raises(ValueError):
        registry("http://127.0.0.1:9").status(["12345"])


class StepClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


def test_definitive_answers_are_cached_errors_are_not(fake):
    state, url = fake
    clock = StepClock()
    reg = registry(url, cache_seconds=60, store=MemoryStore(clock))
    state.answer = lambda ns: ok([entry(n, "03" if n == "1018600025" else "", "20240630")
                                  for n in ns])
    first = reg.status(["1018600025", "1018600030"])
    assert reg.status(["1018600025", "1018600030"]) == first  # from the cache
    assert len(state.calls) == 1
    assert first["1018600025"].closed_on is not None  # the date survives the cache
    # Only the number not cached yet is asked.
    reg.status(["1018600025", "1248100998"])
    assert state.calls[-1][2] == {"b_no": ["1248100998"]}
    # An error is not remembered: the next look-up asks again.
    state.answer = _json_answer(500, {"status_code": "INTERNAL_ERROR"})
    with pytest.raises(BusinessRegistryUnavailable):
        reg.status(["2208162517"])
    state.answer = FakeNts.all_active
    assert reg.status(["2208162517"])["2208162517"].state == "active"
    # After cache_seconds the tax office is asked again.
    calls = len(state.calls)
    clock.t += 61
    reg.status(["1018600025"])
    assert len(state.calls) == calls + 1


def test_without_cache_seconds_every_look_up_asks(fake):
    state, url = fake
    reg = registry(url, cache_seconds=0, store=MemoryStore())
    reg.status(["1248100998"])
    reg.status(["1248100998"])
    assert len(state.calls) == 2
