"""Settings: config/default.toml, an overlay per environment, then IDP_* environment variables.

`load_settings` returns a plain dict with the keys of config/default.toml (the code reads
`settings["tokens"]["code_ttl"]`), after checking every value once, at start-up: the type of
each setting is the type of its default, and RULES add the ranges, choices and formats. Every
wrong value is named in one ConfigError, so a deployment is fixed in one go.

IDP_ENV names the environment; without it the provider runs as production, which refuses a
missing, short or published secret and an issuer that is neither https nor loopback.

Pure code: no Flask imports, so the CLI and the tests read settings the same way as the app.
"""

from __future__ import annotations

import base64
import copy
import difflib
import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idp.protocol import SIGNING_ALGS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"
INSTANCE_DIR = PROJECT_ROOT / "instance"

PRODUCTION = "production"
# development: `make run` on a laptop; testing: the test suite. Each has an overlay file.
ENVIRONMENTS = (PRODUCTION, "development", "testing")
MIN_SECRET_LENGTH = 32
# Secrets that are (or were) in this repository: anyone holding a copy of the database could
# decrypt the signing keys with them. The current overlay files' secrets are added at load.
PUBLISHED_SECRETS = frozenset({
    "dev-only-secret-key-change-me-0123456789",
    "testing-secret-key-0123456789abcdef",
    "bench-secret-key-not-for-production",
})
# IDP_* variables that are not settings (read by the test suite and `make bench`).
NON_SETTING_VARIABLES = frozenset({"IDP_ENV", "IDP_REQUIRE_SERVICES", "IDP_TEST_ARTIFACTS"})
REDIS_URL_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel")
DATABASE_BACKENDS = ("sqlite", "postgresql")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 6265 §4.1.1 token

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """Settings the provider must not start with; `problems` names each of them."""

    def __init__(self, env: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid settings (IDP_ENV={env}); fix and start again:\n{lines}")


# ---------------------------------------------------------------------------------------------
# Rules beyond the type: each returns None when the value is good, else what is wrong.

Check = Callable[[Any], str | None]


def _at_least(low: int) -> Check:
    return lambda v: None if v >= low else f"must be at least {low}, got {v!r}"


def _greater_than(low: float) -> Check:
    return lambda v: None if v > low else f"must be greater than {low}, got {v!r}"


def _one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}; got {v!r}"


def _subset_of(*choices: str) -> Check:
    def check(values: list[str]) -> str | None:
        unknown = [v for v in values if v not in choices]
        if not values or unknown:
            return f"must name one or more of {', '.join(choices)}; got {values!r}"
        return None
    return check


def _issuer(value: str) -> str | None:
    # OIDC Discovery §3 / RFC 8414 §2: scheme, host, optional port and path; no query/fragment.
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"must be an absolute http(s) URL; got {value!r}"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return f"must have no query or fragment; got {value!r}"
    return None


def _database_url(value: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if value == "":
        return None  # SQLite in instance/
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        return f"is not a database URL (e.g. postgresql+psycopg://user@host/db); got {value!r}"
    if backend not in DATABASE_BACKENDS:
        return f"must be a {' or '.join(DATABASE_BACKENDS)} URL; got {backend!r}"
    return None


def _redis_url(value: str) -> str | None:
    scheme = urlsplit(value).scheme
    if scheme.endswith("+sentinel"):
        from idp.stores import parse_sentinel_url

        try:
            parse_sentinel_url(value)
        except ValueError as exc:
            return f"is not a usable Sentinel URL: {exc}"
        return None
    if value == "" or scheme in REDIS_URL_SCHEMES:
        return None
    return f"must be empty or a {'/'.join(REDIS_URL_SCHEMES)}:// URL; got {value!r}"


def _bind(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        return f"must be host:port (e.g. 127.0.0.1:5000); got {value!r}"
    return None


def _cookie_name(value: str) -> str | None:
    return None if _COOKIE_NAME.fullmatch(value) else f"is not a cookie name: {value!r}"


def _personal_data_key(value: str) -> str | None:
    if value == "":
        return None  # derived from secret_key
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    return None if len(raw) == 32 else "must be empty or base64 of 32 random bytes"


def _networks(values: list[str]) -> str | None:
    bad = []
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            bad.append(value)
    return f"not networks (CIDR, e.g. 10.0.0.0/8): {bad!r}" if bad else None


# "section.key" (or "section.*") -> extra checks. The type comes from config/default.toml.
RULES: dict[str, Check] = {
    "issuer": _issuer,
    "database_url": _database_url,
    "redis_url": _redis_url,
    "server.bind": _bind,
    "server.engine": _one_of("granian", "gunicorn"),
    "server.workers": _at_least(1),
    "server.threads": _at_least(1),
    "server.trusted_proxies": _at_least(0),
    "tokens.*": _at_least(1),
    "keys.default_alg": _one_of(*SIGNING_ALGS),
    "keys.allowed_algs": _subset_of(*SIGNING_ALGS),
    "keys.rsa_bits": _at_least(2048),  # RFC 7518 §3.3
    "keys.cache_seconds": _at_least(0),
    "clients.cache_seconds": _at_least(0),
    "session.ttl": _at_least(1),
    "session.interaction_ttl": _at_least(1),
    "session.cookie_name": _cookie_name,
    "session.remember_id_days": _at_least(0),
    "argon2.time_cost": _at_least(1),
    "argon2.memory_kib": _at_least(8),
    "argon2.parallelism": _at_least(1),
    "argon2.hash_len": _at_least(16),
    "argon2.salt_len": _at_least(8),
    "argon2.keep_blocks_seconds": _at_least(0),
    "password_policy.*": _at_least(1),
    "throttle.*": _at_least(0),
    "personal_data.key": _personal_data_key,
    "throttle.account_lock_after": _at_least(1),
    "throttle.ip_lock_after": _at_least(1),
    "throttle.lock_seconds": _at_least(1),
    "throttle.window_seconds": _at_least(1),
    "terms.*": _at_least(1),
    "password_reset.*": _at_least(1),
    "jobs.*": _at_least(1),
    "backchannel_logout.sender": _one_of("http", "recording"),
    "backchannel_logout.timeout": _greater_than(0),
    "backchannel_logout.max_workers": _at_least(1),
    # Issue 6: email and SMS adapters, SMS codes, find ID.
    "email.tls": _one_of("starttls", "ssl", "none"),
    "email.port": _at_least(1),
    "email.timeout": _greater_than(0),
    "sms.timeout": _greater_than(0),
    "sms_codes.*": _at_least(1),
    "find_id.*": _at_least(1),
    "sns.timeout": _greater_than(0),
    "sns.callback_seconds": _greater_than(0),
    "identity.starts_per_ip": _at_least(1),
    "identity.start_window": _at_least(1),
    "sns.transaction_ttl": _at_least(1),
    "sns.jwks_cache_seconds": _at_least(0),
    # Issue 10: logs and metrics for operators (idp/observability.py).
    "log_format": _one_of("", "json", "text"),
    "log_level": _one_of("DEBUG", "INFO", "WARNING", "ERROR"),
    "access_log_flush_seconds": _at_least(0),
    "token_commit": _one_of("async", "sync"),
    "metrics.bind": lambda v: None if v == "" else _bind(v),
    "metrics.allow": _networks,
    # Issue 9: the 3-year deletion of simple members (idp/services/sns_inactivity.py).
    "sns_inactive.*": _at_least(1),
    # Issue 7, registries: the tax office's business-status API (idp/adapters/nts.py).
    "nts.adapter": _one_of("api", "emulator"),
    "nts.base_url": lambda v: None if re.match(r"https?://[^/?#]+", v) else
    "must be an http(s) URL, e.g. https://api.odcloud.kr",
    "nts.timeout": _greater_than(0),
    "nts.cache_seconds": _at_least(0),
    # Issue 7, NPKI verifier (idp/adapters/npki_revocation.py, docs/npki.md).
    "npki.revocation": _one_of("strict", "soft"),
    "npki.timeout": _greater_than(0),
    "npki.crl_cache_seconds": _at_least(1),
    "npki.crl_max_bytes": _at_least(1024),
    "npki.aia_budget": _greater_than(0),
    "npki.ocsp_max_age": _at_least(1),
    # Issue 7, the mileage API's step-up window and earning caps (docs/api.md).
    "api.use_auth_max_age": _at_least(1),
    "api.earn_max_per_request": _at_least(0),
    "api.earn_max_per_day": _at_least(0),
}
# Settings whose type is wider than their default's.
BOOL_OR_AUTO = frozenset({"session.cookie_secure"})
NUMBER = frozenset({"backchannel_logout.timeout"})


def env_variable(path: str) -> str:
    """The environment variable of a setting: tokens.code_ttl -> IDP_TOKENS_CODE_TTL."""
    return "IDP_" + path.replace(".", "_").upper()


def _paths(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value of every leaf setting (sections are one level deep)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        path = prefix + key
        if isinstance(value, dict) and not prefix:
            out.update(_paths(value, path + "."))
        else:
            out[path] = value
    return out


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _unknown(layer: dict[str, Any], defaults: dict[str, Any], source: str) -> list[str]:
    problems = []
    for key, value in layer.items():
        if key not in defaults:
            problems.append(f"{key}: not a setting (in {source})")
        elif isinstance(defaults[key], dict) and key != "entitlements":
            if not isinstance(value, dict):
                problems.append(f"{key}: must be a section (in {source})")
                continue
            problems += [f"{key}.{sub}: not a setting (in {source})"
                         for sub in value if sub not in defaults[key]]
    return problems


def _parse_bool(raw: str) -> bool | None:
    word = raw.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _parse_env_value(path: str, raw: str, default: Any) -> tuple[Any, str | None]:
    """An environment string as the type of the setting it overrides, or a problem."""
    where = f"{path} ({env_variable(path)})"
    if path in BOOL_OR_AUTO and raw.strip().lower() == "auto":
        return "auto", None
    if isinstance(default, bool) or path in BOOL_OR_AUTO:
        parsed = _parse_bool(raw)
        if parsed is None:
            return None, f"{where}: must be true or false; got {raw!r}"
        return parsed, None
    try:
        if isinstance(default, float) or path in NUMBER:
            return float(raw), None
        if isinstance(default, int):
            return int(raw), None
    except ValueError:
        return None, f"{where}: must be a number; got {raw!r}"
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()], None
    return raw, None


def _apply_env(settings: dict[str, Any], defaults: dict[str, Any], environ: dict[str, str],
               problems: list[str]) -> None:
    for path, default in _paths(defaults).items():
        name = env_variable(path)
        if name not in environ:
            continue
        value, problem = _parse_env_value(path, environ[name], default)
        if problem:
            problems.append(problem)
            continue
        section, _, key = path.rpartition(".")
        (settings[section] if section else settings)[key] = value


def _typos(defaults: dict[str, Any], environ: dict[str, str]) -> list[str]:
    """IDP_* variables that are no setting but look like one (a typo is otherwise silent)."""
    known = {env_variable(p) for p in _paths(defaults)} | NON_SETTING_VARIABLES
    warnings = []
    for name in sorted(environ):
        if name.startswith("IDP_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            if close:
                warnings.append(f"{name} is not a setting; did you mean {close[0]}?")
    return warnings


def _type_problem(path: str, value: Any, default: Any) -> str | None:
    if path in BOOL_OR_AUTO:
        ok, wanted = isinstance(value, bool) or value == "auto", "true, false or \"auto\""
    elif isinstance(default, bool):
        ok, wanted = isinstance(value, bool), "true or false"
    elif isinstance(default, float) or path in NUMBER:
        ok, wanted = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    elif isinstance(default, int):
        ok, wanted = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, str):
        ok, wanted = isinstance(value, str), "a string"
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        wanted = "a list of strings"
    else:
        return None
    return None if ok else f"must be {wanted}; got {value!r}"


def _rule(path: str) -> Check | None:
    section = path.partition(".")[0]
    return RULES.get(path) or RULES.get(f"{section}.*")


def _validate(settings: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    problems = []
    flat_defaults = _paths(defaults)
    for path, value in _paths(settings).items():
        where = f"{path} ({env_variable(path)})"
        if path.startswith("entitlements."):
            default: Any = []
        elif path in flat_defaults:
            default = flat_defaults[path]
        else:
            continue  # reported as unknown already
        problem = _type_problem(path, value, default)
        if problem is None and (check := _rule(path)) is not None:
            problem = check(value)
        if problem:
            problems.append(f"{where}: {problem}")
    keys, policy = settings.get("keys"), settings.get("password_policy")
    if not isinstance(keys, dict) or not isinstance(policy, dict):
        return problems  # a section replaced by a value: named as such already
    if (isinstance(keys.get("allowed_algs"), list) and keys.get("default_alg") in SIGNING_ALGS
            and keys["default_alg"] not in keys["allowed_algs"]):
        problems.append(f"keys.default_alg (IDP_KEYS_DEFAULT_ALG): {keys['default_alg']} is not "
                        f"in keys.allowed_algs {keys['allowed_algs']}")
    for low, high in (("login_id_min", "login_id_max"), ("password_min", "password_max")):
        if isinstance(policy.get(low), int) and isinstance(policy.get(high), int) and \
                policy[low] > policy[high]:
            problems.append(f"password_policy.{low}: must not exceed password_policy.{high}")
    return problems


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def published_secrets() -> frozenset[str]:
    """PUBLISHED_SECRETS and every secret_key written in a file of config/."""
    found = set(PUBLISHED_SECRETS)
    for path in CONFIG_DIR.glob("*.toml"):
        with open(path, "rb") as fh:
            value = tomllib.load(fh).get("secret_key")
        if isinstance(value, str) and value:
            found.add(value)
    return frozenset(found)


def _production_problems(settings: dict[str, Any]) -> list[str]:
    problems = []
    secret = settings["secret_key"]
    hint = ("set IDP_SECRET_KEY to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters, e.g. from "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    if not isinstance(secret, str):
        pass  # named by the type check
    elif not secret:
        problems.append(f"secret_key (IDP_SECRET_KEY): missing; {hint}")
    elif len(secret) < MIN_SECRET_LENGTH:
        problems.append(f"secret_key (IDP_SECRET_KEY): too short ({len(secret)} characters); "
                        f"{hint}")
    elif secret in published_secrets():
        problems.append("secret_key (IDP_SECRET_KEY): this value is published in the "
                        f"kotra-idp repository and protects nothing; {hint}")
    issuer = settings["issuer"]
    if isinstance(issuer, str) and _issuer(issuer) is None:
        parts = urlsplit(issuer)
        if parts.scheme != "https" and not is_loopback(parts.hostname):
            problems.append(f"issuer (IDP_ISSUER): must be https in production (http only on "
                            f"a loopback address); got {issuer!r}")
    return problems + _sns_production_problems(settings)


# The vendor URLs of each SNS section (issue 9); `{issuer}` in them stands for our issuer.
SNS_PROVIDERS = ("naver", "kakao", "google", "facebook")
SNS_URL_KEYS = ("authorize_url", "token_url", "profile_url", "issuer", "jwks_url",
                "discovery_url")


def _sns_production_problems(settings: dict[str, Any]) -> list[str]:
    """A configured SNS provider whose URL is an emulator's (ours, under `{issuer}`, or any
    loopback address) is refused in production unless sns.allow_loopback says it is meant."""
    sns = settings.get("sns")
    if isinstance(sns, dict) and sns.get("allow_loopback") is True:
        return []
    problems = []
    for name in SNS_PROVIDERS:
        section = settings.get(name)
        if not isinstance(section, dict) or not section.get("client_id"):
            continue  # not offered: its URLs are never called
        for key in SNS_URL_KEYS:
            url = section.get(key)
            if not isinstance(url, str):
                continue
            if "{issuer}" in url or is_loopback(urlsplit(url).hostname):
                problems.append(
                    f"{name}.{key} ({env_variable(f'{name}.{key}')}): {url!r} is an emulator "
                    "or loopback address; use the vendor's URL (or set "
                    "IDP_SNS_ALLOW_LOOPBACK=true on purpose)")
    return problems


def _nts_production_problems(settings: dict[str, Any]) -> list[str]:
    """The tax office's API without a key would answer every look-up "unavailable": refused
    at start, not discovered at the first company registration (issue 7)."""
    nts = settings.get("nts")
    if not isinstance(nts, dict) or nts.get("adapter") != "api":
        return []
    problems = []
    if not nts.get("service_key"):
        problems.append("nts.service_key (IDP_NTS_SERVICE_KEY): missing; the tax office's "
                        "business-status API (nts.adapter = \"api\") needs the data.go.kr "
                        "service key of dataset 15081808 (국세청_사업자등록정보 진위확인 및 "
                        "상태조회)")
    url = nts.get("base_url")
    if isinstance(url, str) and url.startswith("http://") and \
            not is_loopback(urlsplit(url).hostname):
        problems.append(f"nts.base_url (IDP_NTS_BASE_URL): must be https in production (the "
                        f"service key travels in the URL); got {url!r}")
    return problems


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """Return the checked settings; `overrides` (tests) win over everything.

    Raises ConfigError naming every wrong value.
    """
    environ = dict(os.environ if environ is None else environ)
    env_name = environ.get("IDP_ENV") or PRODUCTION
    if env_name not in ENVIRONMENTS:
        raise ConfigError(env_name, [f"IDP_ENV: must be one of {', '.join(ENVIRONMENTS)} "
                                     f"(unset: {PRODUCTION}); got {env_name!r}"])
    with open(CONFIG_DIR / "default.toml", "rb") as fh:
        defaults = tomllib.load(fh)
    settings = copy.deepcopy(defaults)
    problems: list[str] = []
    overlay_path = CONFIG_DIR / f"{env_name}.toml"
    if overlay_path.exists():
        with open(overlay_path, "rb") as fh:
            overlay = tomllib.load(fh)
        problems += _unknown(overlay, defaults, overlay_path.name)
        settings = _merge(settings, overlay)
    _apply_env(settings, defaults, environ, problems)
    for warning in _typos(defaults, environ):
        log.warning(warning)
    if overrides:
        problems += _unknown(overrides, defaults, "overrides")
        settings = _merge(settings, overrides)
    if isinstance(settings["issuer"], str):
        settings["issuer"] = settings["issuer"].rstrip("/")
    problems += _validate(settings, defaults)
    if not settings["secret_key"] and env_name != PRODUCTION:
        problems.append("secret_key (IDP_SECRET_KEY): missing")
    if env_name == PRODUCTION:
        problems += _production_problems(settings)
        problems += _nts_production_problems(settings)  # issue 7, registries
    backchannel = settings.get("backchannel_logout")
    if env_name != "testing" and isinstance(backchannel, dict) and \
            backchannel.get("sender") == "recording":
        # A fake that tells no relying party (idp/adapters/backchannel.py): refused here, at
        # start-up, not later in each server worker.
        problems.append("backchannel_logout.sender (IDP_BACKCHANNEL_LOGOUT_SENDER): \"recording\" "
                        "is a fake for IDP_ENV=testing only; use \"http\"")
    if problems:
        raise ConfigError(env_name, problems)
    if not settings["database_url"]:
        _private_dir(INSTANCE_DIR)
        settings["database_url"] = f"sqlite:///{INSTANCE_DIR / 'idp.sqlite3'}"
    settings["env"] = env_name
    return settings


def _private_dir(path: Path) -> None:
    """Create `path` readable by its owner only (it holds the database and client secrets)."""
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def create_sqlite_file(database_url: str) -> Path | None:
    """Create a missing SQLite database file readable by the owner only (0600) before SQLite
    does (it would follow the umask, usually 0644); its journal and WAL files take the same
    mode. Returns the file's path, None for other databases and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return None
    path = Path(url.database)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return path
    except OSError:
        return None  # e.g. a missing folder: SQLite names the problem when it connects
    os.close(fd)
    return path
