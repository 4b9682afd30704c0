"""Declarative base with a naming convention, so Alembic names constraints predictably."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import MetaData, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# What services accept: a plain Session (CLI, tests) or Flask-SQLAlchemy's scoped proxy.
DbSession = Session | scoped_session[Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class JSONText(TypeDecorator[Any]):
    """JSON stored as text: the same on SQLite and PostgreSQL, and cheap to read."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def epoch(value: dt.datetime) -> int:
    """Seconds since the epoch of a naive UTC datetime (as stored)."""
    return int(value.replace(tzinfo=dt.UTC).timestamp())
