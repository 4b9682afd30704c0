"""Settings: config/default.toml, an overlay per environment, then IDP_* environment variables.

Pure code: no Flask imports, so the CLI and the tests read settings the same way as the app.
"""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"
INSTANCE_DIR = PROJECT_ROOT / "instance"


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_env_value(raw: str, current: Any) -> Any:
    """Read an environment string as the type of the setting it overrides."""
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _apply_env(settings: dict[str, Any], environ: dict[str, str]) -> None:
    for key, value in list(settings.items()):
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                env_name = f"IDP_{key}_{sub_key}".upper()
                if env_name in environ:
                    value[sub_key] = _parse_env_value(environ[env_name], sub_value)
        else:
            env_name = f"IDP_{key}".upper()
            if env_name in environ:
                settings[key] = _parse_env_value(environ[env_name], value)


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """Return the merged settings; `overrides` (tests) win over everything."""
    environ = dict(os.environ if environ is None else environ)
    with open(CONFIG_DIR / "default.toml", "rb") as fh:
        settings = tomllib.load(fh)
    env_name = environ.get("IDP_ENV", "development")
    overlay_path = CONFIG_DIR / f"{env_name}.toml"
    if overlay_path.exists():
        with open(overlay_path, "rb") as fh:
            settings = _merge(settings, tomllib.load(fh))
    _apply_env(settings, environ)
    if overrides:
        settings = _merge(settings, overrides)
    if not settings["database_url"]:
        INSTANCE_DIR.mkdir(exist_ok=True)
        settings["database_url"] = f"sqlite:///{INSTANCE_DIR / 'idp.sqlite3'}"
    settings["issuer"] = settings["issuer"].rstrip("/")
    if not settings["secret_key"]:
        if settings["require_secret_key"]:
            raise RuntimeError("IDP_SECRET_KEY must be set (see config/default.toml)")
    settings["env"] = env_name
    return settings
