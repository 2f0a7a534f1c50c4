"""``gateway year freeze`` and ``gateway year close``: the close of a school year for a region.

An operator's command: it reads the configured database directly, prints progress and a summary on
the terminal, and may be run again at any time: a close already done changes nothing, one that died
half-way resumes.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

year_app = typer.Typer(
    help="The school year: transfer freeze, graduation and promotion.", no_args_is_help=True
)

RegionOption = Annotated[str, typer.Option("--region", help="a 2, 4 or 6-digit region prefix")]
YearOption = Annotated[int, typer.Option("--year", help="the year the school year ends in (2026: 2025-26)")]


def _engine() -> Engine:
    from gateway import sealing
    from gateway.db import build_engine, upgrade_database
    from gateway.keyring import load_keyring
    from gateway.settings import Settings
    from gateway.wiring import install_logs

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sealing.install_from(load_keyring(settings))  # the close reads and writes code columns
    upgrade_database(settings.resolved_database_url)
    install_logs()  # audit trail and change feed
    return build_engine(settings.resolved_database_url, pool_size=2)


def _refused(console: Console, exc: Exception) -> None:
    console.print(f"[red]{getattr(exc, 'detail', exc)}[/red]")
    for error in getattr(exc, "errors", []):
        console.print(f"  {error.field}: {error.message}")


@year_app.command("freeze")
def freeze(region: RegionOption, year: YearOption) -> None:
    """Freeze transfers in REGION ahead of the close of YEAR (they reopen when the close is done)."""
    from gateway.errors import GatewayError
    from gateway.students import schoolyear

    console = Console(stderr=True)
    engine = _engine()
    try:
        close = schoolyear.freeze(engine, region=region, school_year=year, actor="cli")
    except GatewayError as exc:
        _refused(console, exc)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(
        f"school year {year - 1}-{year}, region {region}: {close.state}; transfers frozen until closed"
    )


@year_app.command("close")
def close(region: RegionOption, year: YearOption) -> None:
    """Close YEAR for REGION: final grades graduate, repeaters stay, everyone else is promoted."""
    from gateway.errors import GatewayError
    from gateway.students import schoolyear

    console = Console(stderr=True)
    engine = _engine()

    def progress(report: schoolyear.CloseReport) -> None:
        console.print(
            f"  {report.changed_now:,} students so far: {report.graduated:,} graduated, "
            f"{report.promoted:,} promoted, {report.repeaters:,} kept in grade"
        )

    try:
        report = schoolyear.close_year(
            engine, region=region, school_year=year, actor="cli", progress=progress
        )
    except GatewayError as exc:
        _refused(console, exc)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    done = (
        "no student changed this run"
        if report.changed_now == 0
        else f"{report.changed_now:,} students this run"
    )
    typer.echo(
        f"school year {year - 1}-{year}, region {region}: {report.state} ({done}); "
        f"{report.graduated:,} graduated, {report.promoted:,} promoted, {report.repeaters:,} kept in grade; "
        "transfers open again"
    )
    if report.without_grade:
        typer.echo(
            f"{report.without_grade:,} students in attendance have no grade recorded and were left as they "
            "are: record their grade (an enrolled event with grade) and run the close again"
        )
