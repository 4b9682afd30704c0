"""Rows per second of `idp companies import-directory` (docs/companies-registries.md): a
generated directory of N companies (every column filled) imported into an empty
company_directory table, then the same file again (every row unchanged), then a file where
every tenth row changed (updates).

    IDP_ENV=testing .venv/bin/python bench/company_directory_import.py [DATABASE_URL] [ROWS]

DATABASE_URL defaults to a temporary SQLite file; the database is migrated and its
company_directory rows are deleted first (never point it at a database you care about).
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("IDP_ENV", "testing")

from idp import create_app  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.migrate import upgrade  # noqa: E402
from idp.models import CompanyDirectoryEntry  # noqa: E402
from idp.services.business_numbers import business_number_check_digit  # noqa: E402
from idp.services.company_directory_import import COLUMNS, import_directory  # noqa: E402


def number(i: int) -> str:
    first = f"{200_000_000 + i * 7:09}"  # distinct, with a valid check digit
    return first + str(business_number_check_digit(first))


def generate(path: Path, rows: int, changed_every: int = 0) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i in range(rows):
            phone = f"02-{1000 + i % 9000}-{i % 10000:04}"
            if changed_every and i % changed_every == 0:
                phone = f"031-{1000 + i % 9000}-{i % 10000:04}"
            writer.writerow([
                number(i), f"(주)데모기업{i}", f"대표{i}", f"Demo Company {i} Co., Ltd.",
                f"CEO {i}", "", f"{10000 + i % 90000:05}",
                f"서울특별시 중구 세종대로 {i % 500}", f"{i % 500}, Sejong-daero, Jung-gu, Seoul",
                phone, "", f"info{i}@example.com", f"https://company{i}.example",
            ])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="directory-bench-"))
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{work / 'bench.sqlite3'}"
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    first, changed = work / "directory.csv", work / "changed.csv"
    generate(first, rows)
    generate(changed, rows, changed_every=10)
    upgrade(url)
    app = create_app({"database_url": url, "issuer": "http://127.0.0.1:5999"})
    with app.app_context():
        db.session.query(CompanyDirectoryEntry).delete()
        db.session.commit()
        for label, path in (("first import", first), ("same file again", first),
                            ("every tenth row changed", changed)):
            started = time.perf_counter()
            report = import_directory(db.session, path)
            took = time.perf_counter() - started
            print(f"{label:<24} {rows} rows in {took:6.2f} s = {rows / took:8.0f} rows/s "
                  f"(added {report.added}, updated {report.updated}, "
                  f"unchanged {report.unchanged})")


if __name__ == "__main__":
    main()
