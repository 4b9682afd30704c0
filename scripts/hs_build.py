"""Build idp/data/hs2022.tsv: the HS 2022 nomenclature at 2/4/6 digits with Korean names.

    python scripts/hs_build.py SOURCE_CSV [KO_TSV ...]

SOURCE_CSV is data/harmonized-system.csv of github.com/datasets/harmonized-system (UN Comtrade,
ODC-PDDL). Each KO_TSV holds `code<TAB>Korean name` lines (# comments allowed); a later file
overrides an earlier one. Korean names already in hs2022.tsv are kept unless overridden.
The non-HS rows of the source (TOTAL, chapter 99 "not specified") are left out.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "idp" / "data" / "hs2022.tsv"
HEADER = ["code", "level", "parent", "name_en", "name_ko"]


def main() -> None:
    source, ko_files = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    korean: dict[str, str] = {}
    if OUT.exists():
        with OUT.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["name_ko"]:
                    korean[row["code"]] = row["name_ko"]
    for path in ko_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            code, _, name = line.partition("\t")
            code, name = code.strip().replace(".", ""), name.strip()
            if not code.isdigit() or len(code) not in (2, 4, 6) or not name:
                raise SystemExit(f"{path}: bad line {line!r}")
            korean[code] = name
    rows = []
    with source.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            code, level = r["hscode"], r["level"]
            if level not in ("2", "4", "6") or r["section"] == "TOTAL":
                continue
            parent = "" if level == "2" else r["parent"]
            name_en = " ".join(r["description"].split())
            rows.append([code, level, parent, name_en, korean.get(code, "")])
    # A heading with a single subheading (1801 -> 180100): the subheading is the heading.
    heading_ko = {r[0]: r[4] for r in rows if r[1] == "4"}
    for r in rows:
        if r[1] == "6" and not r[4] and r[0].endswith("00") and heading_ko.get(r[0][:4]):
            r[4] = heading_ko[r[0][:4]]
    known = {r[0] for r in rows}
    unknown = sorted(set(korean) - known)
    if unknown:
        raise SystemExit(f"Korean names for codes not in the source: {unknown[:20]}")
    tmp = OUT.with_suffix(".tsv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(HEADER)
        w.writerows(rows)
    tmp.replace(OUT)  # atomic: a reader never sees half a file
    by_level = {lvl: [r for r in rows if r[1] == lvl] for lvl in ("2", "4", "6")}
    for lvl, rs in by_level.items():
        missing = [r[0] for r in rs if not r[4]]
        print(f"level {lvl}: {len(rs)} codes, {len(rs) - len(missing)} with Korean names"
              + (f" (missing e.g. {missing[:8]})" if missing else ""))


if __name__ == "__main__":
    main()
