"""``gateway schools import FILE``: load (or update) the school register from a CSV file.

An operator's command: it reads the configured database directly, writes all of the file or, when
any row is refused, nothing, and prints every refusal with its line and field. Audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

schools_app = typer.Typer(help="The school register.", no_args_is_help=True)


@schools_app.command("import")
def import_schools(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header row: school_code,name,region,type[,levels,enrolment,active,run_by]"
        ),
    ],
) -> None:
    """Load the school register from FILE; schools already registered are updated. Exit 1 (nothing
    changed) when any row is refused."""
    from gateway import sealing
    from gateway.db import build_engine, session_scope, upgrade_database
    from gateway.keyring import load_keyring
    from gateway.schools import service
    from gateway.settings import Settings
    from gateway.wiring import install_logs

    console = Console(stderr=True)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/red]")
        raise typer.Exit(2) from None
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sealing.install_from(load_keyring(settings))
    upgrade_database(settings.resolved_database_url)
    install_logs()  # the import is audited
    engine = build_engine(settings.resolved_database_url, pool_size=2)
    try:
        with session_scope(engine) as session:
            result = service.import_register(session, text, actor="cli")
    finally:
        engine.dispose()
    if not result.ok:
        console.print(f"[red]{file}: {len(result.errors)} refused; nothing was imported[/red]")
        for error in result.errors:
            typer.echo(f"line {error.line}: {error.field}: {error.code}: {error.message}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{file}: {result.created} schools added, {result.updated} updated, {result.unchanged} unchanged"
    )
