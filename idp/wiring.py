"""The one composition root: builds the provider's collaborators from settings."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idp.adapters.backchannel import HttpBackchannelSender, RecordingBackchannelSender
from idp.adapters.clock import SystemClock
from idp.adapters.company_directory import build_company_directory
from idp.adapters.dev_outbox import DevOutbox
from idp.adapters.email_smtp import SmtpMailer
from idp.adapters.identity_emulator import EmulatorIdentityVerifier
from idp.adapters.identity_inicis import InicisIdentityVerifier
from idp.adapters.identity_nice import NiceIdentityVerifier
from idp.adapters.nts import NTS_ADAPTERS, build_business_registry
from idp.adapters.sms_http import HttpSmsSender
from idp.adapters.sns import SnsDirectory
from idp.config import env_variable
from idp.extensions import db
from idp.services.backchannel import BackchannelOutbox, OutboxSettings
from idp.services.certificates import CertificateLogins
from idp.services.claims import EntitlementMatrix
from idp.services.clients import ClientDirectory
from idp.services.flows import Flows
from idp.services.identity import Verifications
from idp.services.keys import KeyCipher, KeyRing
from idp.services.mail_outbox import MailOutbox
from idp.services.notify import Notifier
from idp.services.password_reset import throttle_rules as password_reset_throttle_rules
from idp.services.passwords import PasswordPolicy, Passwords
from idp.services.personal_data import PersonalData, master_key
from idp.services.ports import (
    BackchannelSender,
    BusinessRegistry,
    CertificateVerifier,
    Clock,
    CompanyDirectory,
    IdentityVerifier,
    Mailer,
    SmsSender,
)
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
    # Server-side state of multi-step flows (sign-up, SNS, certificate challenges).
    flows: Flows
    # Sensitive personal data at rest (CI, DI): AES-GCM and keyed look-up hashes.
    personal_data: PersonalData
    # Identity verification requests and results, and the vendor adapter of each method.
    verifications: Verifications
    identity_verifiers: dict[str, IdentityVerifier]
    # Email and SMS to members; emails sent by a worker, outside the request (find-ID).
    notify: Notifier
    mail: MailOutbox
    # SNS federation (issue 9): the configured Naver, Kakao, Google and Facebook adapters.
    sns: SnsDirectory
    # Companies (issue 7): corporate certificate challenges and the NPKI rules that check a
    # proof; the tax office's business status; KOTRA's company directory.
    certificates: CertificateLogins
    certificate_verifier: CertificateVerifier | None
    business_registry: BusinessRegistry | None
    company_directory: CompanyDirectory

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
    rules = {"account": account, "ip": ip}
    rules.update(password_reset_throttle_rules(settings))  # issue 6: 비밀번호 재설정
    return Throttle(store, rules, clock)


# Adapters picked from configuration, by the setting that picks them: {setting: {value: class}}.
# An emulator or fake declares itself with a class attribute, and a production start that
# would pick one refuses to start (issue 5). A later port adds one line here and builds its
# adapter with `pick_adapter`, e.g.
#     ADAPTERS["business_registry.adapter"] = {"nts": NtsBusinessRegistry,
#                                              "fake": FakeBusinessRegistry}
#     class FakeBusinessRegistry:
#         emulator = True  # never in production
# Real adapters need not declare anything (no `emulator` attribute means real). Name the
# setting `section.key` so that the error's IDP_SECTION_KEY is the variable config.py reads.
ADAPTERS: dict[str, dict[str, type]] = {
    "email.adapter": {"smtp": SmtpMailer, "outbox": DevOutbox},
    "sms.adapter": {"http": HttpSmsSender, "outbox": DevOutbox},
}
# Identity verification (issue 6): the vendor of each method; "" leaves a method out.
ADAPTERS["identity.simple"] = {"inicis": InicisIdentityVerifier,
                               "emulator": EmulatorIdentityVerifier}
ADAPTERS["identity.mobile"] = {"nice": NiceIdentityVerifier,
                               "emulator": EmulatorIdentityVerifier}
ADAPTERS["identity.card"] = {"nice": NiceIdentityVerifier,
                             "emulator": EmulatorIdentityVerifier}
# Issue 7, registries: the tax office's business-status API (idp/adapters/nts.py).
ADAPTERS["nts.adapter"] = dict(NTS_ADAPTERS)


class EmulatorInProduction(RuntimeError):
    """IDP_ENV=production with an emulator or fake picked for an outside system."""


def _setting(settings: Mapping[str, Any], path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def pick_adapter(settings: Mapping[str, Any], setting: str,
                 adapters: Mapping[str, Mapping[str, type]] | None = None) -> type:
    """The adapter class that `setting` names, among those registered for it."""
    choices = (ADAPTERS if adapters is None else adapters)[setting]
    name = _setting(settings, setting)
    if name not in choices:
        raise ValueError(f"{setting} ({env_variable(setting)}) = {name!r}: "
                         f"choose one of {', '.join(sorted(choices))}")
    return choices[name]


def refuse_emulators_in_production(settings: Mapping[str, Any],
                                   adapters: Mapping[str, Mapping[str, type]] | None = None
                                   ) -> None:
    """Raise EmulatorInProduction, naming each setting to change, when a production start
    would pick an emulator. Runs before any adapter is built. Without `env` it assumes
    production: a missing setting must not let an emulator through."""
    if settings.get("env", "production") != "production":
        return
    registered = ADAPTERS if adapters is None else adapters
    wrong = []
    for setting, choices in sorted(registered.items()):
        picked = choices.get(_setting(settings, setting))
        if picked is not None and getattr(picked, "emulator", False):
            real = sorted(n for n, c in choices.items() if not getattr(c, "emulator", False))
            wrong.append(f"{setting} ({env_variable(setting)}) picks the emulator "
                         f"{picked.__name__}: set it to {' or '.join(real) or 'a real adapter'}")
    if wrong:
        raise EmulatorInProduction(
            "refusing to start in production with an emulator: " + "; ".join(wrong))


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


def build_notifier(settings: dict[str, Any]) -> Notifier:
    def build(setting: str) -> Any:
        cls = pick_adapter(settings, setting)  # an unknown name refuses the start
        if cls is DevOutbox:
            return DevOutbox(lambda: db.session)
        return cls.from_settings(settings)  # type: ignore[attr-defined]

    mailer: Mailer = build("email.adapter")
    sms: SmsSender = build("sms.adapter")
    return Notifier(mailer, sms)


def build_identity_verifiers(settings: dict[str, Any], store: Store | None = None
                             ) -> dict[str, IdentityVerifier]:
    """The vendor adapter of each verification method (simple, mobile, card), from
    `identity.<method>` (config/default.toml). One adapter object per vendor (NICE serves
    mobile and card with one access token). A vendor transaction is accepted once: the
    adapters remember the ids they saw in the store (a replayed vendor answer is refused)."""
    def seen_once(key: str) -> bool:
        if store is None:
            return True
        digest = hashlib.sha256(key.encode()).hexdigest()
        return store.add(f"idv:seen:{digest}", {"t": 1}, 86400)

    built: dict[type, IdentityVerifier] = {}
    verifiers: dict[str, IdentityVerifier] = {}
    for method in ("simple", "mobile", "card"):
        if not _setting(settings, f"identity.{method}"):
            continue
        cls = pick_adapter(settings, f"identity.{method}")
        if cls not in built:
            built[cls] = cls.from_settings(settings, seen_once=seen_once)  # type: ignore[attr-defined]
            if not getattr(built[cls], "configured", True):
                logging.getLogger("idp.identity").warning(
                    "identity.%s = %r has no credentials: every verification by it will "
                    "answer 'unavailable' (set the [identity_%s] settings)",
                    method, _setting(settings, f"identity.{method}"),
                    _setting(settings, f"identity.{method}"))
        verifiers[method] = built[cls]
    return verifiers


def use_clock(p: Provider, clock: Clock) -> None:
    """Rebuild what keeps time with another clock (tests move a FakeClock)."""
    p.clock = clock
    p.throttle = build_throttle(p.settings, p.store, clock)
    p.sessions = build_sessions(p.settings, p.store, clock)
    p.outbox.clock = clock
    p.mail.clock = clock
    p.revocation = Revoker(p.sessions, p.outbox, clock)
    p.flows = Flows(p.store, clock)
    p.verifications = Verifications(p.flows, clock)
    p.interactions = Interactions(p.store, p.settings["session"]["interaction_ttl"], clock)
    p.sns.clock = clock


def build_certificate_verifier(settings: dict[str, Any], store: Store, clock: Clock
                               ) -> CertificateVerifier | None:
    """The NPKI verifier (idp/adapters/npki_revocation.py), or None with no trust anchor.

    The adapter (asn1crypto, the CRL and OCSP clients: about 4 MB per worker) is imported only
    when there is something to configure (issue 10, memory); it logs why login by certificate
    is unavailable, and so does this shortcut, in the same words.
    """
    section = settings["npki"]
    if not section["trust_anchors"] and not section["demo_pki"]:
        logging.getLogger("idp.adapters.npki_revocation").warning(
            "certificate login unavailable: no trust anchors configured "
            "(IDP_NPKI_TRUST_ANCHORS, comma-separated PEM or DER files)")
        return None
    from idp.adapters import npki_revocation

    return npki_revocation.build_certificate_verifier(settings, store, clock)


def build_provider(settings: dict[str, Any], clock: Clock | None = None) -> Provider:
    clock = clock or SystemClock()
    refuse_emulators_in_production(settings)
    store = build_store(settings)
    cipher = KeyCipher(settings["secret_key"])
    tokens = settings["tokens"]
    sessions = build_sessions(settings, store, clock)
    flows = Flows(store, clock)
    outbox = BackchannelOutbox(
        build_backchannel_sender(settings), clock,
        OutboxSettings.from_settings(settings["backchannel_logout"]),
    )
    notify = build_notifier(settings)
    return Provider(
        settings=settings,
        clock=clock,
        store=store,
        passwords=Passwords(settings["argon2"]),
        policy=PasswordPolicy(**settings["password_policy"]),
        throttle=build_throttle(settings, store, clock),
        sessions=sessions,
        interactions=Interactions(store, settings["session"]["interaction_ttl"], clock),
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
        flows=flows,
        personal_data=PersonalData(master_key(settings["personal_data"]["key"],
                                              settings["secret_key"])),
        verifications=Verifications(flows, clock),
        identity_verifiers=build_identity_verifiers(settings, store),
        notify=notify,
        mail=MailOutbox(notify, clock),
        sns=SnsDirectory(settings, clock),
        certificates=CertificateLogins(flows, clock, str(settings["issuer"])),
        certificate_verifier=build_certificate_verifier(settings, store, clock),
        business_registry=build_business_registry(settings, store, clock),
        company_directory=build_company_directory(settings),
    )
