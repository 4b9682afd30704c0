"""One-time SMS codes (idp/services/sms_codes.py): 6 digits, 3 minutes on the Clock, hashed in
the store, bound to the browser, the number and the purpose; resend cooldown, hourly caps per
number and per IP, and 5 wrong codes end the code and lock the number."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from idp.adapters.clock import FakeClock
from idp.services.notify import Notifier
from idp.services.ports import EmailMessage, MessageNotSent, SmsMessage
from idp.services.sms_codes import SmsCodeRefused, SmsCodes, SmsCodeSettings
from idp.stores import MemoryStore

PHONE = "01012345678"
BROWSER = "browser-a"
IP = "203.0.113.5"


class Phones:
    """A recording SmsSender/Mailer; `fail` makes the gateway refuse."""

    def __init__(self) -> None:
        self.sent: list[SmsMessage | EmailMessage] = []
        self.fail = False

    def send(self, message: Any) -> None:
        if self.fail:
            raise MessageNotSent("gateway down")
        self.sent.append(message)

    def last_code(self, to: str = PHONE) -> str:
        texts = [m.text for m in self.sent if m.to == to]
        match = re.search(r"\[(\d{6})\]", texts[-1])
        assert match, texts[-1]
        return match.group(1)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)  # on the hour: hourly windows start here


@pytest.fixture()
def phones() -> Phones:
    return Phones()


@pytest.fixture()
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock)


@pytest.fixture()
def codes(store: MemoryStore, clock: FakeClock, phones: Phones) -> SmsCodes:
    return SmsCodes(store, clock, Notifier(phones, phones), SmsCodeSettings())


def send(codes: SmsCodes, phone: str = PHONE, browser: str = BROWSER, ip: str = IP,
         purpose: str = "find_id") -> Any:
    return codes.send(purpose=purpose, phone=phone, browser=browser, ip=ip, label="아이디 찾기")


def verify(codes: SmsCodes, code: str, phone: str = PHONE, browser: str = BROWSER,
           purpose: str = "find_id") -> None:
    codes.verify(purpose=purpose, phone=phone, browser=browser, code=code)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_six_digit_code_goes_to_the_number_and_is_accepted_once(codes, phones, store):
    sent = send(codes)
    assert sent.ttl == 180
    assert phones.sent[0].to == PHONE
    assert "아이디 찾기" in phones.sent[0].text and "3분" in phones.sent[0].text
    code = phones.last_code()
    assert re.fullmatch(r"\d{6}", code)
    # stored hashed: the code itself is nowhere in the store
    assert code not in repr(store._values)
    verify(codes, code)
    with pytest.raises(SmsCodeRefused) as again:
        verify(codes, code)
    assert again.value.reason == "expired"


def test_codes_are_random(codes, phones, clock):
    seen = set()
    for i in range(5):
        send(codes, phone=f"0101234{i:04d}")
        seen.add(phones.last_code(f"0101234{i:04d}"))
    assert len(seen) >= 4


def test_the_code_expires_after_three_minutes_on_the_clock(codes, phones, clock):
    send(codes)
    code = phones.last_code()
    clock.advance(179)
    verify(codes, code)  # still in time
    clock.advance(31)
    send(codes)
    clock.advance(180)
    with pytest.raises(SmsCodeRefused) as exc:
        verify(codes, phones.last_code())
    assert exc.value.reason == "expired"


def test_another_browser_number_or_purpose_cannot_use_the_code(codes, phones):
    send(codes)
    code = phones.last_code()
    for kwargs in ({"browser": "browser-b"}, {"phone": "01099998888"},
                   {"purpose": "sns_find"}, {"browser": ""}):
        with pytest.raises(SmsCodeRefused) as exc:
            verify(codes, code, **kwargs)
        assert exc.value.reason == "expired", kwargs
    verify(codes, code, phone="010-1234-5678")  # the same number, written with hyphens


def test_five_wrong_codes_end_the_code_and_lock_the_number(codes, phones, clock):
    send(codes)
    code = phones.last_code()
    for remaining in (4, 3, 2, 1):
        with pytest.raises(SmsCodeRefused) as exc:
            verify(codes, wrong(code))
        assert (exc.value.reason, exc.value.remaining) == ("wrong", remaining)
    with pytest.raises(SmsCodeRefused) as fifth:
        verify(codes, wrong(code))
    assert fifth.value.reason == "too_many" and fifth.value.retry_after == 600
    # the right code is dead now, and no new one can be sent while the number is locked
    with pytest.raises(SmsCodeRefused) as dead:
        verify(codes, code)
    assert dead.value.reason == "locked"
    with pytest.raises(SmsCodeRefused) as locked:
        send(codes, browser="browser-b")
    assert locked.value.reason == "locked"
    # another purpose is not locked; the lock ends after lock_seconds
    send(codes, purpose="sns_find")
    clock.advance(601)
    send(codes)
    verify(codes, phones.last_code())


def test_garbage_input_counts_as_a_wrong_code(codes, phones):
    send(codes)
    for typed in ("", "abc", "12345", "1234567", "１２３４５６"):
        with pytest.raises(SmsCodeRefused) as exc:
            verify(codes, typed)
        assert exc.value.reason in ("wrong", "too_many")


def test_guesses_racing_compare_at_most_five(codes, phones):
    send(codes)
    code = phones.last_code()
    results: list[str] = []
    barrier = threading.Barrier(12)

    def guess() -> None:
        barrier.wait()
        try:
            verify(codes, wrong(code))
        except SmsCodeRefused as exc:
            results.append(exc.reason)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # four wrong answers, then the fifth ended the code: the others were never compared
    assert results.count("wrong") == 4 and len(results) == 12
    assert set(results) - {"wrong"} <= {"too_many", "locked", "expired"}


def test_resend_waits_for_the_cooldown_and_replaces_the_code(codes, phones, clock):
    send(codes)
    first = phones.last_code()
    clock.advance(10)
    with pytest.raises(SmsCodeRefused) as exc:
        send(codes)
    assert exc.value.reason == "cooldown" and exc.value.retry_after == 21
    with pytest.raises(SmsCodeRefused):
        send(codes, browser="browser-b")  # the number's cooldown, whoever asks
    clock.advance(21)
    send(codes)
    second = phones.last_code()
    if second != first:
        with pytest.raises(SmsCodeRefused):
            verify(codes, first)
    verify(codes, second)


def test_a_number_gets_at_most_five_codes_an_hour(codes, phones, clock):
    for i in range(5):
        send(codes, browser=f"b{i}", ip=f"198.51.100.{i}")
        clock.advance(31)
    with pytest.raises(SmsCodeRefused) as exc:
        send(codes, browser="b9", ip="198.51.100.9")
    assert exc.value.reason == "phone_limit" and exc.value.retry_after > 0
    assert len(phones.sent) == 5
    send(codes, phone="01011112222")  # another number is fine
    clock.advance(3600)
    send(codes, browser="b10")


def test_an_ip_gets_at_most_its_hourly_codes(store, clock, phones):
    codes = SmsCodes(store, clock, Notifier(phones, phones), SmsCodeSettings(per_ip_per_hour=3))
    for i in range(3):
        send(codes, phone=f"0102000000{i}")
    with pytest.raises(SmsCodeRefused) as exc:
        send(codes, phone="01020000009")
    assert exc.value.reason == "ip_limit"
    send(codes, phone="01020000009", ip="198.51.100.77")
    # an IPv6 address counts by its /64
    for i in range(3):
        send(codes, phone=f"0103000000{i}", ip=f"2001:db8::{i + 1}")
    with pytest.raises(SmsCodeRefused):
        send(codes, phone="01030000009", ip="2001:db8::ffff")


def test_a_gateway_failure_leaves_no_code_and_no_cooldown(codes, phones):
    phones.fail = True
    with pytest.raises(SmsCodeRefused) as exc:
        send(codes)
    assert exc.value.reason == "unavailable"
    phones.fail = False
    send(codes)  # at once: the failed attempt set no cooldown
    verify(codes, phones.last_code())


def test_for_provider_reads_the_settings(app):
    p = app.extensions["idp"]
    codes = SmsCodes.for_provider(p)
    assert codes.settings == SmsCodeSettings(**p.settings["sms_codes"])
    assert codes.settings.ttl == 180 and codes.settings.max_wrong == 5
