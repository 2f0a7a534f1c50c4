"""Reading a bulk registration file (CSV with a header row, or NDJSON) into numbered rows.

Pure functions over text: no I/O, no database. A file that cannot be a batch at all (unknown or
missing columns, no rows, too many rows) is refused as a whole with field errors; a single row that
cannot be read (broken quoting, too many cells, a line that is not a JSON object, a repeated
record_id) becomes an error row, so one bad line never costs the school the rest of its file.
Row numbers are the line of the file where the record starts (the CSV header is line 1), the same
numbering ``gateway normalize`` reports, so a school can find the line it has to fix.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TextIO

from gateway.errors import FieldError, InvalidInput
from gateway.identity.records import MAX_RECORD_ID, RECORD_FIELDS

MAX_ROWS = 100_000
REGISTRATION_COLUMNS = ("school_region", "guardian_id_number")
ALLOWED_COLUMNS = frozenset(RECORD_FIELDS) | frozenset(REGISTRATION_COLUMNS)
REQUIRED_COLUMNS = ("name", "gender", "birth_date", "id_type", "school_code", "school_region")


class BatchFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"


MEDIA_TYPES: dict[str, BatchFormat] = {
    "text/csv": BatchFormat.CSV,
    "application/x-ndjson": BatchFormat.NDJSON,
    "application/ndjson": BatchFormat.NDJSON,
}


@dataclass(frozen=True)
class ParsedRow:
    """One record of the file: the registration body, or why the line could not be read."""

    row_number: int
    record_id: str | None
    body: dict[str, Any] | None
    errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class ParsedBatch:
    format: BatchFormat
    rows: list[ParsedRow] = field(default_factory=list)

    @property
    def error_rows(self) -> int:
        return sum(1 for row in self.rows if row.body is None)


def format_of_media_type(content_type: str | None) -> BatchFormat | None:
    """The batch format named by a Content-Type header (parameters such as charset ignored)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return MEDIA_TYPES.get(media_type)


def decode_upload(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: the rule of ``gateway normalize`` for whole bodies."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def parse_batch(text: str, fmt: BatchFormat, *, max_rows: int = MAX_ROWS) -> ParsedBatch:
    """Split a batch file into rows; raises InvalidInput if the file as a whole is not a batch."""
    return ParsedBatch(
        format=fmt, rows=list(iter_batch(io.StringIO(text, newline=""), fmt, max_rows=max_rows))
    )


def iter_batch(source: TextIO, fmt: BatchFormat, *, max_rows: int | None = MAX_ROWS) -> Iterator[ParsedRow]:
    """The rows of a batch file read as a stream (a province's file need not fit in memory); raises
    InvalidInput, before or while yielding, if the file as a whole is not a batch (``max_rows``:
    None for no limit)."""
    lines = _without_bom(source)
    rows = _csv_rows(lines) if fmt is BatchFormat.CSV else _ndjson_rows(lines)
    seen_ids: set[str] = set()
    count = 0
    for row in rows:
        if max_rows is not None and count >= max_rows:
            raise InvalidInput(
                errors=[FieldError("body", "too_many_rows", f"a batch holds at most {max_rows} rows")]
            )
        count += 1
        yield _check_record_id(row, seen_ids)
    if not count:
        raise InvalidInput(errors=[FieldError("body", "empty", "the file holds no rows")])


def _without_bom(source: TextIO) -> Iterator[str]:
    first = True
    for line in source:
        yield line.removeprefix("\ufeff") if first else line
        first = False


def _check_record_id(row: ParsedRow, seen: set[str]) -> ParsedRow:
    if row.record_id is None:
        return row
    if row.record_id in seen:
        error = FieldError("record_id", "duplicate_record_id", "record_id appears earlier in this file")
        return ParsedRow(row.row_number, row.record_id, None, (*row.errors, error))
    seen.add(row.record_id)
    return row


def _record_id(value: object) -> str | None:
    # Kept only to name the row in the results; the registry validates the value itself.
    text = value.strip() if isinstance(value, str) else None
    return text[:MAX_RECORD_ID] if text else None


def _check_header(header: list[str]) -> list[str]:
    names = [name.strip() for name in header]
    errors: list[FieldError] = []
    unknown = [name for name in names if name not in ALLOWED_COLUMNS]
    if unknown:
        errors.append(
            FieldError("header", "unknown_column", f"unknown column(s): {', '.join(sorted(set(unknown)))}")
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        errors.append(FieldError("header", "duplicate_column", f"repeated column(s): {', '.join(repeated)}"))
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        errors.append(FieldError("header", "missing_column", f"missing column(s): {', '.join(missing)}"))
    if errors:
        raise InvalidInput("The header row does not name the batch columns.", errors=errors)
    return names


def _csv_rows(lines: Iterator[str]) -> Iterator[ParsedRow]:
    # strict: a stray quote is reported for its row instead of being read silently as data.
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(errors=[FieldError("header", "missing", "the file has no header row")]) from None
    except csv.Error as exc:
        raise InvalidInput(errors=[FieldError("header", "unreadable", str(exc))]) from None
    columns = _check_header(header)
    line_after = reader.line_num
    while True:
        start = line_after + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_after = reader.line_num
            yield ParsedRow(start, None, None, (FieldError("row", "unparseable", f"unreadable CSV: {exc}"),))
            continue
        line_after = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            values = dict(zip(columns, cells, strict=False))
            error = FieldError(
                "row", "too_many_columns", f"{len(cells)} cells for {len(columns)} header columns"
            )
            yield ParsedRow(start, _record_id(values.get("record_id")), None, (error,))
            continue
        # Blank cells are absent values: an empty optional column must not read as an invalid value.
        body = {name: cell for name, cell in zip(columns, cells, strict=False) if cell.strip()}
        yield ParsedRow(start, _record_id(body.get("record_id")), body)


def _ndjson_rows(lines: Iterator[str]) -> Iterator[ParsedRow]:
    # The lines come split on newlines only (a file read with newline=""): str.splitlines() would
    # also break inside a JSON string holding U+2028.
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            yield ParsedRow(
                line_number, None, None, (FieldError("row", "unparseable", "the line is not valid JSON"),)
            )
            continue
        if not isinstance(value, dict):
            yield ParsedRow(
                line_number,
                None,
                None,
                (FieldError("row", "not_an_object", "the line is not a JSON object"),),
            )
            continue
        record_id = _record_id(value.get("record_id"))
        unknown = sorted(key for key in value if key not in ALLOWED_COLUMNS)
        if unknown:
            error = FieldError("row", "unknown_field", f"unknown field(s): {', '.join(unknown)}")
            yield ParsedRow(line_number, record_id, None, (error,))
            continue
        yield ParsedRow(line_number, record_id, {k: v for k, v in value.items() if v is not None})
