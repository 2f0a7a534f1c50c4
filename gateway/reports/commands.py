"""``gateway report progress``: write the monthly progress return of a region as CSV and PNG files;
``gateway report matching``: reviewers' decisions as labels, and the thresholds they suggest.

An operator's command: it reads the configured database directly (no API client), records the run
in the audit trail, and writes one CSV and one PNG chart per child region plus a summary CSV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

report_app = typer.Typer(help="Progress and matching reports.", no_args_is_help=True)


@report_app.command("progress")
def progress(
    month: Annotated[str, typer.Option("--month", help="the month to report, YYYY-MM")],
    region: Annotated[str, typer.Option("--region", help="CN or a 2, 4 or 6-digit region prefix")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the CSV and PNG files into")],
) -> None:
    """Write the monthly progress return for each region one level below REGION into OUT."""
    from gateway import sealing
    from gateway.audit import service as audit
    from gateway.db import build_engine, session_scope, upgrade_database
    from gateway.errors import GatewayError
    from gateway.keyring import load_keyring
    from gateway.reports import export, service
    from gateway.settings import Settings
    from gateway.wiring import install_logs

    console = Console(stderr=True)
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sealing.install_from(load_keyring(settings))  # the report reads code columns
    upgrade_database(settings.resolved_database_url)
    install_logs()  # the report's reading is audited
    engine = build_engine(settings.resolved_database_url, pool_size=2)
    try:
        with session_scope(engine) as session:
            report = service.progress_report(session, month, region)
            audit.record(
                session,
                action="report.progress",
                actor="cli",
                object_type="region",
                object_ref=f"{report.region}/{month}",
            )
    except GatewayError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for error in getattr(exc, "errors", []):
            console.print(f"  {error.field}: {error.message}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    written = export.write_report(report, out)
    console.print(f"{len(report.regions)} regions, {len(written)} files written to {out}")
    for path in written:
        typer.echo(str(path))


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
