from __future__ import annotations

import csv
from pathlib import Path

import typer
from typer.testing import CliRunner

from gateway.identity.commands import detect_encoding, normalize
from tests.identity.helpers import make_id

HEADER = [
    "record_id",
    "name",
    "gender",
    "birth_date",
    "ethnicity",
    "id_type",
    "id_number",
    "household_region",
]
GOOD_ID = make_id("110105", "20150307", "002")


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command()(normalize)

    @cli.callback()
    def main() -> None:
        """Keep normalize a named sub-command, as the gateway CLI registers it."""

    return cli


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_cleans_a_file_and_reports_each_row(tmp_path: Path) -> None:
    source = tmp_path / "school.csv"
    write_csv(
        source,
        [
            ["a1", "張 曉涵", "女", "2015/3/7", "汉", "1", GOOD_ID.lower(), "110105"],
            ["a2", "王 小明", "男", "2015-02-30", "01", "none", "", ""],
            ["a3", "李明", "1", "20150307", "", "1", GOOD_ID, "110103"],
            ["a1", "赵六", "1", "2015.03.07", "", "none", "", ""],
            ["", "<script>", "", "", "", "", "", ""],
        ],
    )
    out = tmp_path / "clean.csv"
    result = CliRunner().invoke(app(), ["normalize", str(source), "--out", str(out)])
    assert result.exit_code == 1, result.output

    written = read_csv(out)
    assert [row["record_id"] for row in written] == ["a1", "a3"]
    assert written[0]["name"] == "张晓涵"
    assert written[0]["birth_date"] == "2015-03-07"
    assert written[0]["id_number"] == GOOD_ID

    report = read_csv(tmp_path / "clean.errors.csv")
    entries = {(r["row"], r["record_id"], r["severity"], r["field"], r["code"]) for r in report}
    assert ("3", "a2", "error", "birth_date", "impossible_date") in entries
    assert ("4", "a3", "warning", "household_region", "abolished_region") in entries
    assert ("4", "a3", "flag", "record", "id_gender_mismatch") in entries
    assert ("5", "a1", "error", "record_id", "duplicate_record_id") in entries
    assert ("6", "", "error", "record_id", "missing") in entries
    assert ("6", "", "error", "name", "bad_character") in entries
    assert "5 rows: 2 written" in result.output


def test_clean_file_exits_zero_and_honours_errors_path(tmp_path: Path) -> None:
    source = tmp_path / "school.csv"
    write_csv(source, [["a1", "张三", "1", "2015-03-07", "", "none", "", ""]])
    out, report = tmp_path / "out.csv", tmp_path / "issues.csv"
    result = CliRunner().invoke(app(), ["normalize", str(source), "--out", str(out), "--errors", str(report)])
    assert result.exit_code == 0, result.output
    assert len(read_csv(out)) == 1
    assert read_csv(report) == []


def test_gb18030_export_is_read(tmp_path: Path) -> None:
    source = tmp_path / "school.csv"
    write_csv(source, [["a1", "张三", "男", "2015年3月7日", "汉族", "none", "", ""]], encoding="gb18030")
    assert detect_encoding(source) == "gb18030"
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app(), ["normalize", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_csv(out)[0]["name"] == "张三"


def test_utf8_with_bom_header(tmp_path: Path) -> None:
    source = tmp_path / "school.csv"
    write_csv(source, [["a1", "张三", "男", "2015-03-07", "", "none", "", ""]], encoding="utf-8-sig")
    assert detect_encoding(source) == "utf-8-sig"
    out = tmp_path / "out.csv"
    assert CliRunner().invoke(app(), ["normalize", str(source), "--out", str(out)]).exit_code == 0
    assert read_csv(out)[0]["record_id"] == "a1"


def test_ragged_rows_do_not_break_the_run(tmp_path: Path) -> None:
    source = tmp_path / "school.csv"
    source.write_text(
        ",".join(HEADER) + "\na1,张三,1,2015-03-07,,none,,,extra,cells\na2,李四\n", encoding="utf-8"
    )
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app(), ["normalize", str(source), "--out", str(out)])
    assert result.exit_code == 1
    assert [row["record_id"] for row in read_csv(out)] == ["a1"]
    codes = {(r["record_id"], r["code"]) for r in read_csv(tmp_path / "out.errors.csv")}
    assert ("a2", "missing") in codes


def test_missing_input_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app(), ["normalize", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
