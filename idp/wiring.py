"""The one composition root: builds the provider's collaborators from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.adapters.clock import SystemClock
from idp.extensions import db
from idp.services.claims import EntitlementMatrix
from idp.services.clients import ClientDirectory
from idp.services.keys import KeyCipher, KeyRing
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.ports import Clock
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


def build_sessions(settings: dict[str, Any], store: Store, clock: Clock) -> SsoSessions:
    return SsoSessions(store, settings["session"]["ttl"], clock)


def use_clock(p: Provider, clock: Clock) -> None:
    """Rebuild what keeps time with another clock (tests move a FakeClock)."""
    p.clock = clock
    p.throttle = build_throttle(p.settings, p.store, clock)
    p.sessions = build_sessions(p.settings, p.store, clock)


def build_provider(settings: dict[str, Any], clock: Clock | None = None) -> Provider:
    clock = clock or SystemClock()
    store = build_store(settings)
    cipher = KeyCipher(settings["secret_key"])
    tokens = settings["tokens"]
    return Provider(
        settings=settings,
        clock=clock,
        store=store,
        passwords=Passwords(settings["argon2"]),
        policy=PasswordPolicy(**settings["password_policy"]),
        throttle=build_throttle(settings, store, clock),
        sessions=build_sessions(settings, store, clock),
        interactions=Interactions(store, settings["session"]["interaction_ttl"]),
        keys=KeyRing(
            cipher,
            cache_seconds=settings["keys"]["cache_seconds"],
            keep_retired_seconds=max(tokens["id_token_ttl"], tokens["logout_token_ttl"]) + 300,
        ),
        cipher=cipher,
        entitlements=EntitlementMatrix(settings["entitlements"]),
        clients=ClientDirectory(settings["clients"]["cache_seconds"]),
    )
