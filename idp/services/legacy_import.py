"""Import of the old sites' member export into legacy_accounts (SPEC §6, issue 8).

The file is streamed: rows are read, checked and written in batches (`BATCH_SIZE` a
transaction), so a million rows never sit in memory and an interruption loses at most the
batch in flight, never half a row. A re-run is idempotent: each row carries the digest of its
imported fields, and the upsert (INSERT … ON CONFLICT (site, legacy_id) DO UPDATE … WHERE the
digest differs and the row is still pending) writes only new or changed rows, never one that
was already converted or merged. Resuming an interrupted run is running it again.

No password is hashed here: old hashes are stored as exported and checked only when their
owner converts (idp.services.legacy_passwords).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from idp.models.base import DbSession, utcnow
from idp.models.legacy import LegacyAccount, LegacyMemberType, LegacyStatus
from idp.services.legacy_passwords import hash_format_error

BATCH_SIZE = 1000
FORMATS = ("csv", "jsonl")
ENCODINGS = ("utf-8", "cp949", "euc-kr")

# The columns of an export, in the order of docs/legacy.md.
FIELDS = (
    "legacy_id", "site", "member_type", "name", "email", "mobile", "business_number",
    "company_name", "joined_at", "password_hash", "password_scheme", "password_salt", "ci",
)
REQUIRED_COLUMNS = ("legacy_id", "site")

# What an old export's dates mean when they carry no offset: Korean local time (no DST).
KST = dt.timezone(dt.timedelta(hours=9), "KST")

# Column sizes (idp/models/legacy.py): longer values reject the row instead of failing a batch.
_MAX_LENGTHS = {
    "legacy_id": 100, "site": 100, "name": 100, "email": 254, "company_name": 200,
    "password_hash": 255, "password_salt": 255, "ci": 200,
}
_MEMBER_TYPES = frozenset(t.value for t in LegacyMemberType)
_BUSINESS_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)
_MOBILE_JUNK = re.compile(r"[\s\-().]")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ImportFileError(Exception):
    """The file cannot be imported at all (unreadable, no header, a required column missing)."""


class RowRejected(Exception):  # noqa: N818 - a refusal, not a failure of the program
    def __init__(self, reason: str, field: str | None = None, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.detail = detail


class CiHasher:
    """HMAC-SHA256 (hex) of a CI under a key derived (HKDF-SHA256) from the secret key, as
    idp.services.keys.KeyCipher derives its key: old accounts of one person are found by equal
    hashes without keeping anyone's CI."""

    def __init__(self, secret_key: str) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"kotra-idp legacy ci"
        ).derive(secret_key.encode())

    def __call__(self, ci: str) -> str:
        return hmac.new(self._key, ci.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def legacy_id_key(legacy_id: str) -> str:
    """What a login looks up: the old ID stripped and lower-cased."""
    return legacy_id.strip().lower()


def normalise_mobile(value: str) -> str | None:
    """Digits only; +82 10… becomes 010…. None when it is not a phone number."""
    digits = _MOBILE_JUNK.sub("", value)
    if digits.startswith("+82"):
        digits = "0" + digits[3:].lstrip("0")
    if not digits.isdigit() or not 9 <= len(digits) <= 11:
        return None
    return digits


def business_number_ok(digits: str) -> bool:
    """사업자등록번호 check digit (KOREA-FACTS.md): weights 1,3,7,1,3,7,1,3,5 on the first nine
    digits plus floor(d9 × 5 / 10); check = (10 − sum mod 10) mod 10."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    d = [int(c) for c in digits]
    total = sum(w * x for w, x in zip(_BUSINESS_WEIGHTS, d, strict=False)) + d[8] * 5 // 10
    return (10 - total % 10) % 10 == d[9]


# Plain ASCII addresses, a strict subset of what email_validator accepts: checked here at
# import speed (email_validator costs ~0.2 ms a row); anything else goes to email_validator.
_PLAIN_EMAIL = re.compile(
    r"^[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)


def check_email(address: str) -> str:
    """The address in email_validator's normal form (domain lower-cased), or RowRejected.
    Syntax only, no DNS (as idp.services.members)."""
    # Imported here: a server worker imports this module (the affiliation pages use KST) but
    # only `idp legacy import` checks addresses (issue 10, memory).
    from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

    m = _PLAIN_EMAIL.match(address)
    if m is not None and len(address) <= 254 and address.index("@") <= 64:
        domain = m.group(1).lower()
        labels = domain.split(".")
        if "xn--" not in domain and not any(
            ".".join(labels[i:]) in SPECIAL_USE_DOMAIN_NAMES for i in range(len(labels))
        ):
            return address[: m.start(1)] + domain
    try:
        normalized: str = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise RowRejected("bad_email", "email", str(exc)) from None
    return normalized


def parse_joined_at(value: str) -> dt.datetime:
    """ISO 8601 date (midnight) or date-time; without an offset, Korean time."""
    text = value.strip()
    if _DATE_ONLY.match(text):
        day = dt.date.fromisoformat(text)
        return dt.datetime(day.year, day.month, day.day, tzinfo=KST)
    if "T" not in text and " " not in text:
        raise ValueError(text)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=KST)


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str
    field: str | None
    legacy_id: str | None
    site: str | None
    detail: str = ""


@dataclass
class ImportReport:
    """What a run did. `unchanged` rows were already in (a re-run or a resumed run)."""

    file: str
    format: str
    encoding: str
    dry_run: bool
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # Already converted or merged: an import never touches them.
    skipped_converted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    batches: int = 0

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.skipped_converted

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "format": self.format, "encoding": self.encoding,
            "dry_run": self.dry_run, "read": self.read, "accepted": self.accepted,
            "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
            "skipped_converted": self.skipped_converted, "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())), "batches": self.batches,
        }


# --------------------------------------------------------------------------- reading


def guess_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ImportFileError(f"cannot tell the format of {path.name}: give --format csv or jsonl")


def _text(binary: IO[bytes], encoding: str) -> io.TextIOWrapper:
    # utf-8-sig drops the byte order mark spreadsheet exports put first. Undecodable bytes
    # become U+FFFD and reject their row (bad_encoding), not the whole file.
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    return io.TextIOWrapper(binary, encoding=codec, errors="replace", newline="")


def _read_csv(text: io.TextIOWrapper) -> Iterator[tuple[int, dict[str, Any] | None]]:
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty: a CSV export starts with a header row")
    except csv.Error as exc:
        raise ImportFileError(f"the header row is not CSV: {exc}")
    columns = [c.strip().lower() for c in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportFileError(f"the header row lacks the column(s) {', '.join(missing)}")
    end = reader.line_num
    while True:
        start = end + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error:
            end = reader.line_num
            yield start, None
            continue
        end = reader.line_num
        if not values or values == [""]:
            continue  # a blank line
        if len(values) != len(columns):
            yield start, None
            continue
        yield start, dict(zip(columns, values, strict=True))


def _read_jsonl(text: io.TextIOWrapper) -> Iterator[tuple[int, dict[str, Any] | None]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield number, None
            continue
        yield number, record if isinstance(record, dict) else None


# --------------------------------------------------------------------------- checking


def _value(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is str:
        text = value.strip()
    elif type(value) is int:  # a JSON number: business_number 1248100998
        text = str(value)
    else:
        raise RowRejected("bad_value", name, "expected a string")
    if "\ufffd" in text:
        raise RowRejected("bad_encoding", name, "not in the file's encoding (--encoding?)")
    if len(text) > _MAX_LENGTHS.get(name, 255):
        raise RowRejected("too_long", name)
    return text or None


def check_row(raw: dict[str, Any], ci_hasher: CiHasher) -> dict[str, Any]:
    """The legacy_accounts values of one exported record, or RowRejected with its reason."""
    v = {name: _value(raw, name) for name in FIELDS}
    if v["legacy_id"] is None:
        raise RowRejected("missing_legacy_id", "legacy_id")
    if v["site"] is None:
        raise RowRejected("missing_site", "site")
    member_type = (v["member_type"] or "").lower()
    if member_type not in _MEMBER_TYPES:
        raise RowRejected("bad_member_type", "member_type",
                          "expected personal, master, regular or associate")
    email = v["email"]
    if email is not None:
        email = check_email(email)
    mobile = v["mobile"]
    if mobile is not None:
        mobile = normalise_mobile(mobile)
        if mobile is None:
            raise RowRejected("bad_mobile", "mobile")
    business_number = v["business_number"]
    if business_number is not None:
        business_number = business_number.replace("-", "")
        if not business_number_ok(business_number):
            raise RowRejected("bad_business_number", "business_number",
                              "10 digits with a valid check digit")
    joined_at = None
    if v["joined_at"] is not None:
        try:
            joined_at = parse_joined_at(v["joined_at"])
        except ValueError:
            raise RowRejected("bad_joined_at", "joined_at",
                              "expected an ISO 8601 date or date-time") from None
    scheme = (v["password_scheme"] or "").lower() or None
    if scheme is not None or v["password_hash"] is not None:
        reason = hash_format_error(scheme, v["password_hash"], v["password_salt"])
        if reason is not None:
            raise RowRejected(reason, "password_scheme" if reason.endswith("scheme")
                              else "password_salt" if reason.endswith("salt")
                              else "password_hash")
    values: dict[str, Any] = {
        "site": v["site"],
        "legacy_id": v["legacy_id"],
        "legacy_id_key": legacy_id_key(v["legacy_id"]),
        "member_type": member_type,
        "name": v["name"],
        "email": email,
        "mobile": mobile,
        "business_number": business_number,
        "company_name": v["company_name"],
        "joined_at": joined_at,
        "password_hash": v["password_hash"],
        "password_scheme": scheme,
        "password_salt": v["password_salt"],
        "ci_hash": ci_hasher(v["ci"]) if v["ci"] else None,
    }
    values["row_digest"] = row_digest(values)
    return values


def row_digest(values: dict[str, Any]) -> str:
    """SHA-256 of the imported fields: equal digests, nothing to write. Each field is written
    with its length (None as "-"), so no two different rows give the same input."""
    parts = []
    for name in _DIGESTED:
        value = values[name]
        if value is None:
            parts.append("-")
            continue
        text = value.isoformat() if isinstance(value, dt.datetime) else value
        parts.append(f"{len(text)}:{text}")
    return hashlib.sha256("".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


_DIGESTED = (
    "site", "legacy_id", "member_type", "name", "email", "mobile", "business_number",
    "company_name", "joined_at", "password_hash", "password_scheme", "password_salt", "ci_hash",
)
# What a changed row overwrites (never status, member_id or converted_at).
_UPDATED = (*_DIGESTED, "legacy_id_key", "row_digest", "imported_at")


# --------------------------------------------------------------------------- writing


class RejectsWriter:
    """Bad rows, one per line: CSV (line,reason,field,site,legacy_id,detail) or JSON Lines
    when the path ends in .jsonl. No other field of the row is copied (no password hashes)."""

    COLUMNS = ("line", "reason", "field", "site", "legacy_id", "detail")

    def __init__(self, stream: IO[str], fmt: str) -> None:
        self._stream = stream
        self._jsonl = fmt == "jsonl"
        self._csv = None if self._jsonl else csv.writer(stream)
        if self._csv is not None:
            self._csv.writerow(self.COLUMNS)

    @classmethod
    def for_path(cls, stream: IO[str], path: str) -> RejectsWriter:
        return cls(stream, "jsonl" if path.lower().endswith((".jsonl", ".ndjson")) else "csv")

    def write(self, reject: Reject) -> None:
        row = (reject.line, reject.reason, reject.field, reject.site, reject.legacy_id,
               reject.detail)
        if self._csv is not None:
            self._csv.writerow(row)
        else:
            self._stream.write(json.dumps(dict(zip(self.COLUMNS, row, strict=True)),
                                          ensure_ascii=False) + "\n")


Progress = Callable[[int, int], None]  # (rows read so far, bytes read so far)


def import_file(
    session: DbSession,
    path: Path,
    *,
    secret_key: str,
    fmt: str | None = None,
    encoding: str = "utf-8",
    dry_run: bool = False,
    rejects: RejectsWriter | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import one export file; commit after every batch (nothing when `dry_run`)."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise ImportFileError(f"unknown format {fmt!r}: csv or jsonl")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ImportFileError(f"unknown encoding {encoding!r}") from None
    report = ImportReport(file=str(path), format=fmt, encoding=encoding, dry_run=dry_run)
    ci_hasher = CiHasher(secret_key)
    # Rows this run writes carry this instant: a key seen again later in the same file is a
    # duplicate (rejected), not an update of itself.
    run_at = utcnow()
    try:
        binary = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        with binary, _text(binary, encoding) as text:
            _run(session, text, binary, fmt, report, ci_hasher, run_at, dry_run, rejects,
                 progress, batch_size)
    except BaseException:
        # An interruption (Ctrl-C, a lost connection, a bug) loses the batch in flight whole;
        # committed batches stay, and a re-run counts them unchanged.
        session.rollback()
        raise
    return report


def _run(session: DbSession, text: io.TextIOWrapper, binary: IO[bytes], fmt: str,
         report: ImportReport, ci_hasher: CiHasher, run_at: dt.datetime, dry_run: bool,
         rejects: RejectsWriter | None, progress: Progress | None, batch_size: int) -> None:
    """Read, check and write the file batch by batch (import_file's loop)."""
    rows = _read_csv(text) if fmt == "csv" else _read_jsonl(text)
    batch: list[tuple[int, dict[str, Any]]] = []
    for line, raw in rows:
        report.read += 1
        try:
            if raw is None:
                raise RowRejected("malformed_record", None,
                                  "not a record of the file's format")
            batch.append((line, check_row(raw, ci_hasher)))
        except RowRejected as exc:
            _reject(report, rejects, line, exc, raw)
        if len(batch) >= batch_size:
            _write_batch(session, batch, report, rejects, run_at, dry_run)
            batch = []
            if progress:
                progress(report.read, binary.tell())
    if batch:
        _write_batch(session, batch, report, rejects, run_at, dry_run)
    if progress:
        progress(report.read, binary.tell())


def _reject(report: ImportReport, rejects: RejectsWriter | None, line: int,
            exc: RowRejected, raw: dict[str, Any] | None) -> None:
    report.rejected += 1
    report.reasons[exc.reason] += 1
    if rejects is not None:
        def short(name: str) -> str | None:
            value = raw.get(name) if raw else None
            return str(value)[:100] if isinstance(value, str | int) else None

        rejects.write(Reject(line, exc.reason, exc.field, short("legacy_id"), short("site"),
                             exc.detail))


def _write_batch(session: DbSession, batch: list[tuple[int, dict[str, Any]]],
                 report: ImportReport, rejects: RejectsWriter | None, run_at: dt.datetime,
                 dry_run: bool) -> None:
    """Classify the batch against what is stored, then upsert the new and changed rows in one
    transaction."""
    existing: dict[tuple[str, str], tuple[str, str, dt.datetime]] = {}
    by_site: dict[str, set[str]] = {}
    for _, values in batch:
        by_site.setdefault(values["site"], set()).add(values["legacy_id"])
    for site, ids in by_site.items():
        for row in session.execute(
            select(LegacyAccount.legacy_id, LegacyAccount.row_digest, LegacyAccount.status,
                   LegacyAccount.imported_at)
            .where(LegacyAccount.site == site, LegacyAccount.legacy_id.in_(ids))
        ):
            existing[(site, row.legacy_id)] = (row.row_digest, row.status, row.imported_at)

    seen: set[tuple[str, str]] = set()
    to_write: list[dict[str, Any]] = []
    for line, values in batch:
        key = (values["site"], values["legacy_id"])
        stored = existing.get(key)
        if key in seen or (stored is not None and stored[2] == run_at):
            _reject(report, rejects, line,
                    RowRejected("duplicate_legacy_id", "legacy_id",
                                "the same site and legacy_id appear earlier in the file"),
                    values)
            continue
        seen.add(key)
        if stored is None:
            report.inserted += 1
        elif stored[1] != LegacyStatus.PENDING:
            report.skipped_converted += 1
            continue
        elif stored[0] == values["row_digest"]:
            report.unchanged += 1
            continue
        else:
            report.updated += 1
        to_write.append({**values, "imported_at": run_at, "status": LegacyStatus.PENDING})
    report.batches += 1
    if dry_run:
        session.rollback()
        return
    if to_write:
        if session.get_bind().dialect.name == "postgresql":
            _copy_upsert(session, to_write)
        else:
            session.execute(_upsert_statement(session), to_write)
    session.commit()
    if to_write and report.batches & (report.batches - 1) == 0 \
            and session.get_bind().dialect.name == "postgresql":
        _refresh_statistics(session)


def _refresh_statistics(session: DbSession) -> None:
    """ANALYZE after batches 1, 2, 4, 8, …: a table that grows from empty during the run keeps
    planner statistics that say "empty", and the per-batch lookup would scan the whole table
    (quadratic). A log2 number of ANALYZEs keeps it an index lookup."""
    try:
        session.execute(text(f"ANALYZE {LegacyAccount.__tablename__}"))
        session.commit()
    except DBAPIError:  # not the table's owner: the import works, only slower
        session.rollback()


def _upsert_statement(session: DbSession) -> Any:
    table: Any = LegacyAccount.__table__
    # Both dialects spell the upsert alike (PostgreSQL ≥ 9.5, SQLite ≥ 3.24).
    insert: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.site, table.c.legacy_id],
        set_={name: stmt.excluded[name] for name in _UPDATED},
        # A converted or merged row is history: never overwritten by an import.
        where=(table.c.row_digest != stmt.excluded.row_digest)
        & (table.c.status == LegacyStatus.PENDING.value),
    )


_WRITTEN = (*_UPDATED, "status")


def _copy_upsert(session: DbSession, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the batch into a temporary table, then one INSERT … SELECT … ON
    CONFLICT, all in the batch's transaction. psycopg's executemany sends a statement per
    row, and a 1,000-row VALUES list costs more to build than to run (~5x slower)."""
    columns = ", ".join(_WRITTEN)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS legacy_import_batch ON COMMIT DELETE ROWS AS "  # noqa: S608 - constant names
            f"SELECT {columns} FROM legacy_accounts WITH NO DATA"
        )
        with cursor.copy(f"COPY legacy_import_batch ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row[c] for c in _WRITTEN))
        # A converted or merged row is history: never overwritten by an import.
        cursor.execute(
            f"INSERT INTO legacy_accounts ({columns}) SELECT {columns} FROM legacy_import_batch "  # noqa: S608
            f"ON CONFLICT (site, legacy_id) DO UPDATE SET {updates} "
            "WHERE legacy_accounts.row_digest <> excluded.row_digest "
            "AND legacy_accounts.status = 'pending'"
        )


# --------------------------------------------------------------------------- stats


def legacy_stats(session: DbSession) -> dict[str, Any]:
    """Imported, converted, merged and pending accounts: in all, by site and by type."""
    statuses = [s.value for s in LegacyStatus]

    def empty() -> dict[str, int]:
        return {"imported": 0, **dict.fromkeys(statuses, 0)}

    total = empty()
    by_site: dict[str, dict[str, int]] = {}
    by_type: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(LegacyAccount.site, LegacyAccount.member_type, LegacyAccount.status,
               func.count())
        .group_by(LegacyAccount.site, LegacyAccount.member_type, LegacyAccount.status)
    )
    for site, member_type, status, count in rows:
        for bucket in (total, by_site.setdefault(site, empty()),
                       by_type.setdefault(member_type, empty())):
            bucket["imported"] += count
            bucket[status] += count
    return {**total, "by_site": dict(sorted(by_site.items())),
            "by_type": dict(sorted(by_type.items()))}
