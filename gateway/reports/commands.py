"""``gateway report progress`` and ``gateway report circular``: the monthly progress return and the
progress circular (进度通报) of a region as CSV and PNG files; ``gateway report matching``: reviewers'
decisions as labels, and the thresholds they suggest.

Operator's commands: they read the configured database directly (no API client) and record the run
in the audit trail. What a person reads (progress, the summary, the lagging units) goes to stdout;
JSON log lines go to stderr or ``GATEWAY_LOG_FILE`` (``gateway.terminal``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from gateway.reports.schemas import QualityReport
from gateway.settings import Settings

report_app = typer.Typer(help="Progress reports, circulars and matching reports.", no_args_is_help=True)
log = logging.getLogger("gateway.reports")


@contextmanager
def _reporting(settings: Settings, console: Console) -> Iterator[Session]:
    """A committed session on the configured database, the audit chain installed; a refusal is
    printed field by field and exits 2."""
    from gateway import sealing
    from gateway.db import build_engine, session_scope, upgrade_database
    from gateway.errors import GatewayError
    from gateway.keyring import load_keyring
    from gateway.wiring import install_logs

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sealing.install_from(load_keyring(settings))  # the reports read code columns
    upgrade_database(settings.resolved_database_url)
    install_logs()  # the reports' reading is audited
    engine = build_engine(settings.resolved_database_url, pool_size=2)
    try:
        with session_scope(engine) as session:
            yield session
    except GatewayError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for error in getattr(exc, "errors", []):
            console.print(f"  {error.field}: {error.message}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


@report_app.command("progress")
def progress(
    month: Annotated[str, typer.Option("--month", help="the month to report, YYYY-MM")],
    region: Annotated[str, typer.Option("--region", help="CN or a 2, 4 or 6-digit region prefix")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the CSV and PNG files into")],
) -> None:
    """Write the monthly progress return for each region one level below REGION into OUT."""
    from gateway.audit import service as audit
    from gateway.reports import export, service
    from gateway.terminal import operator_terminal

    settings = Settings()
    console = operator_terminal(settings)
    with _reporting(settings, console) as session:
        report = service.progress_report(session, month, region)
        audit.record(
            session,
            action="report.progress",
            actor="cli",
            object_type="region",
            object_ref=f"{report.region}/{month}",
        )
    written = export.write_report(report, out)
    log.info("progress report written", extra={"event": "report.progress", "status": len(written)})
    console.print(f"{len(report.regions)} regions, {len(written)} files written to {out}")
    for path in written:
        console.print(str(path), soft_wrap=True)


@report_app.command("circular")
def circular(
    date: Annotated[
        str, typer.Option("--date", help="the day of the circular, YYYY-MM-DD (figures at its end)")
    ],
    region: Annotated[str, typer.Option("--region", help="CN or a 2, 4 or 6-digit region prefix")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the CSV and PNG into")] = Path("."),
    lagging: Annotated[
        int, typer.Option("--lagging", min=1, max=100, help="how many lagging units to name")
    ] = 3,
) -> None:
    """Write the progress circular of REGION on DATE: its units ranked, the most lagging first (CSV and
    PNG), with the month's progress figures; print the lagging units."""
    from gateway.audit import service as audit
    from gateway.reports import export, quality, service
    from gateway.terminal import operator_terminal

    settings = Settings()
    console = operator_terminal(settings)
    with _reporting(settings, console) as session:
        console.print(f"circular {date} for {region}: reading the figures…")
        report = quality.quality_report(
            session, region, day=date, deadline_days=settings.problem_deadline_days
        )
        progress = None
        if report.unit_kind != "school":
            # The month's progress figures of the same units: the monthly return, not a second copy of it.
            progress = service.progress_report(session, date[:7], report.region, now=report.as_of)
        audit.record(
            session,
            action="report.circular",
            actor="cli",
            object_type="region",
            object_ref=f"{report.region}/{date}",
        )
    written = export.write_circular(report, progress, out, lagging)
    log.info("circular written", extra={"event": "report.circular", "status": len(report.units)})
    console.print(_summary(report, lagging))
    for path in written:
        console.print(str(path), soft_wrap=True)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _summary(report: QualityReport, lagging: int) -> Table:
    named = min(lagging, len(report.units))
    table = Table(
        title=f"{report.region} on {report.day}: {len(report.units)} units (by {report.unit_kind}), "
        f"the {named} most lagging first"
    )
    table.add_column("rank", justify="right")
    table.add_column("unit", no_wrap=True)
    for heading in ("submitted", "expected", "completion", "verified", "problems", "overdue"):
        table.add_column(heading, justify="right")
    for unit in report.units[:lagging]:
        table.add_row(
            str(unit.lag_rank),
            f"{unit.unit} {unit.name or ''}".strip(),
            str(unit.submitted),
            "unknown" if unit.expected is None else str(unit.expected),
            _percent(unit.completion_rate),
            _percent(unit.verification_rate),
            str(unit.problems_open),
            str(unit.problems_overdue),
        )
    return table


@report_app.command("matching")
def matching(
    precision: Annotated[
        float, typer.Option("--precision", help="auto-link precision the suggested thresholds must meet")
    ] = 0.999,
    region: Annotated[str, typer.Option("--region", help="CN or a 2, 4 or 6-digit region prefix")] = "CN",
) -> None:
    """Precision per band and score bucket from decided problem records, and suggested thresholds
    (accept them with: gateway matching accept-thresholds --match M --review R)."""
    from rich.table import Table

    from gateway.auth.jurisdiction import Jurisdiction
    from gateway.db import session_scope
    from gateway.registry.commands import operator_context, run_or_exit
    from gateway.reports.matching import matching_report

    with operator_context() as ctx, session_scope(ctx.engine) as session:
        deps = ctx.services.registry
        report = run_or_exit(
            lambda: matching_report(session, deps, Jurisdiction.parse(region), precision, actor="cli")
        )
    out = Console()
    for title, rows in (("per band", report.bands), ("per score bucket", report.buckets)):
        table = Table(title=f"{report.decided_pairs:,} decided pairs, {title}")
        for column in ("", "pairs", "same person", "precision"):
            table.add_column(column, justify="right")
        for row in rows:
            shown = "-" if row.precision is None else f"{row.precision:.4f}"
            table.add_row(row.label, f"{row.pairs:,}", f"{row.same:,}", shown)
        out.print(table)
    s = report.suggested
    out.print(
        f"thresholds now: match {report.current_match_probability:g}, review "
        f"{report.current_review_probability:g}; suggested for precision {s.precision:g}: match "
        f"{'-' if s.match_probability is None else f'{s.match_probability:g}'}, review "
        f"{'-' if s.review_probability is None else f'{s.review_probability:g}'}",
        soft_wrap=True,
        markup=False,
    )
