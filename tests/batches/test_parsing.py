"""Reading batch files: whole-file refusals, per-row structural errors, row numbering, encodings."""

from __future__ import annotations

import json

import pytest

from gateway.batches.parsing import (
    BatchFormat,
    decode_upload,
    format_of_media_type,
    parse_batch,
)
from gateway.errors import InvalidInput

HEADER = "record_id,name,gender,birth_date,id_type,id_number,school_code,school_region"


def _csv(*lines: str) -> str:
    return "\n".join((HEADER, *lines)) + "\n"


def _codes(exc: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {e.code for e in exc.value.errors}


def test_csv_rows_become_bodies_numbered_by_file_line() -> None:
    text = _csv(
        "r1,王子涵,1,2016-09-01,none,,4101020001,410102",
        "",
        'r2,"李\n雨桐",2,2017-03-15,none,,4101020001,410102',
        "r3,张浩然,1,2015-01-02,none,,4101020001,410102",
    )
    parsed = parse_batch(text, BatchFormat.CSV)
    assert [r.row_number for r in parsed.rows] == [2, 4, 6]
    assert [r.record_id for r in parsed.rows] == ["r1", "r2", "r3"]
    first = parsed.rows[0].body
    assert first == {
        "record_id": "r1",
        "name": "王子涵",
        "gender": "1",
        "birth_date": "2016-09-01",
        "id_type": "none",
        "school_code": "4101020001",
        "school_region": "410102",
    }
    assert parsed.error_rows == 0


def test_too_many_cells_and_broken_quoting_become_error_rows_and_reading_goes_on() -> None:
    text = _csv(
        "r1,王子涵,1,2016-09-01,none,,4101020001,410102,extra",
        'r2,"王"x,1,2016-09-01,none,,4101020001,410102',
        "r3,张浩然,1,2015-01-02,none,,4101020001,410102",
    )
    parsed = parse_batch(text, BatchFormat.CSV)
    assert [(r.row_number, r.body is None) for r in parsed.rows] == [(2, True), (3, True), (4, False)]
    assert parsed.rows[0].record_id == "r1"
    assert parsed.rows[0].errors[0].code == "too_many_columns"
    assert parsed.rows[1].errors[0].code == "unparseable"
    assert parsed.error_rows == 2


def test_repeated_record_id_is_an_error_row() -> None:
    text = _csv(
        "same,王子涵,1,2016-09-01,none,,4101020001,410102",
        "same,张浩然,1,2015-01-02,none,,4101020001,410102",
    )
    rows = parse_batch(text, BatchFormat.CSV).rows
    assert rows[0].body is not None
    assert rows[1].body is None and rows[1].errors[0].code == "duplicate_record_id"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (HEADER + ",favourite_colour", "unknown_column"),
        (HEADER.replace(",school_region", ""), "missing_column"),
        (HEADER + ",name", "duplicate_column"),
    ],
)
def test_a_header_that_does_not_name_the_batch_columns_refuses_the_file(header: str, code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_batch(header + "\n王子涵\n", BatchFormat.CSV)
    assert code in _codes(exc)


def test_empty_file_and_too_many_rows_refuse_the_file() -> None:
    with pytest.raises(InvalidInput) as empty:
        parse_batch(HEADER + "\n", BatchFormat.CSV)
    assert "empty" in _codes(empty)
    with pytest.raises(InvalidInput) as nothing:
        parse_batch("", BatchFormat.CSV)
    assert "missing" in _codes(nothing)
    rows = [f"r{i},王子涵,1,2016-09-01,none,,4101020001,410102" for i in range(4)]
    with pytest.raises(InvalidInput) as many:
        parse_batch(_csv(*rows), BatchFormat.CSV, max_rows=3)
    assert "too_many_rows" in _codes(many)
    assert len(parse_batch(_csv(*rows[:3]), BatchFormat.CSV, max_rows=3).rows) == 3


def test_ndjson_lines_numbered_with_structural_errors_per_line() -> None:
    good = {"record_id": "a", "name": "王子涵", "gender": 1, "school_code": "4101020001", "ethnicity": None}
    lines = [
        json.dumps(good, ensure_ascii=False),
        "{not json",
        "",
        "[1, 2]",
        json.dumps({"record_id": "b", "colour": "red"}),
        json.dumps({"record_id": "c", "name": "line\u2028separator"}, ensure_ascii=False),
    ]
    parsed = parse_batch("\r\n".join(lines) + "\r\n", BatchFormat.NDJSON)
    assert [r.row_number for r in parsed.rows] == [1, 2, 4, 5, 6]
    assert parsed.rows[0].body == {
        "record_id": "a",
        "name": "王子涵",
        "gender": 1,
        "school_code": "4101020001",
    }
    assert [r.errors[0].code for r in parsed.rows[1:4]] == ["unparseable", "not_an_object", "unknown_field"]
    assert parsed.rows[3].record_id == "b"
    assert parsed.rows[4].body is not None and parsed.rows[4].body["name"] == "line\u2028separator"


def test_uploads_decode_as_utf8_with_or_without_bom_else_gb18030() -> None:
    text = HEADER + "\nr1,王子涵\n"
    assert decode_upload(text.encode("utf-8")) == text
    assert decode_upload(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode_upload(text.encode("gb18030")) == text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/csv", BatchFormat.CSV),
        ("text/csv; charset=utf-8", BatchFormat.CSV),
        ("application/x-ndjson", BatchFormat.NDJSON),
        ("application/json", None),
        (None, None),
    ],
)
def test_media_types(header: str | None, expected: BatchFormat | None) -> None:
    assert format_of_media_type(header) == expected
