"""The one composition root: builds the provider's collaborators from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.adapters.backchannel import HttpBackchannelSender, RecordingBackchannelSender
from idp.adapters.clock import SystemClock
from idp.extensions import db
from idp.services.backchannel import BackchannelOutbox, OutboxSettings
from idp.services.claims import EntitlementMatrix
from idp.services.clients import ClientDirectory
from idp.services.keys import KeyCipher, KeyRing
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.ports import BackchannelSender, Clock
from idp.services.revocation import Revoker
from idp.services.sessions import Interactions, SsoSessions
from idp.services.throttle import Throttle, ThrottleRule
from idp.stores import DatabaseStore, RedisStore, Store


@dataclass
class Provider:
    """Everything the views need, built once per app."""

    settings: dict[str, Any]
    clock: Clock
    store: Store
    passwords: Passwords
    policy: PasswordPolicy
    throttle: Throttle
    sessions: SsoSessions
    interactions: Interactions
    keys: KeyRing
    cipher: KeyCipher
    entitlements: EntitlementMatrix
    clients: ClientDirectory
    # Back-channel logout tokens waiting for the worker, and the one way to end sessions.
    outbox: BackchannelOutbox
    revocation: Revoker

    @property
    def issuer(self) -> str:
        return str(self.settings["issuer"])


def build_store(settings: dict[str, Any]) -> Store:
    """Redis when `redis_url` is set (a plain or a Sentinel URL), else the database."""
    if settings["redis_url"]:
        return RedisStore(settings["redis_url"])
    return DatabaseStore(lambda: db.session)


def build_throttle(settings: dict[str, Any], store: Store, clock: Clock) -> Throttle:
    t = settings["throttle"]
    account = ThrottleRule(
        delay_after=t["account_delay_after"], delay_base=t["account_delay_base"],
        delay_max=t["account_delay_max"], lock_after=t["account_lock_after"],
        lock_seconds=t["lock_seconds"], window_seconds=t["window_seconds"],
    )
    # The IP rule has no per-attempt delay: many members may share one office NAT address.
    ip = ThrottleRule(
        delay_after=t["ip_lock_after"], delay_base=0, delay_max=0,
        lock_after=t["ip_lock_after"], lock_seconds=t["lock_seconds"],
        window_seconds=t["window_seconds"],
    )
    return Throttle(store, {"account": account, "ip": ip}, clock)


def build_backchannel_sender(settings: dict[str, Any]) -> BackchannelSender:
    section = settings["backchannel_logout"]
    if section["sender"] == "http":
        return HttpBackchannelSender(timeout=section["timeout"])
    if section["sender"] == "recording" and settings.get("env") == "testing":
        return RecordingBackchannelSender()
    raise RuntimeError(
        f"backchannel_logout.sender = {section['sender']!r}: use \"http\" (\"recording\", a "
        "fake that tells no relying party, exists for IDP_ENV=testing only)"
    )


def build_sessions(settings: dict[str, Any], store: Store, clock: Clock) -> SsoSessions:
    return SsoSessions(store, settings["session"]["ttl"], clock)


def use_clock(p: Provider, clock: Clock) -> None:
    """Rebuild what keeps time with another clock (tests move a FakeClock)."""
    p.clock = clock
    p.throttle = build_throttle(p.settings, p.store, clock)
    p.sessions = build_sessions(p.settings, p.store, clock)
    p.outbox.clock = clock
    p.revocation = Revoker(p.sessions, p.outbox, clock)


def build_provider(settings: dict[str, Any], clock: Clock | None = None) -> Provider:
    clock = clock or SystemClock()
    store = build_store(settings)
    cipher = KeyCipher(settings["secret_key"])
    tokens = settings["tokens"]
    sessions = build_sessions(settings, store, clock)
    outbox = BackchannelOutbox(
        build_backchannel_sender(settings), clock,
        OutboxSettings.from_settings(settings["backchannel_logout"]),
    )
    return Provider(
        settings=settings,
        clock=clock,
        store=store,
        passwords=Passwords(settings["argon2"]),
        policy=PasswordPolicy(**settings["password_policy"]),
        throttle=build_throttle(settings, store, clock),
        sessions=sessions,
        interactions=Interactions(store, settings["session"]["interaction_ttl"]),
        keys=KeyRing(
            cipher,
            cache_seconds=settings["keys"]["cache_seconds"],
            keep_retired_seconds=max(tokens["id_token_ttl"], tokens["logout_token_ttl"]) + 300,
        ),
        cipher=cipher,
        entitlements=EntitlementMatrix(settings["entitlements"]),
        clients=ClientDirectory(settings["clients"]["cache_seconds"]),
        outbox=outbox,
        revocation=Revoker(sessions, outbox, clock),
    )
