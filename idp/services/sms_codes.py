"""One-time SMS codes (인증번호): 6 digits to a mobile number, typed back within 3 minutes.

Used by 아이디 찾기 (find ID by mobile) and, later, SNS 찾기 — each passes its `purpose`:

    codes = SmsCodes.for_provider(provider)
    sent = codes.send(purpose="find_id", phone="01012345678", browser=browser_id, ip=ip,
                      label="아이디 찾기")                     # SmsCodeRefused(reason, retry_after)
    codes.verify(purpose="find_id", phone="01012345678", browser=browser_id, code="123456")
                                                              # SmsCodeRefused("wrong", ...)

Rules (settings in [sms_codes]):

- the code comes from `secrets` and is kept only as a salted SHA-256 in the `Store`, under a
  key made of the purpose, the browser (or flow) id and the phone number: it can be typed only
  in the browser it was asked from, for that number, for that purpose;
- it lives `ttl` seconds (3 minutes), measured on the Clock (tests move a FakeClock); single use;
- a new code for the same purpose, browser and number replaces the old one, but not before
  `resend_cooldown` seconds; a number gets at most `per_phone_per_hour` codes an hour (every
  purpose and browser together) and an IP address `per_ip_per_hour`: nobody floods a phone;
- each guess is counted (an atomic increment) before it is compared, so at most `max_wrong`
  guesses are ever compared per code; the `max_wrong`-th wrong guess ends the code and locks
  the number for this purpose for `lock_seconds`.

Pure service: no Flask. The Store and the Notifier come from the provider.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from idp.services.notify import Notifier
from idp.services.ports import Clock, MessageNotSent
from idp.services.throttle import ip_bucket
from idp.stores import Store

HOUR = 3600


@dataclass(frozen=True)
class SmsCodeSettings:
    ttl: int = 180
    resend_cooldown: int = 30
    per_phone_per_hour: int = 5
    per_ip_per_hour: int = 30
    max_wrong: int = 5
    lock_seconds: int = 600


class SmsCodeRefused(Exception):
    """reason: cooldown | phone_limit | ip_limit | locked | unavailable (sending);
    expired | wrong | too_many (verifying). `retry_after` seconds when waiting helps;
    `remaining` wrong guesses left after a wrong one."""

    def __init__(self, reason: str, *, retry_after: int = 0, remaining: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.remaining = remaining


@dataclass(frozen=True)
class SentCode:
    expires_at: float
    resend_at: float
    ttl: int


def _h(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _digits(phone: str) -> str:
    """"010-1234-5678" and "01012345678" are one number."""
    return "".join(c for c in phone if c.isdigit())


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


class SmsCodes:
    def __init__(self, store: Store, clock: Clock, notify: Notifier,
                 settings: SmsCodeSettings | None = None) -> None:
        self._store = store
        self._clock = clock
        self._notify = notify
        self.settings = settings or SmsCodeSettings()

    @classmethod
    def for_provider(cls, p: Any) -> SmsCodes:
        """Built from the provider's store, clock, notifier and [sms_codes] settings (cheap:
        build one per request, so a test's FakeClock is always the one used)."""
        return cls(p.store, p.clock, p.notify, SmsCodeSettings(**p.settings["sms_codes"]))

    # --- keys ---------------------------------------------------------------------------

    @staticmethod
    def _code_key(purpose: str, browser: str, phone: str) -> str:
        return f"smscode:{purpose}:{_h(browser, phone)}"

    @staticmethod
    def _lock_key(purpose: str, phone: str) -> str:
        return f"smscode-lock:{purpose}:{_h(phone)}"

    def _hour(self) -> int:
        return int(self._clock.now() // HOUR)

    # --- sending ------------------------------------------------------------------------

    def locked_until(self, purpose: str, phone: str) -> float | None:
        lock = self._store.get(self._lock_key(purpose, phone))
        if lock and float(lock["until"]) > self._clock.now():
            return float(lock["until"])
        return None

    def send(self, *, purpose: str, phone: str, browser: str, ip: str, label: str = "") -> \
            SentCode:
        """Send a new code to `phone` (digits) for this browser; raise SmsCodeRefused."""
        if not browser:
            raise ValueError("a code is bound to a browser (or flow) id")
        phone = _digits(phone)
        s, now = self.settings, self._clock.now()
        until = self.locked_until(purpose, phone)
        if until is not None:
            raise SmsCodeRefused("locked", retry_after=int(until - now) + 1)
        key = self._code_key(purpose, browser, phone)
        # The cooldown is the number's, whichever browser asks.
        cooldown_key = f"smscode-sent:{purpose}:{_h(phone)}"
        last = self._store.get(cooldown_key)
        if last and float(last["at"]) + s.resend_cooldown > now:
            raise SmsCodeRefused("cooldown", retry_after=int(
                float(last["at"]) + s.resend_cooldown - now) + 1)
        hour = self._hour()
        retry = HOUR - int(now % HOUR)
        # Counted before sending, whatever happens next: refusals cost the sender too.
        if self._store.incr(f"smscode-ip:{_h(ip_bucket(ip))}:{hour}", HOUR * 2) > \
                s.per_ip_per_hour:
            raise SmsCodeRefused("ip_limit", retry_after=retry)
        if self._store.incr(f"smscode-phone:{_h(phone)}:{hour}", HOUR * 2) > \
                s.per_phone_per_hour:
            raise SmsCodeRefused("phone_limit", retry_after=retry)
        code, salt = new_code(), secrets.token_hex(8)
        record = {"digest": _digest(salt, code), "salt": salt, "nonce": secrets.token_hex(8),
                  "sent_at": now, "expires_at": now + s.ttl}
        self._store.put(key, record, s.ttl + s.resend_cooldown + 60)
        self._store.put(cooldown_key, {"at": now}, s.resend_cooldown + 60)
        minutes = max(1, s.ttl // 60)
        what = f" {label}" if label else ""
        try:
            self._notify.sms(to=phone, text=f"[KOTRA]{what} 인증번호는 [{code}]입니다. "
                                            f"{minutes}분 이내에 입력해 주세요.")
        except MessageNotSent:
            self._store.delete(key)
            self._store.delete(cooldown_key)
            raise SmsCodeRefused("unavailable") from None
        return SentCode(expires_at=now + s.ttl, resend_at=now + s.resend_cooldown, ttl=s.ttl)

    # --- verifying ----------------------------------------------------------------------

    def verify(self, *, purpose: str, phone: str, browser: str, code: str) -> None:
        """Accept `code` once, or raise SmsCodeRefused (expired, wrong, too_many, locked)."""
        phone = _digits(phone)
        s, now = self.settings, self._clock.now()
        until = self.locked_until(purpose, phone)
        if until is not None:
            raise SmsCodeRefused("locked", retry_after=int(until - now) + 1)
        key = self._code_key(purpose, browser or "", phone)
        record = self._store.get(key) if browser else None
        if record is None or float(record["expires_at"]) <= now:
            raise SmsCodeRefused("expired")
        # Count the guess before comparing: however many arrive at once, at most max_wrong
        # are ever compared for this code.
        guesses_key = f"smscode-guesses:{record['nonce']}"
        guess = self._store.incr(guesses_key, s.ttl + 60)
        if guess > s.max_wrong:
            raise SmsCodeRefused("too_many", retry_after=s.lock_seconds)
        typed = "".join(c for c in code if c.isdigit())[:6]
        if len(typed) == 6 and hmac.compare_digest(_digest(record["salt"], typed),
                                                   record["digest"]):
            # Single use: of two right guesses at once, one wins.
            if not self._store.add(f"smscode-used:{record['nonce']}", {"at": now}, s.ttl + 60):
                raise SmsCodeRefused("expired")
            self._store.delete(key)
            return
        if guess == s.max_wrong:
            self._store.delete(key)
            self._store.put(self._lock_key(purpose, phone), {"until": now + s.lock_seconds},
                            s.lock_seconds + 60)
            raise SmsCodeRefused("too_many", retry_after=s.lock_seconds)
        raise SmsCodeRefused("wrong", remaining=s.max_wrong - guess)

    def discard(self, *, purpose: str, phone: str, browser: str) -> None:
        """Forget this browser's code (the user cancelled)."""
        self._store.delete(self._code_key(purpose, browser, _digits(phone)))
