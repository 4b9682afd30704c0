"""Alembic, driven from code: `idp db upgrade` and the test suite use the same path."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from idp.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    # "head", not "heads": the revisions form one chain, and a second head (two revisions
    # written from one parent) must fail loudly rather than be applied in either order.
    command.upgrade(alembic_config(database_url), revision)
