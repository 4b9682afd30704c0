"""`idp hs ...` and the nomenclature load in `idp db upgrade` (issue 6, interests)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from idp.cli import main


def _run(args: list[str], database_url: str) -> object:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": database_url}
    return CliRunner().invoke(main, args, env=env)


def _csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_db_upgrade_loads_the_nomenclature_once(migrated: str) -> None:
    first = _run(["db", "upgrade", "--json"], migrated)
    assert first.exit_code == 0, first.output
    again = json.loads(_run(["db", "upgrade", "--json"], migrated).output)
    assert again["hs_codes"]["inserted"] == 0 and again["hs_codes"]["updated"] == 0
    stats = json.loads(_run(["hs", "stats", "--json"], migrated).output)
    assert stats["level_2"] == 96 and stats["level_4"] == 1228
    assert stats["korean_names"]["level_4"] == [1228, 1228]
    found = json.loads(_run(["hs", "search", "초콜릿", "--json"], migrated).output)
    assert {"1704", "1806", "843820"} <= {e["code"] for e in found}


def test_hs_import_good_file_with_progress_then_bad_file_with_line_numbers(
        migrated: str, tmp_path: Path) -> None:
    assert _run(["hs", "load-builtin"], migrated).exit_code == 0
    good = _csv(tmp_path / "hsk.csv", [["HS부호", "한글품목명", "영문품목명"],
                                       ["1806.32-1000", "초콜릿 바", "Chocolate bars"],
                                       ["8438201000", "초콜릿 제조기", "Chocolate machines"]],
                encoding="cp949")
    result = _run(["hs", "import", str(good)], migrated)
    assert result.exit_code == 0, result.output
    assert "2 rows (cp949): 2 new" in result.stdout
    assert "importing hsk.csv" in result.stderr  # the progress bar
    bad = _csv(tmp_path / "bad.csv", [["HS부호", "한글품목명"], ["18063", "다섯 자리"],
                                      ["1806329000", ""]])
    refused = _run(["hs", "import", str(bad), "--json"], migrated)
    assert refused.exit_code == 1
    data = json.loads(refused.stdout)
    assert data["error"] == "bad_file"
    assert [p["line"] for p in data["problems"]] == [2, 3]
    assert "line 2:" in refused.stderr and "nothing imported" in refused.stderr
    missing = _run(["hs", "import", str(tmp_path / "nope.csv")], migrated)
    assert missing.exit_code == 2  # click: the file does not exist
