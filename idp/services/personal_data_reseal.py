"""Re-sealing the personal data under a new key (`idp personal-data reseal`; issue 10's runbook,
docs/operations.md §3).

What idp/services/personal_data seals or hashes and the database keeps:

| table | sealed | kind (associated data) | keyed hashes |
|---|---|---|---|
| member_identities | ci_sealed, di_sealed | "ci", "di" | ci_hash, di_hash |
| uploads | sealed | "upload:" + handle | |
| operators | totp_sealed | "operator_totp" | |

    report = reseal(session, old_master=old, new_master=new)  # personal_data.master_key
    session.commit()

re-encrypts every value that opens with the old key under the new one and recomputes the
look-up hashes from the values themselves. The DIs we derived for KG이니시스 (which reports
none) are derived again from the new key, so that person's next verification still matches.
A value that already opens with the new key is left sealed as it is, so a second run changes
nothing. Unreadable is raised when a value opens with neither key, after
every row was looked at (the caller rolls back: nothing changes unless everything can).

Not in the database, so not re-sealed: sign-up flows under way (their sealed identity lives in
the store for minutes; those people verify again) and the approval-password limits, which count
per person by the DI's keyed hash (they start afresh).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select

from idp.models import MemberIdentity, Operator, Upload
from idp.models.base import DbSession
from idp.services import audit
from idp.services.operators import TOTP_SEAL_KIND
from idp.services.personal_data import (
    PersonalData,
    PersonalDataError,
    inicis_di,
    inicis_di_key,
)
from idp.services.uploads import seal_kind

TABLES = ("member_identities", "uploads", "operators")

R = TypeVar("R", MemberIdentity, Upload, Operator)


@dataclass
class ResealReport:
    """Per table: rows re-sealed, rows already under the new key, rows neither key opens."""

    resealed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    current: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    unreadable: dict[str, list[int]] = field(
        default_factory=lambda: {t: [] for t in TABLES})


class Unreadable(Exception):
    """Some values open with neither key (report.unreadable); nothing may be written."""

    def __init__(self, report: ResealReport) -> None:
        self.report = report
        rows = "; ".join(
            f"{t}: {len(ids)} (id {', '.join(map(str, ids[:10]))}{', …' if len(ids) > 10 else ''})"
            for t, ids in report.unreadable.items() if ids)
        super().__init__(f"rows sealed with neither key: {rows}")


# The vendor whose DIs we derive (idp/adapters/identity_inicis.py, InicisIdentityVerifier).
INICIS = "inicis"


class _Keys:
    def __init__(self, old_master: bytes, new_master: bytes) -> None:
        self.old, self.new = PersonalData(old_master), PersonalData(new_master)
        self.old_di_key, self.new_di_key = inicis_di_key(old_master), inicis_di_key(new_master)

    def reopen(self, sealed: str, kind: str) -> tuple[str, bool] | None:
        """(the value, whether it is sealed under the new key already), or None when neither
        key opens it."""
        try:
            return self.new.open(sealed, kind), True
        except PersonalDataError:
            pass
        try:
            return self.old.open(sealed, kind), False
        except PersonalDataError:
            return None


def reseal(session: DbSession, *, old_master: bytes, new_master: bytes,
           batch_size: int = 200) -> ResealReport:
    """Re-seal every sealed value and recompute every keyed hash under `new_master` (module
    doc). Flushes batch by batch; the caller commits, or rolls back on Unreadable."""
    keys, report = _Keys(old_master, new_master), ResealReport()
    steps: list[tuple[str, type[Any], Callable[[Any], bool | None]]] = [
        ("member_identities", MemberIdentity, lambda row: _identity(keys, row)),
        # Documents are up to megabytes each: fewer per batch.
        ("uploads", Upload, lambda row: _upload(keys, row)),
        ("operators", Operator, lambda row: _operator(keys, row)),
    ]
    for table, model, fix in steps:
        size = max(1, batch_size // 10) if model is Upload else batch_size
        for row in _rows(session, model, size):
            changed = fix(row)
            if changed is None:
                report.unreadable[table].append(row.id)
            elif changed:
                report.resealed[table] += 1
            else:
                report.current[table] += 1
    if any(report.unreadable.values()):
        raise Unreadable(report)
    audit.record(session, "personal_data.resealed", resealed=dict(report.resealed),
                 already_current=dict(report.current))
    return report


def _rows(session: DbSession, model: type[R], size: int) -> Iterator[R]:
    """Every row by ascending id, `size` at a time; each batch flushed and let go before the
    next is read (memory stays flat at any table size)."""
    last = 0
    while True:
        rows = list(session.scalars(
            select(model).where(model.id > last).order_by(model.id).limit(size)))
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.flush()
        for row in rows:
            session.expunge(row)


def _identity(keys: _Keys, row: MemberIdentity) -> bool | None:
    ci = keys.reopen(row.ci_sealed, "ci")
    di = keys.reopen(row.di_sealed, "di")
    if ci is None or di is None:
        return None
    di_value = di[0]
    if row.vendor == INICIS and di_value == inicis_di(keys.old_di_key, ci[0]):
        di_value = inicis_di(keys.new_di_key, ci[0])
    changed = False
    for kind, value, (opened, current) in (("ci", ci[0], ci), ("di", di_value, di)):
        if not current or value != opened:
            setattr(row, f"{kind}_sealed", keys.new.seal(value, kind))
            changed = True
        digest = keys.new.lookup_hash(kind, value)
        if getattr(row, f"{kind}_hash") != digest:
            setattr(row, f"{kind}_hash", digest)
            changed = True
    return changed


def _upload(keys: _Keys, row: Upload) -> bool | None:
    try:
        stored = row.sealed.decode("ascii") if isinstance(row.sealed, bytes) else str(
            row.sealed)
    except UnicodeDecodeError:  # not a sealed value at all
        return None
    kind = seal_kind(row.handle)
    found = keys.reopen(stored, kind)
    if found is None:
        return None
    if found[1]:
        return False
    row.sealed = keys.new.seal(found[0], kind).encode("ascii")
    return True


def _operator(keys: _Keys, row: Operator) -> bool | None:
    found = keys.reopen(row.totp_sealed, TOTP_SEAL_KIND)
    if found is None:
        return None
    if found[1]:
        return False
    row.totp_sealed = keys.new.seal(found[0], TOTP_SEAL_KIND)
    return True
