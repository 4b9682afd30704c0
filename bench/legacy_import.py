"""Rows per second of `idp legacy import` (docs/legacy.md): a generated export of N rows
imported into a fresh legacy_accounts table, then imported again (every row unchanged), then
checked with --dry-run.

    IDP_ENV=testing .venv/bin/python bench/legacy_import.py [DATABASE_URL] [ROWS]

DATABASE_URL defaults to a temporary SQLite file; the database is migrated and its
legacy_accounts rows are deleted first (never point it at a database you care about).
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
from idp.models import LegacyAccount  # noqa: E402
from idp.services.legacy_import import FIELDS, import_file  # noqa: E402

BCRYPT = "$2b$04$Z7f22kHsTEQf/FotBYCYe.N7kgUPOTWCdWEAa/3fy2Y8wGbwxbtz."
MYSQL = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


def generate(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        for i in range(rows):
            writer.writerow([
                f"user{i:07}", ("무역투자24", "해외시장뉴스", "KOTRA")[i % 3],
                ("personal", "master", "regular", "associate")[i % 4], f"회원{i}",
                f"user{i}@example.com", f"010-{i % 10000:04}-{i // 10000:04}",
                "1248100998" if i % 4 else "", "대한무역" if i % 4 else "", "2015-06-01",
                MYSQL if i % 2 else BCRYPT, "mysql41" if i % 2 else "bcrypt", "",
                f"CI{i}" if i % 5 == 0 else "",
            ])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="legacy-bench-"))
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{work / 'bench.sqlite3'}"
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    export = work / "export.csv"
    generate(export, rows)
    upgrade(url)
    app = create_app({"database_url": url, "issuer": "http://127.0.0.1:5999"})
    with app.app_context():
        db.session.query(LegacyAccount).delete()
        db.session.commit()
        secret = app.config["IDP_SETTINGS"]["secret_key"]
        for label, dry_run in (("first import", False), ("same file again", False),
                               ("dry run", True)):
            started = time.perf_counter()
            report = import_file(db.session, export, secret_key=secret, dry_run=dry_run)
            elapsed = time.perf_counter() - started
            print(f"{url.split(':')[0]:<18} {label:<16} {rows} rows in {elapsed:6.2f} s = "
                  f"{rows / elapsed:8.0f} rows/s  (inserted {report.inserted}, "
                  f"unchanged {report.unchanged})")
        db.session.remove()
        db.engine.dispose()
    print(f"loadavg {os.getloadavg()}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
