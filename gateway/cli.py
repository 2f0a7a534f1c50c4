"""The ``gateway`` command line: serve, database, clients, audit and the batch tools.

Each command builds settings from the environment and calls the same services as the API.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway.settings import Settings

app = typer.Typer(help="Student Identity Gateway", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The gateway's own database.", no_args_is_help=True)
clients_app = typer.Typer(help="Registered API clients.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(audit_app, name="audit")

console = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default from settings).")] = None,
    mocks: Annotated[
        bool | None, typer.Option("--mocks/--no-mocks", help="Also start the mock government systems.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (default from settings).")
    ] = None,
) -> None:
    """Run the HTTP service (migrations are applied at start-up)."""
    import os

    import uvicorn

    from gateway.app import create_app
    from gateway.db import upgrade_database
    from gateway.observability import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if mocks if mocks is not None else settings.start_mocks:
        from gateway.mockrunner import start_dev_mocks

        start_dev_mocks()
    processes = workers or settings.workers
    if processes == 1:
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            access_log=False,
        )
        return
    # Several processes: migrate and create the keys once here, so the workers neither race on them
    # nor migrate concurrently; each worker builds its own app from the same environment.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _install_sealer(settings)
    upgrade_database(settings.resolved_database_url)
    os.environ["GATEWAY_MIGRATE_ON_START"] = "false"
    uvicorn.run(
        "gateway.app:create_app_from_env",
        factory=True,
        workers=processes,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply alembic migrations to the configured database."""
    from gateway.db import upgrade_database

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _install_sealer(settings)
    upgrade_database(settings.resolved_database_url, revision)
    console.print(f"database at revision {revision}")


def _install_sealer(settings: Settings) -> None:
    """Load (or create) the keys and install the code sealer: migrations and code columns need it."""
    from gateway import sealing
    from gateway.keyring import load_keyring

    sealing.install_from(load_keyring(settings))


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from gateway.db import build_engine, upgrade_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _install_sealer(settings)
    upgrade_database(settings.resolved_database_url)
    return build_engine(settings.resolved_database_url, pool_size=2)


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="Who the client is (a person or a system).")],
    role: Annotated[
        str, typer.Option(help="central, province, city, county, school, reviewer, partner, registry")
    ],
    jurisdiction: Annotated[
        str, typer.Option(help="CN, a region prefix (41, 4101, 410102) or a school code")
    ],
    scopes: Annotated[str, typer.Option(help='Space-separated scopes, or "all"')],
    stage: Annotated[str | None, typer.Option(help="Registry stage (registry role only)")] = None,
) -> None:
    """Register a client and print its id and secret as JSON (the secret is shown only once)."""
    from gateway.auth import service
    from gateway.db import session_scope
    from gateway.errors import InvalidInput

    settings = _settings()
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            created = service.create_client(
                session, name=name, role=role, jurisdiction=jurisdiction, scopes=scopes, stage=stage
            )
            out = {
                "client_id": created.client.id,
                "client_secret": created.secret,
                "role": created.client.role,
                "jurisdiction": created.client.jurisdiction,
                "scopes": created.client.scopes,
            }
    except InvalidInput as exc:
        for err in exc.errors:
            console.print(f"[red]{err.field}[/red]: {err.message}")
        raise typer.Exit(2) from None
    typer.echo(json.dumps(out))


@clients_app.command("list")
def clients_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False) -> None:
    """List registered clients (never their secrets)."""
    from gateway.auth import service
    from gateway.db import session_scope

    settings = _settings()
    with session_scope(_engine(settings)) as session:
        rows = [
            {
                "client_id": c.id,
                "name": c.name,
                "role": c.role,
                "jurisdiction": c.jurisdiction,
                "stage": c.stage,
                "scopes": c.scopes,
                "state": "disabled"
                if c.disabled_at
                else ("frozen" if service.is_frozen(c, settings) else "active"),
                "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
            }
            for c in service.list_clients(session)
        ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table("client_id", "name", "role", "jurisdiction", "state", "last used")
    for row in rows:
        table.add_row(
            str(row["client_id"]),
            str(row["name"]),
            str(row["role"]),
            str(row["jurisdiction"]),
            str(row["state"]),
            str(row["last_used_at"] or "never"),
        )
    Console().print(table)


def _set_enabled(client_id: str, enabled: bool) -> None:
    from gateway.auth import service
    from gateway.db import session_scope
    from gateway.errors import NotFound

    settings = _settings()
    try:
        with session_scope(_engine(settings)) as session:
            if enabled:
                service.enable_client(session, client_id)
            else:
                service.disable_client(session, client_id)
    except NotFound as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    typer.echo(f"{client_id} {'enabled' if enabled else 'disabled'}")


@clients_app.command("disable")
def clients_disable(client_id: str) -> None:
    """Disable a client: its tokens stop working at once."""
    _set_enabled(client_id, False)


@clients_app.command("enable")
def clients_enable(client_id: str) -> None:
    """Re-enable a disabled or frozen client."""
    _set_enabled(client_id, True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain and report the first tampered row (exit 1 if any)."""
    from gateway.audit.service import verify_chain
    from gateway.db import session_scope

    settings = _settings()
    with session_scope(_engine(settings)) as session:
        report = verify_chain(session)
    if report.ok:
        typer.echo(f"audit trail intact: {report.rows_checked} rows checked")
        return
    typer.echo(f"audit trail broken at row {report.first_bad_id}: {report.reason}")
    raise typer.Exit(1)


def _register_domain_commands() -> None:
    from gateway.batches.commands import import_file
    from gateway.identity.commands import normalize
    from gateway.matching.commands import register as register_matching_commands
    from gateway.registry.commands import worker
    from gateway.reports.commands import report_app
    from mocks.server import serve as serve_mocks

    app.command("normalize")(normalize)
    app.command("import")(import_file)
    app.add_typer(report_app, name="report")
    register_matching_commands(app)
    app.command("worker")(worker)
    mocks_app = typer.Typer(help="The mock government systems (development and tests).", no_args_is_help=True)
    mocks_app.command("serve")(serve_mocks)
    app.add_typer(mocks_app, name="mocks")


_register_domain_commands()


def main() -> None:
    app()
