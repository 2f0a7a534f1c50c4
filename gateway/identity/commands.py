"""The batch edge of the identity domain: ``gateway normalize IN.csv --out OUT.csv`` reads a whole
school's file, writes each record that normalises in canonical form, and writes every error, warning
and cross-field flag to a per-row report, so the school can fix its data before registering it.
Rows stream through one at a time; only the record ids seen are kept, to catch duplicates."""

from __future__ import annotations

import codecs
import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import Progress

from gateway.identity.records import FLAG_MESSAGES, RECORD_FIELDS, normalise_record
from gateway.terminal import progress_bar

REPORT_FIELDS = ("row", "record_id", "severity", "field", "code", "message")
_PROGRESS_EVERY = 1000
_SNIFF_BYTES = 1 << 16


@dataclass
class NormalizeSummary:
    rows: int = 0
    written: int = 0
    rejected: int = 0
    warnings: int = 0
    flagged: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), else GB18030, which Chinese spreadsheet exports default to."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    try:
        # Not final: a multi-byte character may be cut at the end of the sample.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _SNIFF_BYTES)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _count_rows(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


def _rows(handle: TextIO) -> Iterator[dict[str, str | None]]:
    reader = csv.DictReader(handle)
    for row in reader:
        # Extra cells beyond the header land under the key None; they are not part of the record.
        yield {key: value for key, value in row.items() if key is not None and isinstance(value, str | None)}


def normalise_file(
    input_path: Path, out_path: Path, errors_path: Path, progress: Progress | None = None
) -> NormalizeSummary:
    """Normalise every row of ``input_path``; canonical rows to ``out_path``, issues to ``errors_path``."""
    summary = NormalizeSummary()
    started = time.perf_counter()
    seen_ids: set[str] = set()
    task = progress.add_task("normalising", total=_count_rows(input_path)) if progress else None
    encoding = detect_encoding(input_path)
    with (
        input_path.open(encoding=encoding, errors="replace", newline="") as source,
        out_path.open("w", encoding="utf-8", newline="") as out_handle,
        errors_path.open("w", encoding="utf-8", newline="") as report_handle,
    ):
        writer = csv.DictWriter(out_handle, fieldnames=RECORD_FIELDS)
        writer.writeheader()
        report = csv.writer(report_handle)
        report.writerow(REPORT_FIELDS)
        for row_number, row in enumerate(_rows(source), start=2):
            summary.rows += 1
            result = normalise_record(row, require_record_id=True)
            record_id = (
                result.record.record_id if result.record else (row.get("record_id") or "").strip()[:128]
            )
            errors = [(issue.field, issue.code, issue.message) for issue in result.errors]
            if record_id and record_id in seen_ids:
                errors.append(("record_id", "duplicate_record_id", "record_id appears earlier in this file"))
            elif record_id:
                seen_ids.add(record_id)
            for field, code, message in errors:
                report.writerow((row_number, record_id, "error", field, code, message))
            for issue in result.warnings:
                report.writerow((row_number, record_id, "warning", issue.field, issue.code, issue.message))
            for flag in result.flags:
                report.writerow(
                    (row_number, record_id, "flag", "record", flag, FLAG_MESSAGES.get(flag, flag))
                )
            summary.warnings += len(result.warnings)
            summary.flagged += bool(result.flags)
            if errors or result.record is None:
                summary.rejected += 1
            else:
                writer.writerow(result.record.to_dict())
                summary.written += 1
            if progress is not None and task is not None and summary.rows % _PROGRESS_EVERY == 0:
                progress.update(task, completed=summary.rows)
        if progress is not None and task is not None:
            progress.update(task, completed=summary.rows, total=summary.rows)
    summary.seconds = time.perf_counter() - started
    return summary


def normalize(
    input: Annotated[Path, typer.Argument(help="school CSV file in record-schema field names")],
    out: Annotated[Path, typer.Option("--out", help="where to write the canonical CSV")],
    errors: Annotated[
        Path | None, typer.Option("--errors", help="per-row issue report (default: OUT with .errors.csv)")
    ] = None,
) -> None:
    """Clean a school's batch file before registering it: canonical rows out, a per-row issue report.

    Exits 0 when every row normalised, 1 when some rows were rejected (see the report), 2 when the
    input file is missing."""
    console = Console(stderr=True)
    if not input.is_file():
        console.print(f"[red]no such file:[/red] {input}")
        raise typer.Exit(code=2)
    errors_path = errors or out.with_suffix(".errors.csv")
    with progress_bar(console) as progress:
        summary = normalise_file(input, out, errors_path, progress)
    console.print(
        f"{summary.rows} rows: {summary.written} written to {out}, {summary.rejected} rejected, "
        f"{summary.warnings} warnings, {summary.flagged} flagged; report in {errors_path} "
        f"({summary.rows_per_second:,.0f} rows/s)"
    )
    if summary.rejected:
        raise typer.Exit(code=1)
