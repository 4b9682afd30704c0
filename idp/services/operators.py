"""Operators of the console (KOTRA staff, SPEC §1): accounts, sign-in with password and TOTP,
and their own server-side sessions (issue 7).

An operator is created by `idp operators add` (never on a page). Signing in takes two steps:

1. `check_password`: the ID and the password (argon2id). Unknown IDs, disabled operators
   and wrong passwords are one failure, with the same work (one hash) and the same answer.
2. `check_totp`: a 6-digit TOTP code (RFC 6238 §4: HMAC-SHA1, 30-second steps, 6 digits),
   accepted in the current step or one step either side (RFC 6238 §5.2 allows one step of
   clock drift). A code is accepted once: the step it belongs to must be later than
   `operators.totp_last_step`, and the row is moved on by a conditional UPDATE, so a replayed
   code — even two copies sent at once — fails (RFC 6238 §5.2, "the verifier MUST NOT accept
   the second attempt of the same OTP after the successful validation").

Both steps count against the operator account and the client IP with the provider's
throttle, under rules of their own (config [operators]): password and TOTP failures add up,
so knowing the password gives no fresh budget of code guesses. Only a complete sign-in
forgives the account's failures.

The session (`OperatorSessions`) is the console's own: a random handle in its own cookie,
whose SHA-256 keys a record in the provider's Store; it ends after `idle_minutes` without a
request and after `max_hours` in any case. A member's SSO session gives no access.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, cast

import pyotp
from sqlalchemy import Table, or_, select, update

from idp.errors import AlreadyExists, IdpError, InvalidCredentials, InvalidInput, LoginThrottled
from idp.models import Operator
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.personal_data import PersonalData, PersonalDataError
from idp.services.ports import Clock
from idp.services.throttle import Throttle, ThrottleRule, ip_bucket
from idp.stores import Store

# The issuer shown by authenticator apps (Key Uri Format: "issuer" parameter and label prefix).
TOTP_ISSUER = "KOTRA IDP"
TOTP_DIGITS = 6
TOTP_PERIOD = 30  # seconds (RFC 6238 §5.2: the recommended time step)
TOTP_WINDOW = 1  # steps accepted either side of the current one
# The sealed secret's kind (bound into the AES-GCM ciphertext as associated data).
TOTP_SEAL_KIND = "operator_totp"

# The throttle's rule names (idp/services/throttle.py), one per key kind.
ACCOUNT = "operator_account"
IP = "operator_ip"

_operators = cast(Table, Operator.__table__)


class OperatorNotFound(IdpError):
    """No operator has that login ID (the CLI's answer; pages never say so)."""


def throttle_rules(settings: dict[str, Any]) -> dict[str, ThrottleRule]:
    """The console's throttle rules (config [operators]): a growing delay and then a lock per
    operator account; a lock per client IP (IPv6 by its /64)."""
    s = settings["operators"]
    return {
        ACCOUNT: ThrottleRule(delay_after=s["account_delay_after"], delay_base=1,
                              delay_max=s["account_delay_max"],
                              lock_after=s["account_lock_after"], lock_seconds=s["lock_seconds"],
                              window_seconds=s["window_seconds"]),
        IP: ThrottleRule(delay_after=s["ip_lock_after"], delay_base=0, delay_max=0,
                         lock_after=s["ip_lock_after"], lock_seconds=s["lock_seconds"],
                         window_seconds=s["window_seconds"]),
    }


def operator_throttle(settings: dict[str, Any], store: Store, clock: Clock) -> Throttle:
    """A throttle over the provider's store and clock with the console's rules."""
    return Throttle(store, throttle_rules(settings), clock)


# --- accounts (the CLI) -------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """A new operator's TOTP enrolment: the secret and its otpauth:// URI (shown once)."""

    login_id: str
    name: str
    secret: str
    otpauth_uri: str


def otpauth_uri(secret: str, login_id: str) -> str:
    """`otpauth://totp/KOTRA%20IDP:<id>?secret=...&issuer=KOTRA%20IDP` (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=login_id, issuer_name=TOTP_ISSUER)


def _new_secret(personal_data: PersonalData) -> tuple[str, str]:
    """A fresh 160-bit secret (RFC 4226 §4 R6 recommends 160 bits), clear and sealed."""
    secret = pyotp.random_base32()  # 32 base32 characters: 160 bits
    return secret, personal_data.seal(secret, TOTP_SEAL_KIND)


def add_operator(session: DbSession, passwords: Passwords, policy: PasswordPolicy,
                 personal_data: PersonalData, *, login_id: str, name: str,
                 password: str) -> Enrolment:
    """Create an operator with a password (the members' policy) and a TOTP secret; the
    caller commits. Raises InvalidInput or AlreadyExists("login_id")."""
    normalised = policy.check_login_id(login_id)
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "required, at most 100 characters")
    policy.check_password(password, login_id=normalised, name=name)
    if session.scalar(select(Operator.id).where(Operator.login_id == normalised)) is not None:
        raise AlreadyExists("login_id")
    secret, sealed = _new_secret(personal_data)
    operator = Operator(login_id=normalised, name=name, password_hash=passwords.hash(password),
                        totp_sealed=sealed, totp_last_step=None, status="active")
    session.add(operator)
    session.flush()
    audit.record(session, "operator.added", operator_id=operator.id, login_id=normalised)
    return Enrolment(normalised, name, secret, otpauth_uri(secret, normalised))


def find_operator(session: DbSession, login_id: str) -> Operator:
    operator = session.scalar(select(Operator).where(
        Operator.login_id == login_id.strip().lower()))
    if operator is None:
        raise OperatorNotFound(login_id)
    return operator


def list_operators(session: DbSession) -> list[Operator]:
    return list(session.scalars(select(Operator).order_by(Operator.login_id)))


def disable_operator(session: DbSession, sessions: OperatorSessions, *,
                     login_id: str) -> Operator:
    """Disable an operator: no further sign-in, and the open sessions end. Caller commits."""
    operator = find_operator(session, login_id)
    operator.status = "disabled"
    sessions.end_all(operator.id)
    audit.record(session, "operator.disabled", operator_id=operator.id,
                 login_id=operator.login_id)
    return operator


def reset_totp(session: DbSession, personal_data: PersonalData, sessions: OperatorSessions,
               *, login_id: str) -> Enrolment:
    """A new TOTP secret (a lost phone): the old one stops working at once. Caller commits."""
    operator = find_operator(session, login_id)
    secret, sealed = _new_secret(personal_data)
    operator.totp_sealed = sealed
    operator.totp_last_step = None
    sessions.end_all(operator.id)
    audit.record(session, "operator.totp_reset", operator_id=operator.id,
                 login_id=operator.login_id)
    return Enrolment(operator.login_id, operator.name, secret,
                     otpauth_uri(secret, operator.login_id))


def unlock_operator(session: DbSession, settings: dict[str, Any], store: Store, clock: Clock,
                    *, login_id: str) -> Operator:
    """Forget the account's sign-in failures and lift its lock. Caller commits."""
    operator = find_operator(session, login_id)
    operator_throttle(settings, store, clock).reset(**{ACCOUNT: operator.login_id})
    audit.record(session, "operator.unlocked", operator_id=operator.id,
                 login_id=operator.login_id)
    return operator


# --- sign-in --------------------------------------------------------------------------------


_LOOKUP = select(_operators.c.id, _operators.c.password_hash, _operators.c.status)


def check_password(session: DbSession, passwords: Passwords, throttle: Throttle, *,
                   login_id: str, password: str, ip: str) -> int:
    """Step 1: the operator's id when the ID and password match an active operator.

    Raises LoginThrottled before any hash when the account or the IP must wait, and
    InvalidCredentials for an unknown ID, a disabled operator and a wrong password alike
    (one hash each: the same work). The attempt is counted and committed before the hash
    (idp/services/throttle.py). A match gives its attempt back but forgives nothing: the
    account's failures are forgiven only when the TOTP code is right too.
    """
    key = login_id.strip().lower()[:40]
    try:
        attempt = throttle.reserve(**{ACCOUNT: key, IP: ip_bucket(ip)})
    except LoginThrottled as exc:
        audit.record(session, "operator.login_throttled", ip=ip, login_id=key,
                     retry_after=exc.retry_after, locked=exc.locked, step="password")
        session.commit()
        raise
    session.commit()
    row = session.connection().execute(
        _LOOKUP.where(_operators.c.login_id == key)).first() if key else None
    ok = passwords.verify(row.password_hash if row else None, password)
    if not ok or row is None or row.status != "active":
        locked = throttle.failed(attempt)
        audit.record(session, "operator.login_failed", ip=ip,
                     login_id=key if row else None, operator_id=row.id if row else None,
                     reason="password" if row else "unknown_id", step="password",
                     locked=locked or None)
        session.commit()
        raise InvalidCredentials()
    throttle.succeeded(attempt, forgive=())
    session.commit()
    return int(row.id)


def _codes(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).generate_otp(step)


def check_totp(session: DbSession, personal_data: PersonalData, throttle: Throttle,
               clock: Clock, *, operator_id: int, code: str, ip: str) -> Operator:
    """Step 2: the operator, when `code` is the TOTP of a step within ±1 of now that is
    later than the last accepted one. Raises LoginThrottled or InvalidCredentials (a wrong,
    stale or replayed code alike). Commits."""
    operator = session.get(Operator, operator_id)
    key = operator.login_id if operator else f"#{operator_id}"
    try:
        attempt = throttle.reserve(**{ACCOUNT: key, IP: ip_bucket(ip)})
    except LoginThrottled as exc:
        audit.record(session, "operator.login_throttled", ip=ip, login_id=key,
                     retry_after=exc.retry_after, locked=exc.locked, step="totp")
        session.commit()
        raise
    session.commit()
    accepted, reason = None, "totp"
    secret = None
    if operator is not None and operator.status == "active":
        try:
            secret = personal_data.open(operator.totp_sealed, TOTP_SEAL_KIND)
        except PersonalDataError:  # sealed under another key: `idp operators reset-totp`
            reason = "totp_key_unreadable"
    if operator is not None and secret is not None:
        code = code.strip().replace(" ", "")
        now_step = int(clock.now()) // TOTP_PERIOD
        last = operator.totp_last_step if operator.totp_last_step is not None else -1
        for step in range(now_step - TOTP_WINDOW, now_step + TOTP_WINDOW + 1):
            # Every candidate is computed and compared in constant time.
            if hmac.compare_digest(_codes(secret, step), code) and step > last:
                accepted = step
        if accepted is not None:
            # One winner among concurrent copies of the same code (or of an older one).
            moved = session.execute(
                update(Operator)
                .where(Operator.id == operator_id,
                       or_(Operator.totp_last_step.is_(None),
                           Operator.totp_last_step < accepted))
                .values(totp_last_step=accepted, last_login_at=utcnow())
                .execution_options(synchronize_session=False))
            if getattr(moved, "rowcount", 0) != 1:
                accepted = None
    if accepted is None or operator is None:
        locked = throttle.failed(attempt)
        audit.record(session, "operator.login_failed", ip=ip, login_id=key,
                     operator_id=operator_id, reason=reason, step="totp",
                     locked=locked or None)
        session.commit()
        raise InvalidCredentials()
    throttle.succeeded(attempt, forgive=(ACCOUNT,))
    audit.record(session, "operator.login", ip=ip, operator_id=operator.id,
                 login_id=operator.login_id)
    session.commit()
    session.refresh(operator)
    return operator


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorSession:
    operator_id: int
    created: float


def _hash(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


class OperatorSessions:
    """The console's sessions in the Store: `operator:session:<sha256(handle)>` holds the
    operator, the creation and the last-use times (decided on the Clock; the Store's expiry
    only collects garbage), and `operator:sessions:<id>` lists an operator's handles so a
    disabled operator's sessions can end."""

    def __init__(self, store: Store, clock: Clock, *, idle_seconds: int,
                 max_seconds: int) -> None:
        self._store = store
        self._clock = clock
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds

    @staticmethod
    def _key(digest: str) -> str:
        return f"operator:session:{digest}"

    def start(self, operator_id: int) -> str:
        """A new session (a new handle at every sign-in); returns the handle for the cookie."""
        handle = secrets.token_urlsafe(32)
        now = self._clock.now()
        digest = _hash(handle)
        self._store.put(self._key(digest), {"op": operator_id, "created": now, "seen": now},
                        self.idle_seconds)
        self._store.set_add(f"operator:sessions:{operator_id}", digest, self.max_seconds)
        return handle

    def current(self, handle: str | None) -> OperatorSession | None:
        """The live session of `handle`, its idle time restarted; None when absent or over."""
        if not handle or len(handle) > 100:
            return None
        key = self._key(_hash(handle))
        data = self._store.get(key)
        if data is None:
            return None
        now = self._clock.now()
        if (now - float(data["seen"]) > self.idle_seconds
                or now - float(data["created"]) > self.max_seconds):
            self._store.delete(key)
            return None
        self._store.put(key, {**data, "seen": now}, self.idle_seconds)
        return OperatorSession(int(data["op"]), float(data["created"]))

    def end(self, handle: str | None) -> int | None:
        """End the session of `handle`; returns its operator id if it was live."""
        if not handle or len(handle) > 100:
            return None
        digest = _hash(handle)
        data = self._store.get(self._key(digest))
        self._store.delete(self._key(digest))
        if data is None:
            return None
        self._store.set_remove(f"operator:sessions:{data['op']}", digest)
        return int(data["op"])

    def end_all(self, operator_id: int) -> None:
        index = f"operator:sessions:{operator_id}"
        for digest in self._store.set_members(index):
            self._store.delete(self._key(digest))
            self._store.set_remove(index, digest)


def operator_sessions(settings: dict[str, Any], store: Store, clock: Clock) -> OperatorSessions:
    s = settings["operators"]
    return OperatorSessions(store, clock, idle_seconds=int(s["idle_minutes"]) * 60,
                            max_seconds=int(s["max_hours"]) * 3600)
