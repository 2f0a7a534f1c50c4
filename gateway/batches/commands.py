"""``gateway import FILE.csv``: register a school's batch file from the command line.

The rows go through the same batch service as ``POST /v1/batches`` (stored, then run resumably
under a lease), authorised as an existing client's role and jurisdiction; a rich progress bar
follows the run and the per-row results are written as CSV next to the input.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gateway.auth import repository as clients
from gateway.auth.caller import Caller
from gateway.auth.scopes import Scope, held_scopes
from gateway.auth.service import check_usable
from gateway.batches import service
from gateway.batches.parsing import BatchFormat
from gateway.batches.schemas import BatchStatus
from gateway.context import AppContext
from gateway.db import session_scope
from gateway.errors import GatewayError, InvalidInput
from gateway.identity.commands import detect_encoding
from gateway.settings import Settings
from gateway.terminal import progress_bar
from gateway.wiring import build_context, close_context

_PROBLEM_OUTCOMES = ("rejected", "forbidden", "error")


def _format_of(path: Path, given: str | None) -> BatchFormat:
    if given:
        return BatchFormat(given)
    return BatchFormat.NDJSON if path.suffix.lower() in (".ndjson", ".jsonl") else BatchFormat.CSV


def _refuse(console: Console, message: str) -> typer.Exit:
    """Say why the file or the client is unusable; the command exits 2."""
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code=2)


def _caller_of(ctx: AppContext, client_id: str, console: Console) -> Caller:
    """The client the rows are registered as, if it exists, is usable and may submit batches."""
    with session_scope(ctx.engine) as session:
        client = clients.get_client(session, client_id)
        if client is None:
            raise _refuse(console, f"no such client: {client_id}")
        try:
            check_usable(client, ctx.settings)
        except GatewayError as exc:
            raise _refuse(console, exc.detail) from None
        scopes = held_scopes(client.role, client.scopes)
        caller = Caller.of_client(client, scopes=scopes, acting_user="cli")
    if Scope.BATCHES_WRITE.value not in scopes:
        raise _refuse(console, f"client {client_id} does not hold the scope batches:write")
    return caller


def _submit_or_resume(
    ctx: AppContext, caller: Caller, file: Path, fmt: BatchFormat, console: Console
) -> tuple[str, int, int]:
    """The batch of this file: the caller's unfinished one (a run stopped or killed), or a new one,
    stored from the file read as a stream. Returns its id, total rows and rows done already."""
    digest = service.file_digest(file)
    with session_scope(ctx.engine) as session:
        unfinished = service.unfinished_batch_of(session, caller, digest)
        if unfinished is not None:
            console.print(
                f"resuming batch {unfinished.id} of this file: {unfinished.done_rows:,} of "
                f"{unfinished.total_rows:,} rows done"
            )
            return unfinished.id, unfinished.total_rows, unfinished.done_rows
    console.print(f"storing the rows of {file.name}")
    try:
        with file.open(encoding=detect_encoding(file), errors="replace", newline="") as source:
            accepted = service.submit_batch(
                ctx.engine, ctx.keyring, caller, source, fmt, max_rows=None, digest=digest
            )
    except InvalidInput as exc:
        for error in exc.errors:
            console.print(f"[red]{error.field}: {error.message}[/red]")
        raise typer.Exit(code=2) from None
    return accepted.id, accepted.total_rows, accepted.error_rows


def _run_to_the_end(
    ctx: AppContext, batch_id: str, on_progress: service.ProgressCallback, console: Console, *, verify: bool
) -> None:
    """Run the batch until it is done; while another runner's lease on it is live (a killed run's,
    until it expires), wait and try again."""
    lease = ctx.settings.batch_lease_seconds
    waiting_said = False
    while True:
        report = service.run_batch(
            ctx.engine,
            ctx.services.registry,
            batch_id,
            lease_seconds=lease,
            verify_inline=verify,
            on_progress=on_progress,
            settings=ctx.settings,
        )
        if report.finished or service.is_done(ctx.engine, batch_id):
            return
        if not waiting_said:
            console.print(
                f"batch {batch_id} is held by another runner; waiting for it (at most {lease:.0f} s)"
            )
            waiting_said = True
        time.sleep(min(1.0, lease / 4))


def _register(
    ctx: AppContext, caller: Caller, file: Path, fmt: BatchFormat, results: Path, *, verify: bool
) -> BatchStatus:
    """Store the file's rows (or take up its unfinished batch), run them with a progress bar, write
    the per-row results."""
    console = Console(stderr=True)
    batch_id, total, done = _submit_or_resume(ctx, caller, file, fmt, console)
    with progress_bar(console, "registering") as progress:
        task = progress.add_task("rows", total=total, completed=done)
        _run_to_the_end(
            ctx,
            batch_id,
            lambda done, total: progress.update(task, completed=done, total=total),
            console,
            verify=verify,
        )
    with session_scope(ctx.engine) as session:
        with results.open("w", encoding="utf-8", newline="") as out:
            service.write_results(session, caller, batch_id, out)
        return service.batch_status(session, caller, batch_id)


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
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="verify each chunk's new persons in bulk as the load goes (default: `gateway worker` does)",
        ),
    ] = False,
) -> None:
    """Register every row of a batch file; prints counts per outcome and where the results went.

    Running it again on the same file after it was stopped (or killed) takes up where it was: rows
    done are never registered twice. Exits 0 when every row was registered (issued, existing or sent
    to review), 1 when some rows were rejected, refused or failed (see the results), 2 when the file
    or the client is unusable.
    """
    console = Console(stderr=True)
    if not file.is_file():
        raise _refuse(console, f"no such file: {file}")
    if file_format not in (None, "csv", "ndjson"):
        raise _refuse(console, "--format must be csv or ndjson")
    results_path = out or file.with_suffix(".results.csv")
    ctx = build_context(Settings())
    try:
        status = _register(
            ctx,
            _caller_of(ctx, client_id, console),
            file,
            _format_of(file, file_format),
            results_path,
            verify=verify,
        )
    finally:
        close_context(ctx)
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(status.counts.items()))
    pace = f" at {status.rows_per_second:,.0f} rows/s" if status.rows_per_second else ""
    console.print(
        f"batch {status.id}: {status.done_rows:,} of {status.total_rows:,} rows done{pace} ({counts}); "
        f"results in {results_path}"
    )
    if status.status != "done" or any(status.counts.get(o) for o in _PROBLEM_OUTCOMES):
        raise typer.Exit(code=1)


collection_app = typer.Typer(
    help="The collection workflow: the plan's deadlines per review step.", no_args_is_help=True
)


@collection_app.command("plan")
def collection_plan(
    region: Annotated[str, typer.Option("--region", help="a province (2 digits) or a city (4 digits)")],
    step: Annotated[
        str | None,
        typer.Option(
            "--step",
            help="submitted (a returned submission's correction), school_checked, "
            "county_reviewed or city_reviewed",
        ),
    ] = None,
    days: Annotated[int | None, typer.Option("--days", help="days the step may take")] = None,
) -> None:
    """Set how many days a review step may take in REGION's collection (a city's entry overrides its
    province's); without --step and --days, print the plan that applies there. Audited."""
    from gateway import sealing
    from gateway.batches import collection
    from gateway.db import build_engine, upgrade_database
    from gateway.keyring import load_keyring
    from gateway.wiring import install_logs

    console = Console()
    if (step is None) != (days is None):
        typer.echo("give both --step and --days to set a deadline, or neither to print the plan", err=True)
        raise typer.Exit(2)
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sealing.install_from(load_keyring(settings))
    upgrade_database(settings.resolved_database_url)
    install_logs()
    engine = build_engine(settings.resolved_database_url, pool_size=2)
    try:
        with session_scope(engine) as session:
            if step is not None and days is not None:
                collection.set_plan_step(session, region=region, step=step, days=days, actor="cli")
            plan = collection.Plans.load(session, [region.strip()]).for_region(region.strip())
    except InvalidInput as exc:
        for error in exc.errors:
            typer.echo(f"{error.field}: {error.code}: {error.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    console.print(f"collection plan for {region.strip()}:")
    for planned in collection.PLANNED_STEPS:
        held = plan.days.get(planned)
        console.print(f"  {planned.value:<16} {f'{held} days' if held is not None else 'no deadline'}")
