"""Loading KOTRA's company directory (`idp companies import-directory FILE`; issue 7).

The directory (`company_directory`, read through the CompanyDirectory port) autofills the
company registration and affiliation forms (SPEC §3.3 tab 4, §3.4). Its source is a CSV file:

- a header row naming the columns, in any order: `business_number`, `name_ko`, `ceo_ko`
  (required) and `name_en`, `ceo_en`, `corp_number`, `postcode`, `address_ko`, `address_en`,
  `phone`, `fax`, `email`, `homepage` (optional); any other column refuses the file;
- UTF-8 with or without a BOM, else CP949 / EUC-KR (what Excel writes on Korean Windows);
- 사업자등록번호 with or without dashes, check digit verified; 법인등록번호 checked when given.

All or nothing: every bad row is reported with its line number (up to MAX_PROBLEMS) and nothing
is written; otherwise one transaction inserts the new numbers and updates the changed ones
(upsert by business number). Rows of the table that the file does not mention stay; a column
the file does not have keeps its stored values; an empty cell clears the value.
Bulk statements, not one ORM object per row: docs/companies-registries.md has the figures.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from idp.models import CompanyDirectoryEntry
from idp.models.base import DbSession, utcnow
from idp.services import audit
from idp.services.business_numbers import (
    InvalidNumber,
    normalise_business_number,
    normalise_corp_number,
)
from idp.services.hs import decode

REQUIRED = ("business_number", "name_ko", "ceo_ko")
OPTIONAL = ("name_en", "ceo_en", "corp_number", "postcode", "address_ko", "address_en", "phone",
            "fax", "email", "homepage")
COLUMNS = REQUIRED + OPTIONAL
# The longest value of each text column (the table's sizes).
MAX_LENGTH = {"name_ko": 200, "ceo_ko": 100, "name_en": 200, "ceo_en": 100, "postcode": 10,
              "address_ko": 300, "address_en": 300, "phone": 30, "fax": 30, "email": 254,
              "homepage": 300}
MAX_PROBLEMS = 1000  # reported; counting goes on
MAX_FILE_BYTES = 256 * 1024 * 1024
_CHUNK = 900  # rows per IN (...) look-up (SQLite's bound-parameter limit is far above)
_WRITE_CHUNK = 2000

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PHONE = re.compile(r"\+?[0-9][0-9\-\s().]{5,28}")
_POSTCODE = re.compile(r"\d{5}|\d{3}-?\d{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class ImportProblem:
    line: int  # 1 is the header; 0: the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class DirectoryImportError(Exception):
    """The file was refused; nothing was written. `problems` holds at most MAX_PROBLEMS of
    the `count` found."""

    def __init__(self, problems: list[ImportProblem], count: int | None = None) -> None:
        self.problems = problems
        self.count = len(problems) if count is None else count
        super().__init__(f"{self.count} problem(s); nothing imported")


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    encoding: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Problems:
    kept: list[ImportProblem] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(ImportProblem(line, message))


def _clean(text: str) -> str:
    value = " ".join(text.split())
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def _corp_number(value: str) -> tuple[str | None, str | None]:
    try:
        return normalise_corp_number(value), None
    except InvalidNumber as exc:
        return None, f"corp_number {value[:20]!r}: not a 법인등록번호 ({exc})"


def _pattern(name: str, pattern: re.Pattern[str], says: str
             ) -> Callable[[str], tuple[str | None, str | None]]:
    def check(value: str) -> tuple[str | None, str | None]:
        if pattern.fullmatch(value):
            return value, None
        return None, f"{name} {value[:40]!r}: {says}"
    return check


# Per column: value -> (stored value, None) or (None, problem). Lengths are checked first.
_CHECKS: dict[str, Callable[[str], tuple[str | None, str | None]]] = {
    "corp_number": _corp_number,
    "phone": _pattern("phone", _PHONE, "not a telephone number"),
    "fax": _pattern("fax", _PHONE, "not a telephone number"),
    "postcode": _pattern("postcode", _POSTCODE, "5 digits (or the old 3-3)"),
    "email": _pattern("email", _EMAIL, "not an email address"),
}


def _check_row(cells: dict[str, str], line: int, problems: _Problems) -> dict[str, Any] | None:
    """The row's values as stored, or None after adding its problems."""
    before = problems.count
    values: dict[str, Any] = {}
    raw = cells.get("business_number", "").strip()
    try:
        values["business_number"] = normalise_business_number(raw)
    except InvalidNumber as exc:
        problems.add(line, f"business_number {raw[:20]!r}: not a 사업자등록번호 ({exc})")
    for name in REQUIRED[1:]:
        if not cells.get(name, "").strip():
            problems.add(line, f"{name}: required")
    control = _CONTROL.search("".join(cells.values())) is not None  # one search per row
    for name, text in cells.items():
        if name == "business_number":
            continue
        if control and _CONTROL.search(text):
            problems.add(line, f"{name}: control character")
            continue
        value = _clean(text)
        if not value:
            values[name] = None
            continue
        limit = MAX_LENGTH.get(name)
        if limit is not None and len(value) > limit:
            problems.add(line, f"{name}: longer than {limit} characters")
            continue
        check = _CHECKS.get(name)
        if check is not None:
            checked, problem = check(value)
            if problem is not None:
                problems.add(line, problem)
                continue
            value = checked or value
        values[name] = value
    return values if problems.count == before else None


def _header(row: list[str], problems: _Problems) -> list[str]:
    names = [unicodedata.normalize("NFKC", h).strip().lstrip("\ufeff").lower() for h in row]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        problems.add(1, "unknown column(s): " + ", ".join(repr(h) for h in unknown)
                     + "; allowed: " + ", ".join(COLUMNS))
    twice = sorted({h for h in names if names.count(h) > 1})
    if twice:
        problems.add(1, "column(s) named twice: " + ", ".join(twice))
    missing = [h for h in REQUIRED if h not in names]
    if missing:
        problems.add(1, "required column(s) missing: " + ", ".join(missing))
    return names


def parse_directory(text: str, progress: Callable[[int], None] | None = None
                    ) -> tuple[list[str], list[dict[str, Any]], _Problems]:
    """(header, rows, problems) of the CSV text; line numbers count the header as 1."""
    problems = _Problems()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader)
    except StopIteration:
        problems.add(0, "empty file: a header row is required")
        return [], [], problems
    except csv.Error as exc:
        problems.add(1, f"not CSV: {exc}")
        return [], [], problems
    header = _header(first, problems)
    if problems.count:
        return header, [], problems
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    done = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(reader.line_num, f"not CSV: {exc}")
            break
        line = reader.line_num
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(1000)
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.add(line, f"{len(row)} cells; the header has {len(header)}")
            continue
        values = _check_row(dict(zip(header, row, strict=True)), line, problems)
        if values is None:
            continue
        number = values["business_number"]
        if number in seen:
            problems.add(line, f"business_number {number}: also on line {seen[number]}")
            continue
        seen[number] = line
        rows.append(values)
    if progress is not None and done % 1000:
        progress(done % 1000)
    if not rows and not problems.count:
        problems.add(0, "no rows after the header")
    return header, rows, problems


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _existing(session: DbSession, numbers: list[str], columns: Iterable[str]
              ) -> dict[str, Any]:
    cols = [CompanyDirectoryEntry.id, CompanyDirectoryEntry.business_number] + [
        getattr(CompanyDirectoryEntry, c) for c in columns if c != "business_number"]
    found: dict[str, Any] = {}
    stored = session.scalar(select(func.count()).select_from(CompanyDirectoryEntry)) or 0
    if stored <= 2 * len(numbers):
        # A file about the size of the table (the usual full export): one read of the table
        # beats a hundred IN (...) look-ups.
        wanted = set(numbers)
        for row in session.execute(select(*cols)):
            if row.business_number in wanted:
                found[row.business_number] = row
        return found
    for chunk in _chunks(numbers, _CHUNK):
        for row in session.execute(select(*cols).where(
                CompanyDirectoryEntry.business_number.in_(chunk))):
            found[row.business_number] = row
    return found


def upsert_directory(session: DbSession, header: list[str], rows: list[dict[str, Any]],
                     progress: Callable[[int], None] | None = None) -> ImportReport:
    """Insert the new numbers, update the changed rows (only the file's columns); no commit."""
    now = utcnow()
    given = [c for c in COLUMNS if c in header and c != "business_number"]
    existing = _existing(session, [r["business_number"] for r in rows], given)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for values in rows:
        old = existing.get(values["business_number"])
        if old is None:
            inserts.append({**{c: None for c in COLUMNS}, **values, "updated_at": now})
        elif any(getattr(old, c) != values.get(c) for c in given):
            updates.append({"id": old.id, **{c: values.get(c) for c in given},
                            "updated_at": now})
        else:
            unchanged += 1
    written = 0
    for chunk in _chunks(inserts, _WRITE_CHUNK):
        session.execute(insert(CompanyDirectoryEntry), chunk)
        written += len(chunk)
        if progress is not None:
            progress(len(chunk))
    for chunk in _chunks(updates, _WRITE_CHUNK):
        session.execute(update(CompanyDirectoryEntry), chunk)
        if progress is not None:
            progress(len(chunk))
    if progress is not None and unchanged:
        progress(unchanged)
    return ImportReport(rows=len(rows), added=len(inserts), updated=len(updates),
                        unchanged=unchanged)


def count_rows(path: Path) -> int:
    """Lines after the header (the progress bar's length: each is checked, then written)."""
    with path.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)


def import_directory(session: DbSession, path: Path, *, encoding: str = "auto",
                     progress: Callable[[int], None] | None = None,
                     actor: str | None = None, commit: bool = True) -> ImportReport:
    """Import a directory CSV (module docstring) in one transaction and commit it (with
    `commit=False`, the caller's transaction holds it and the caller commits or rolls back).

    Raises DirectoryImportError, with every problem and its line, when anything is wrong:
    then nothing is written. `progress` is called with numbers of rows done, up to twice the
    data rows (checked, then written). Records `company.directory_imported`.
    """
    started = time.perf_counter()
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DirectoryImportError([ImportProblem(0, f"file larger than {MAX_FILE_BYTES} "
                                                     "bytes")])
    data = path.read_bytes()
    try:
        text, used = decode(data, encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DirectoryImportError([ImportProblem(
            0, f"cannot decode the file ({exc}); save it as UTF-8 or CP949")]) from None
    header, rows, problems = parse_directory(text, progress)
    if problems.count:
        raise DirectoryImportError(problems.kept, problems.count)
    try:
        report = upsert_directory(session, header, rows, progress)
        report.encoding = used
        audit.record(session, "company.directory_imported", file=path.name,
                     sha256=hashlib.sha256(data).hexdigest(), rows=report.rows,
                     added=report.added, updated=report.updated, unchanged=report.unchanged,
                     by=actor)
        if commit:
            session.commit()
    except Exception:
        if commit:
            session.rollback()
        raise
    report.seconds = round(time.perf_counter() - started, 3)
    return report
