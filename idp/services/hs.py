"""The HS nomenclature: loading it and searching it (issue 6, 회원정보 입력 관심정보).

Data
    idp/data/hs2022.tsv ships the HS 2022 nomenclature at 2, 4 and 6 digits with English names
    (datasets/harmonized-system, ODC-PDDL) and Korean names in the Korea Customs Service's
    style (see idp/data/README.md). `load_builtin` puts it into `hs_codes` (idempotent:
    `idp db upgrade` runs it after migrating). `import_file` loads the Korea Customs
    Service's 10-digit HSK list (관세청 HS부호 목록) that an operator supplies as CSV:
    every row is checked first, bad rows are reported with their line numbers and then
    nothing is written; otherwise one transaction inserts or updates every row.

Search
    `search(session, q)`: a code prefix (digits, with or without dots, dashes, spaces:
    "1806", "18.06", "8438.20") or words, Korean or English, every word required,
    case-insensitive. A Korean word matches anywhere in the text (Korean nouns compound:
    "초콜릿" in "초콜릿과", "자동차" in "승용자동차"); a Latin word matches the start of a
    word ("choc" finds "chocolate", "tea" does not find "steam"). Ranking: the exact code
    first, then shorter codes (chapter, heading, subheading, HSK), then code order.

    The nomenclature changes only by a load or an import, so each process keeps an index
    in memory (about 12,000 rows with the HSK list: a few megabytes) and asks the database
    only for `max(version)` per search, one indexed read; a load or import raises the
    version of the rows it changes, and every process rebuilds its index at its next search.
    `search_sql` answers the same with SQL LIKE, for comparison (bench/hs_search.py
    measures both).
"""

from __future__ import annotations

import bisect
import codecs
import csv
import heapq
import io
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from idp.models.base import DbSession
from idp.models.interests import HsCode

BUILTIN_FILE = Path(__file__).resolve().parent.parent / "data" / "hs2022.tsv"
SOURCE_BUILTIN = "hs2022"
SOURCE_HSK = "hsk"

MAX_QUERY_LENGTH = 100  # characters; longer queries find nothing (the web answers 400)
MAX_WORDS = 8
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
LEVELS = (2, 4, 6, 8, 10)

# Separators in names and queries: the KCS interpunct (ㆍ U+318D), middle dots, punctuation.
_SEPARATORS = re.compile(
    r"[\u318d\u00b7\u2027\u30fb\u2022,;:()\[\]{}<>/\\|\"'`~!?*+=%&#@$^_\-.…·]+")
_SPACES = re.compile(r"\s+")
# Control and format characters (NUL, which PostgreSQL refuses in text; zero-width spaces).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_CODE_QUERY = re.compile(r"[0-9][0-9.\-\s]*")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


# --- text --------------------------------------------------------------------------------

def normalize(text: str) -> str:
    """Lower-case words separated by single spaces: NFKC (composes Hangul typed as jamo
    sequences, folds full-width letters), case-folded, punctuation and interpuncts as spaces."""
    text = unicodedata.normalize("NFKC", _SEPARATORS.sub(" ", _CONTROL.sub(" ", text)))
    text = _SEPARATORS.sub(" ", text).casefold()
    return _SPACES.sub(" ", text).strip()


def search_text(code: str, name_ko: str, name_en: str) -> str:
    return normalize(f"{code} {name_ko} {name_en}")


def format_code(code: str) -> str:
    """The customs way of writing a code: 18, 1806, 1806.20, 1806.20-1000."""
    if len(code) <= 4:
        return code
    if len(code) <= 6:
        return f"{code[:4]}.{code[4:]}"
    return f"{code[:4]}.{code[4:6]}-{code[6:]}"


def code_query(q: str) -> str | None:
    """The digits of a code query ("18.06" -> "1806"), or None when q is words."""
    q = unicodedata.normalize("NFKC", q).strip()
    if not _CODE_QUERY.fullmatch(q):
        return None
    return re.sub(r"\D", "", q)


# --- entries and the in-process index ----------------------------------------------------

@dataclass(frozen=True)
class HsEntry:
    code: str
    level: int
    parent: str | None
    name_ko: str
    name_en: str

    @property
    def label(self) -> str:
        return format_code(self.code)

    def name(self, locale: str = "ko") -> str:
        """The name to show: Korean (the English one where no Korean name is known yet)."""
        if locale.startswith("en"):
            return self.name_en or self.name_ko
        return self.name_ko or self.name_en

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "level": self.level,
                "parent": self.parent, "name_ko": self.name_ko, "name_en": self.name_en}


class _Blob:
    """Texts joined by newlines, and where each starts: a word is looked for in the whole
    blob at C speed (str.find), row by row, lazily."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.starts: list[int] = []
        offset = 0
        for t in texts:
            self.starts.append(offset)
            offset += len(t) + 1
        self.blob = "\n".join(texts)

    def rows_with(self, needle: str) -> Iterator[int]:
        """The rows (in order) whose text contains needle."""
        starts, find = self.starts, self.blob.find
        last = len(starts) - 1
        pos = find(needle)
        while pos != -1:
            i = bisect.bisect_right(starts, pos) - 1
            yield i
            if i == last:
                return
            pos = find(needle, starts[i + 1])


class _Level:
    """The rows of one level (2, 4, 6, 8 or 10 digits), in code order."""

    def __init__(self, entries: list[HsEntry], texts: list[str]) -> None:
        self.entries = entries
        self.codes = [e.code for e in entries]
        # " " + normalised "code name_ko name_en": Latin words match after a space.
        self.texts = [" " + t.replace("\n", " ") for t in texts]
        self.text_blob = _Blob(self.texts)
        # "\x02 name_ko \x03 name_en": where a name begins (ranking).
        self.name_blob = _Blob([f"\x02 {normalize(e.name_ko)} \x03 {normalize(e.name_en)}"
                                for e in entries])

    def with_prefix(self, digits: str) -> Iterator[HsEntry]:
        i = bisect.bisect_left(self.codes, digits)
        while i < len(self.codes) and self.codes[i].startswith(digits):
            yield self.entries[i]
            i += 1


@dataclass
class _Index:
    version: int
    generation: int
    by_code: dict[str, HsEntry]
    levels: list[_Level]  # shortest codes first
    checked_at: float = 0.0

_lock = threading.Lock()
_indexes: dict[str, _Index] = {}
_generation = 0


def invalidate() -> None:
    """Drop this process's indexes (a load or an import in this process calls it; other
    processes notice the raised version)."""
    global _generation
    with _lock:
        _generation += 1
        _indexes.clear()


def _engine_key(session: DbSession) -> str:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


def _current_version(session: DbSession) -> int:
    return int(session.scalar(select(func.coalesce(func.max(HsCode.version), 0))) or 0)


# How long a process trusts its index before it asks the database whether another process
# changed the nomenclature (a load or an import in this process invalidates at once).
VERSION_CHECK_SECONDS = 1.0


def _index(session: DbSession) -> _Index:
    key = _engine_key(session)
    idx = _indexes.get(key)
    if idx is not None and idx.generation == _generation:
        now = time.monotonic()
        if now - idx.checked_at < VERSION_CHECK_SECONDS:
            return idx
        if _current_version(session) == idx.version:
            idx.checked_at = now
            return idx
    version = _current_version(session)
    rows = session.execute(
        select(HsCode.code, HsCode.level, HsCode.parent, HsCode.name_ko, HsCode.name_en,
               HsCode.search_text).order_by(HsCode.code)).all()
    by_level: dict[int, tuple[list[HsEntry], list[str]]] = {}
    for r in rows:
        entries, texts = by_level.setdefault(r.level, ([], []))
        entries.append(HsEntry(r.code, r.level, r.parent, r.name_ko, r.name_en))
        texts.append(r.search_text)
    levels = [_Level(*by_level[n]) for n in sorted(by_level)]
    idx = _Index(version=version, generation=_generation,
                 by_code={e.code: e for lvl in levels for e in lvl.entries}, levels=levels,
                 checked_at=time.monotonic())
    with _lock:
        _indexes[key] = idx
    return idx


# --- search --------------------------------------------------------------------------------

def _words(q: str) -> list[str]:
    return normalize(q).split(" ")[:MAX_WORDS] if normalize(q) else []


def _needles(words: Sequence[str]) -> list[str]:
    """Hangul words match anywhere; other words at the start of a word (leading space)."""
    return [w if _HANGUL.search(w) else " " + w for w in words]


def _clamp(limit: int) -> int:
    return max(1, min(MAX_LIMIT, limit))


def search(session: DbSession, q: str, limit: int = DEFAULT_LIMIT) -> list[HsEntry]:
    """The codes that match q, best first (see the module docstring); [] for an empty,
    too long or unmatched query."""
    q = (q or "").strip()
    if not q or len(q) > MAX_QUERY_LENGTH:
        return []
    limit = _clamp(limit)
    idx = _index(session)
    digits = code_query(q)
    if digits is not None:
        if not digits or len(digits) > 10:
            return []
        exact = idx.by_code.get(digits)
        found: list[HsEntry] = [exact] if exact else []
        for level in idx.levels:
            for e in level.with_prefix(digits):
                if len(found) >= limit:
                    return found
                if e is not exact:
                    found.append(e)
        return found
    needles = _needles(_words(q))
    if not needles:
        return []
    # Per level, shortest codes first: the names that begin with the first word typed, then
    # the other rows that contain every word, in code order; the scan stops at `limit`.
    # The longest word is the one scanned for (likely the rarest); the others are tested on
    # the rows it hits.
    first = needles[0].strip()
    scan = max(needles, key=len)
    rest = [n for n in needles if n is not scan]
    found = []
    for level in idx.levels:
        texts = level.texts
        begins = heapq.merge(level.name_blob.rows_with("\x02 " + first),
                             level.name_blob.rows_with("\x03 " + first))
        begun: set[int] = set()
        for i in begins:
            if i not in begun and scan in texts[i] and all(n in texts[i] for n in rest):
                found.append(level.entries[i])
                begun.add(i)
                if len(found) >= limit:
                    return found
        for i in level.text_blob.rows_with(scan):
            if i not in begun and all(n in texts[i] for n in rest):
                found.append(level.entries[i])
                if len(found) >= limit:
                    return found
    return found


def search_sql(session: DbSession, q: str, limit: int = DEFAULT_LIMIT) -> list[HsEntry]:
    """The same answers as `search`, by SQL LIKE over `search_text` (no index in memory)."""
    q = (q or "").strip()
    if not q or len(q) > MAX_QUERY_LENGTH:
        return []
    limit = _clamp(limit)
    cols = (HsCode.code, HsCode.level, HsCode.parent, HsCode.name_ko, HsCode.name_en)
    digits = code_query(q)
    if digits is not None:
        if not digits or len(digits) > 10:
            return []
        stmt = (select(*cols).where(HsCode.code.like(digits + "%"))
                .order_by((HsCode.code != digits), func.length(HsCode.code), HsCode.code))
    else:
        needles = _needles(_words(q))
        if not needles:
            return []
        haystack = " " + HsCode.search_text
        conditions = [haystack.like("%" + _escape_like(n) + "%", escape="\\") for n in needles]
        stmt = (select(*cols).where(*conditions)
                .order_by(func.length(HsCode.code), HsCode.code))
    rows = session.execute(stmt.limit(limit)).all()
    return [HsEntry(r.code, r.level, r.parent, r.name_ko, r.name_en) for r in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def lookup(session: DbSession, codes: Iterable[str]) -> dict[str, HsEntry]:
    """The entries of the given codes that exist (from the index)."""
    idx = _index(session)
    return {c: idx.by_code[c] for c in codes if c in idx.by_code}


# --- loading -------------------------------------------------------------------------------

@dataclass
class LoadReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "version": self.version}


@dataclass(frozen=True)
class _Row:
    code: str
    level: int
    parent: str | None
    name_ko: str
    name_en: str
    source: str


def _upsert(session: DbSession, rows: Sequence[_Row],
            progress: Callable[[int], None] | None = None) -> LoadReport:
    """Insert new codes, update changed ones (raising their version); no commit."""
    existing = {r.code: r for r in session.execute(
        select(HsCode.code, HsCode.level, HsCode.parent, HsCode.name_ko, HsCode.name_en,
               HsCode.source))}
    version = _current_version(session) + 1
    report = LoadReport()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for i, row in enumerate(rows, 1):
        values = {"code": row.code, "level": row.level, "parent": row.parent,
                  "name_ko": row.name_ko, "name_en": row.name_en, "source": row.source,
                  "search_text": search_text(row.code, row.name_ko, row.name_en),
                  "version": version}
        old = existing.get(row.code)
        if old is None:
            inserts.append(values)
        elif (old.level, old.parent, old.name_ko, old.name_en, old.source) != (
                row.level, row.parent, row.name_ko, row.name_en, row.source):
            updates.append(values)
        else:
            report.unchanged += 1
        if progress is not None and i % 500 == 0:
            progress(500)
    for chunk in _chunks(inserts, 1000):
        session.execute(insert(HsCode), chunk)
    for chunk in _chunks(updates, 1000):
        session.execute(update(HsCode), chunk)
    if progress is not None and len(rows) % 500:
        progress(len(rows) % 500)
    report.inserted, report.updated = len(inserts), len(updates)
    report.version = version if inserts or updates else None
    return report


def _chunks(items: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def builtin_rows(path: Path = BUILTIN_FILE) -> list[_Row]:
    with path.open(encoding="utf-8", newline="") as f:
        return [_Row(r["code"], int(r["level"]), r["parent"] or None, r["name_ko"],
                     r["name_en"], SOURCE_BUILTIN)
                for r in csv.DictReader(f, delimiter="\t")]


def load_builtin(session: DbSession, *, commit: bool = True) -> LoadReport:
    """Load the shipped HS 2022 nomenclature (idempotent: a second run changes nothing).

    Rows an operator's import changed since (a Korean name from the HSK list) are left
    alone: the shipped file never overwrites an `hsk` row."""
    rows = builtin_rows()
    imported = set(session.scalars(select(HsCode.code).where(HsCode.source == SOURCE_HSK)))
    report = _upsert(session, [r for r in rows if r.code not in imported])
    report.unchanged += len(imported & {r.code for r in rows})
    if commit:
        session.commit()
    invalidate()
    return report


# --- the Korea Customs Service HSK list --------------------------------------------------

# Accepted header names (compared after removing spaces and brackets, case-insensitive).
CODE_HEADERS = ("hs부호", "hs코드", "hscode", "hs", "hsk", "hsk부호", "hsk코드", "세번",
                "세번부호", "품목번호", "code", "hs_cd", "hscd")
KO_HEADERS = ("한글품목명", "품목명한글", "한글명", "품명", "품목명", "한글", "namekorean",
              "name_ko", "korean", "kor_nm", "hs_kor_nm", "korname")
EN_HEADERS = ("영문품목명", "품목명영문", "영문명", "영문", "nameenglish", "name_en", "english",
              "eng_nm", "hs_eng_nm", "engname")

MAX_IMPORT_BYTES = 50 * 1024 * 1024


@dataclass
class ImportProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class HsImportError(Exception):
    """The file was refused; nothing was written."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__(f"{len(problems)} bad row(s); nothing imported")
        self.problems = problems


@dataclass
class ImportReport(LoadReport):
    rows: int = 0
    encoding: str = ""
    problems: list[ImportProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "rows": self.rows, "encoding": self.encoding}


def _header_key(name: str) -> str:
    return re.sub(r"[\s()\[\]{}_\-.]", "", unicodedata.normalize("NFKC", name)).casefold()


def _find_column(header: list[str], candidates: tuple[str, ...]) -> int | None:
    keys = [_header_key(h) for h in header]
    wanted = [_header_key(c) for c in candidates]
    for c in wanted:  # in order of preference
        if c in keys:
            return keys.index(c)
    return None


def decode(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """The text and the encoding used: "auto" tries UTF-8 (with or without BOM), then CP949
    (Excel's "CSV" on Korean Windows), then EUC-KR."""
    if encoding != "auto":
        codecs.lookup(encoding)  # LookupError for an unknown name
        return data.decode(encoding), encoding
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
    for name in ("utf-8", "cp949", "euc-kr"):
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("auto", data, 0, 1, "neither UTF-8 nor CP949")


def parse_hsk(text: str, existing_codes: set[str]) -> tuple[list[_Row], list[ImportProblem]]:
    """Rows of an HSK CSV, or the problems found (each with its line number, 1 = header)."""
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems: list[ImportProblem] = []
    try:
        header = next(reader)
    except StopIteration:
        return [], [ImportProblem(1, "empty file")]
    code_col = _find_column(header, CODE_HEADERS)
    ko_col = _find_column(header, KO_HEADERS)
    en_col = _find_column(header, EN_HEADERS)
    if code_col is None or ko_col is None:
        return [], [ImportProblem(1, "header must name the code and Korean name columns, "
                                     "e.g. HS부호,한글품목명,영문품목명 (found: "
                                     + ", ".join(h.strip() for h in header) + ")")]
    seen: dict[str, int] = {}
    parsed: list[tuple[int, str, str, str]] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(code_col, ko_col):
            problems.append(ImportProblem(line, "missing columns"))
            continue
        raw_code = row[code_col].strip()
        code = re.sub(r"[\s.\-]", "", unicodedata.normalize("NFKC", raw_code))
        name_ko = " ".join(row[ko_col].split())
        name_en = " ".join(row[en_col].split()) if en_col is not None and en_col < len(row) else ""
        if not code.isdigit() or len(code) not in LEVELS:
            problems.append(ImportProblem(line, f"bad HS code {raw_code[:20]!r} "
                                                "(2, 4, 6, 8 or 10 digits)"))
            continue
        if not name_ko:
            problems.append(ImportProblem(line, f"{code}: Korean name missing"))
            continue
        if _CONTROL.search(name_ko) or _CONTROL.search(name_en):
            problems.append(ImportProblem(line, f"{code}: control character in a name"))
            continue
        if len(name_ko) > 1000 or len(name_en) > 1000:
            problems.append(ImportProblem(line, f"{code}: name longer than 1000 characters"))
            continue
        if code in seen:
            problems.append(ImportProblem(line, f"{code}: duplicate (first on line {seen[code]})"))
            continue
        seen[code] = line
        parsed.append((line, code, name_ko, name_en))
    known = existing_codes | set(seen)
    rows = [_Row(code, len(code), _parent(code, known), ko, en, SOURCE_HSK)
            for _, code, ko, en in parsed]
    return rows, problems


def _parent(code: str, known: set[str]) -> str | None:
    """The longest shorter code that exists (10 -> 8 -> 6 -> 4 -> 2 digits)."""
    for n in (8, 6, 4, 2):
        if n < len(code) and code[:n] in known:
            return code[:n]
    return None


def import_file(session: DbSession, path: Path, *, encoding: str = "auto",
                progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import an HSK list (CSV, see the module docstring) in one transaction.

    Raises HsImportError (nothing written) when any row is bad; re-running with a corrected
    file updates the rows that changed and leaves the others alone."""
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise HsImportError([ImportProblem(0, f"file larger than {MAX_IMPORT_BYTES} bytes")])
    try:
        text, used = decode(path.read_bytes(), encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise HsImportError([ImportProblem(0, f"cannot decode the file: {exc}")]) from None
    existing = set(session.scalars(select(HsCode.code)))
    rows, problems = parse_hsk(text, existing)
    if problems:
        raise HsImportError(problems)
    if not rows:
        raise HsImportError([ImportProblem(1, "no rows")])
    try:
        loaded = _upsert(session, rows, progress)
        session.commit()
    except Exception:
        session.rollback()
        raise
    invalidate()
    return ImportReport(inserted=loaded.inserted, updated=loaded.updated,
                        unchanged=loaded.unchanged, version=loaded.version,
                        rows=len(rows), encoding=used)


def count_rows(path: Path) -> int:
    """Lines in the file (for a progress bar's length)."""
    with path.open("rb") as f:
        return sum(1 for _ in f)


def stats(session: DbSession) -> dict[str, int]:
    rows = session.execute(select(HsCode.level, func.count()).group_by(HsCode.level)).all()
    return {f"level_{level}": int(n) for level, n in sorted(rows)}


def korean_names(session: DbSession, level: int) -> tuple[int, int]:
    """(rows with a Korean name, rows) at a level."""
    total = session.scalar(select(func.count()).where(HsCode.level == level)) or 0
    missing = session.scalar(select(func.count()).where(
        HsCode.level == level, HsCode.name_ko == "")) or 0
    return int(total - missing), int(total)
