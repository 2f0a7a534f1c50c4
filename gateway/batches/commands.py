"""``gateway import FILE.csv``: register a school's batch file from the command line.

The rows go through the same batch service as ``POST /v1/batches`` (stored, then run resumably
under a lease), authorised as an existing client's role and jurisdiction; a rich progress bar
follows the run and the per-row results are written as CSV next to the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.batches.parsing import BatchFormat

_PROBLEM_OUTCOMES = ("rejected", "forbidden", "error")


def _format_of(path: Path, given: str | None) -> BatchFormat:
    if given:
        return BatchFormat(given)
    return BatchFormat.NDJSON if path.suffix.lower() in (".ndjson", ".jsonl") else BatchFormat.CSV


def import_file(
    file: Annotated[Path, typer.Argument(help="batch file: CSV with a header row, or NDJSON")],
    client_id: Annotated[
        str,
        typer.Option("--client-id", help="existing client whose role and jurisdiction authorise the rows"),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="results CSV (default: FILE with .results.csv)")
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or ndjson (default: by file extension)")
    ] = None,
) -> None:
    """Register every row of a batch file; prints counts per outcome and where the results went.

    Exits 0 when every row was registered (issued, existing or sent to review), 1 when some rows
    were rejected, refused or failed (see the results), 2 when the file or the client is unusable.
    """
    from gateway.app import build_context, close_context
    from gateway.auth import repository as clients
    from gateway.auth.caller import Caller
    from gateway.auth.scopes import Scope, held_scopes
    from gateway.auth.service import check_usable
    from gateway.batches import service
    from gateway.db import session_scope
    from gateway.errors import GatewayError, InvalidInput
    from gateway.identity.commands import detect_encoding
    from gateway.settings import Settings

    console = Console(stderr=True)
    if not file.is_file():
        console.print(f"[red]no such file:[/red] {file}")
        raise typer.Exit(code=2)
    if file_format not in (None, "csv", "ndjson"):
        console.print("[red]--format must be csv or ndjson[/red]")
        raise typer.Exit(code=2)
    results_path = out or file.with_suffix(".results.csv")
    settings = Settings()
    ctx = build_context(settings)
    try:
        with session_scope(ctx.engine) as session:
            client = clients.get_client(session, client_id)
            if client is None:
                console.print(f"[red]no such client:[/red] {client_id}")
                raise typer.Exit(code=2)
            try:
                check_usable(client, settings)
            except GatewayError as exc:
                console.print(f"[red]{exc.detail}[/red]")
                raise typer.Exit(code=2) from None
            scopes = held_scopes(client.role, client.scopes)
            caller = Caller.of_client(client, scopes=scopes, acting_user="cli")
        if Scope.BATCHES_WRITE.value not in scopes:
            console.print(f"[red]client {client_id} does not hold the scope batches:write[/red]")
            raise typer.Exit(code=2)
        text = file.read_text(encoding=detect_encoding(file), errors="replace")
        try:
            accepted = service.submit_batch(
                ctx.engine, ctx.keyring, caller, text, _format_of(file, file_format)
            )
        except InvalidInput as exc:
            for error in exc.errors:
                console.print(f"[red]{error.field}: {error.message}[/red]")
            raise typer.Exit(code=2) from None
        deps = ctx.services["registry"]
        with Progress(
            TextColumn("registering"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("rows", total=accepted.total_rows, completed=accepted.error_rows)
            service.run_batch(
                ctx.engine,
                deps,
                accepted.id,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        with session_scope(ctx.engine) as session:
            status = service.batch_status(session, caller, accepted.id)
            results_path.write_text(service.results_csv(session, caller, accepted.id), encoding="utf-8")
    finally:
        close_context(ctx)
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(status.counts.items()))
    console.print(
        f"batch {status.id}: {status.done_rows} of {status.total_rows} rows done ({counts}); "
        f"results in {results_path}"
    )
    if status.status != "done" or any(status.counts.get(o) for o in _PROBLEM_OUTCOMES):
        raise typer.Exit(code=1)
