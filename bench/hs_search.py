"""Latency of the interests picker's HS search (issue 6: p99 under 20 ms over the full
nomenclature): the shipped HS 2022 rows plus N generated 10-digit HSK rows (about 12,000 in
all by default), searched with typical queries by the in-process index (`hs.search`, what
the endpoint uses), by SQL LIKE (`hs.search_sql`, for comparison) and through the endpoint
GET /interests/hs (Flask test client: routing, JSON, the rate-limit counter).

    IDP_ENV=testing .venv/bin/python bench/hs_search.py [DATABASE_URL ...] [--hsk-rows N]

Without a URL: a temporary SQLite file, plus PostgreSQL when BENCH_HS_PG_URL is set. The
database is migrated and the shipped nomenclature loaded; the generated rows are deleted at
the end (never point it at a database you care about).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("IDP_ENV", "testing")

from sqlalchemy import delete  # noqa: E402

from idp import create_app  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.migrate import upgrade  # noqa: E402
from idp.models import HsCode  # noqa: E402
from idp.services import hs  # noqa: E402

QUERIES = ["초콜릿", "chocolate", "1806", "18.06", "자동차", "자동차 부분품", "machine parts",
           "반도체 제조", "iron or steel", "84", "8703", "화장품", "cosmetic", "냉장고", "tea",
           "커피", "플라스틱 필름", "시험 품목", "zzz", "가"]
ROUNDS = 25
BENCH_NAME = "벤치 시험 품목"


def generate(path: Path, rows: int) -> None:
    six = [r.code for r in hs.builtin_rows() if r.level == 6]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["HS부호", "한글품목명", "영문품목명"])
        for i in range(rows):
            code = f"{six[i % len(six)]}{1000 + i // len(six):04}"
            w.writerow([code, f"{BENCH_NAME} {i}", f"Bench item {i}"])


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p50 = statistics.median(samples) * 1000
    p99 = samples[max(0, int(len(samples) * 0.99) - 1)] * 1000
    mark = "ok" if p99 < 20 else "OVER 20 ms"
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {samples[-1] * 1000:6.2f} ms  ({mark})"


def run(url: str, hsk_rows: int) -> None:
    upgrade(url)
    app = create_app({"database_url": url, "issuer": "http://127.0.0.1:5999",
                      "interests": {"search_per_minute": 0}})
    work = Path(tempfile.mkdtemp(prefix="hs-bench-"))
    export = work / "hsk.csv"
    generate(export, hsk_rows)
    backend = url.split(":")[0]
    with app.app_context():
        hs.load_builtin(db.session)
        hs.import_file(db.session, export)
        total = db.session.query(HsCode).count()
        try:
            hs.search(db.session, "warm up")
            started = time.perf_counter()
            hs.invalidate()
            hs.search(db.session, "index build")
            build = time.perf_counter() - started
            print(f"{backend:<18} {total} rows; index built in {build * 1000:.0f} ms")
            for label, fn in (("index (hs.search)", hs.search),
                              ("SQL LIKE", hs.search_sql)):
                samples = []
                for _ in range(ROUNDS):
                    for q in QUERIES:
                        t = time.perf_counter()
                        fn(db.session, q)
                        samples.append(time.perf_counter() - t)
                print(f"{backend:<18} {label:<20} {percentiles(samples)}")
            client = app.test_client()
            samples = []
            for _ in range(ROUNDS):
                for q in QUERIES:
                    t = time.perf_counter()
                    resp = client.get("/interests/hs", query_string={"q": q})
                    samples.append(time.perf_counter() - t)
                    assert resp.status_code == 200, resp.status_code
            print(f"{backend:<18} {'GET /interests/hs':<20} {percentiles(samples)}")
        finally:
            db.session.execute(delete(HsCode).where(HsCode.name_ko.like(BENCH_NAME + "%")))
            db.session.commit()
            hs.invalidate()
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="*")
    parser.add_argument("--hsk-rows", type=int, default=5000)
    args = parser.parse_args()
    urls = args.urls or [f"sqlite:///{Path(tempfile.mkdtemp(prefix='hs-bench-')) / 'b.db'}"]
    if not args.urls and os.environ.get("BENCH_HS_PG_URL"):
        urls.append(os.environ["BENCH_HS_PG_URL"])
    print(f"HS search latency: {len(QUERIES)} queries x {ROUNDS} rounds; loadavg "
          f"{os.getloadavg()}, {os.cpu_count()} CPUs")
    for url in urls:
        try:
            run(url, args.hsk_rows)
        except Exception as exc:  # noqa: BLE001 — report and go on with the next database
            print(f"{url.split(':')[0]}: failed: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
