"""`idp companies import-directory FILE` and its service (idp/services/company_directory_import.py):
the format, every refusal with its line, all or nothing, re-runs, encodings, the audit event."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from idp.cli import main
from idp.extensions import db
from idp.models import AuditEvent, CompanyDirectoryEntry
from idp.services.company_directory_import import (
    MAX_PROBLEMS,
    DirectoryImportError,
    import_directory,
)

HEADER = ["business_number", "name_ko", "ceo_ko", "name_en", "ceo_en", "corp_number",
          "postcode", "address_ko", "address_en", "phone", "fax", "email", "homepage"]
EDS = ["663-85-01035", "(주)한국이디에스", "김형원",
       "Korea Enterprise Data System Co., Ltd.", "Kim Hyungwon", "110111-1611056", "06654",
       "서울 서초구 서초중앙로 149-5", "", "02-3473-6973", "", "", ""]
KOTRA = ["1208200275", "대한무역투자진흥공사", "유정열",
         "Korea Trade Investment Promotion Agency", "", "1146710004418", "06792",
         "서울특별시 서초구 헌릉로 13", "13, Heolleung-ro, Seocho-gu, Seoul",
         "1600-7119", "", "", "https://www.kotra.or.kr"]


def _csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _run(app: Any, *args: str) -> Any:
    env = {"IDP_ENV": "testing", "IDP_DATABASE_URL": app.config["IDP_SETTINGS"]["database_url"]}
    return CliRunner().invoke(main, ["companies", "import-directory", *args], env=env)


def _rows(app: Any) -> dict[str, CompanyDirectoryEntry]:
    with app.app_context():
        found = {r.business_number: r for r in db.session.scalars(select(CompanyDirectoryEntry))}
        db.session.expunge_all()
        return found


def test_a_good_file_is_imported_with_a_progress_bar(app, tmp_path):
    result = _run(app, str(_csv(tmp_path / "dir.csv", [HEADER, EDS, KOTRA])))
    assert result.exit_code == 0, result.output
    assert "2 rows (utf-8): 2 added, 0 updated, 0 unchanged" in result.stdout
    assert "importing dir.csv" in result.stderr
    rows = _rows(app)
    eds = rows["6638501035"]
    assert (eds.name_ko, eds.ceo_ko, eds.corp_number, eds.phone) == (
        "(주)한국이디에스", "김형원", "1101111611056", "02-3473-6973")
    assert eds.address_en is None and eds.fax is None  # empty cells are NULL
    assert rows["1208200275"].homepage == "https://www.kotra.or.kr"
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "company.directory_imported"))
        assert event is not None and event.detail["added"] == 2 and event.detail["rows"] == 2


def test_re_running_updates_changed_rows_and_reports_counts(app, tmp_path):
    first = _csv(tmp_path / "a.csv", [HEADER, EDS, KOTRA])
    assert _run(app, str(first)).exit_code == 0
    moved = list(KOTRA)
    moved[9] = "02-3460-7114"
    extra = ["2018100015", "데모무역(주)", "이데모"] + [""] * 10
    second = _csv(tmp_path / "b.csv", [HEADER, EDS, moved, extra])
    result = _run(app, str(second), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("rows", "added", "updated", "unchanged")} == {
        "rows": 3, "added": 1, "updated": 1, "unchanged": 1}
    assert _rows(app)["1208200275"].phone == "02-3460-7114"


def test_columns_in_any_order_and_a_column_left_out_keeps_its_values(app, tmp_path):
    extra = ["2018100015", "데모무역(주)", "이데모"] + [""] * 10
    # Three rows stored, one in the next file: the rows are looked up by number (IN ...).
    assert _run(app, str(_csv(tmp_path / "a.csv", [HEADER, EDS, KOTRA, extra]))).exit_code == 0
    # Only three columns, reordered, with a new CEO: the phone stays, the CEO changes.
    rows = [["CEO_KO", "business_number", "name_ko"],
            ["김대표", "6638501035", "(주)한국이디에스"]]
    result = _run(app, str(_csv(tmp_path / "b.csv", rows)))
    assert result.exit_code == 0, result.output
    rows = _rows(app)
    assert rows["6638501035"].ceo_ko == "김대표" and rows["6638501035"].phone == "02-3473-6973"
    assert rows["1208200275"].ceo_ko == "유정열"  # not in the file: left alone


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp949", "euc-kr"])
def test_bom_and_korean_excel_encodings(app, tmp_path, encoding):
    path = _csv(tmp_path / "dir.csv", [HEADER, EDS, KOTRA], encoding=encoding)
    result = _run(app, str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 2
    assert _rows(app)["1208200275"].name_ko == "대한무역투자진흥공사"


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_written(app, tmp_path):
    bad = _csv(tmp_path / "bad.csv", [
        HEADER,
        EDS,                                                       # line 2: good
        ["1234567890", "잘못된 번호", "김"] + [""] * 10,             # 3: check digit
        ["2018100015", "", "이"] + [""] * 10,                      # 4: name_ko required
        ["2018100029", "회사", "박", "", "", "1101111611057"] + [""] * 7,  # 5: corp number
        ["3012300047", "회사", "최"] + [""] * 6 + ["전화"] + [""] * 3,  # 6: phone
        ["1058100003", "회사", "정"] + [""] * 9 + ["no-email"],  # 7: good (homepage)
        ["663-85-01035", "중복", "김"] + [""] * 10,                  # 8: duplicate of line 2
        ["1058700005", "회사"],                                     # 9: cells missing
        ["2118600002", "회사", "윤", "", "", "", "1234"] + [""] * 6,  # 10: postcode
        ["1018600011", "회\x01사", "강"] + [""] * 10,                # 11: control character
    ])
    result = _run(app, str(bad), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["error"] == "bad_file"
    lines = [p["line"] for p in data["problems"]]
    assert lines == [3, 4, 5, 6, 8, 9, 10, 11], data["problems"]
    assert data["problem_count"] == len(lines)
    assert "line 3: business_number '1234567890'" in result.stderr
    assert "also on line 2" in result.stderr and "nothing imported" in result.stderr
    assert _rows(app) == {}  # the good row was not written either


def test_a_bad_email_is_reported(app, tmp_path):
    row = ["1058100003", "회사", "정"] + [""] * 8 + ["not-an-email", ""]
    result = _run(app, str(_csv(tmp_path / "e.csv", [HEADER, row])), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"][0]["message"].startswith("email")


@pytest.mark.parametrize(("rows", "says"), [
    ([["business_number", "name_ko", "ceo_ko", "sales"], ["6638501035", "a", "b", "1"]],
     "unknown column(s): 'sales'"),
    ([["business_number", "name_ko"], ["6638501035", "a"]], "required column(s) missing: ceo_ko"),
    ([["business_number", "name_ko", "ceo_ko", "name_ko"]], "column(s) named twice: name_ko"),
    ([["business_number", "name_ko", "ceo_ko"]], "no rows after the header"),
    ([], "empty file"),
])
def test_a_bad_header_or_an_empty_file_is_refused(app, tmp_path, rows, says):
    result = _run(app, str(_csv(tmp_path / "h.csv", rows)), "--json")
    assert result.exit_code == 1
    assert says in json.loads(result.stdout)["problems"][0]["message"]


def test_a_file_in_no_known_encoding_is_refused(app, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"business_number,name_ko,ceo_ko\n6638501035,\xff\xfe\xfd,\x80\n")
    result = _run(app, str(path), "--json")
    assert result.exit_code == 1 and "cannot decode" in result.stdout


def test_problems_are_capped_but_counted(app, tmp_path):
    rows = [HEADER] + [["1234567890", "x", "y"] + [""] * 10] * (MAX_PROBLEMS + 5)
    path = _csv(tmp_path / "many.csv", rows)
    with app.app_context(), pytest.raises(DirectoryImportError) as caught:
        import_directory(db.session, path)
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert caught.value.count == MAX_PROBLEMS + 5


def test_a_failure_while_writing_rolls_everything_back(app, tmp_path, monkeypatch):
    from idp.services import company_directory_import as service

    path = _csv(tmp_path / "dir.csv", [HEADER, EDS, KOTRA])

    def broken(*args: Any, **kw: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(service.audit, "record", broken)
    with app.app_context(), pytest.raises(RuntimeError):
        import_directory(db.session, path)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CompanyDirectoryEntry)) == 0


def test_progress_covers_checking_and_writing(app, tmp_path):
    path = _csv(tmp_path / "dir.csv", [HEADER, EDS, KOTRA])
    steps: list[int] = []
    with app.app_context():
        report = import_directory(db.session, path, progress=steps.append)
    assert sum(steps) == 4 and report.added == 2


def test_the_directory_port_reads_what_was_imported(app, tmp_path):
    assert _run(app, str(_csv(tmp_path / "dir.csv", [HEADER, EDS, KOTRA]))).exit_code == 0
    with app.app_context():
        record = app.extensions["idp"].company_directory.find("1208200275")
    assert record is not None and record.ceo_ko == "유정열"
    assert record.address_en == "13, Heolleung-ro, Seocho-gu, Seoul"
