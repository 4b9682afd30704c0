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


def upgrade(database_url: str, revision: str = "heads") -> None:
    # "heads": revisions written in parallel from one parent form branches until they are
    # chained; every branch is applied (with one chain, the same as "head").
    command.upgrade(alembic_config(database_url), revision)
