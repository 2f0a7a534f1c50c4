"""The ``gateway`` command line: serve, database, clients and their staff, audit and the batch tools.

Each command builds settings from the environment and calls the same services as the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gateway.settings import Settings

app = typer.Typer(help="Student Identity Gateway", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The gateway's own database.", no_args_is_help=True)
clients_app = typer.Typer(help="Registered API clients.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys: generate, rotate, list.", no_args_is_help=True)
staff_app = typer.Typer(help="Named people acting through clients (staff accounts).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.add_typer(staff_app, name="staff")
app.add_typer(audit_app, name="audit")

console = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


@app.callback()
def _private_files() -> None:
    """Every file a gateway process creates (database, keys, exports, checkpoints) is its own: 0600."""
    import os

    os.umask(0o077)


def _keys_or_exit(settings: Settings):  # type: ignore[no-untyped-def]
    """The keyring, or a clear message and exit 2 when production keys were not supplied."""
    from gateway.keyring import KeysRequired, load_keyring

    try:
        return load_keyring(settings)
    except KeysRequired as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


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
    from gateway.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.migrate_on_start:
        _engine(settings).dispose()  # keys supplied and the registry's, schema migrated: or no start
    else:
        _keys_or_exit(settings)
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

    sealing.install_from(_keys_or_exit(settings))


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    """The database, migrated, once this process's keys are known to be the registry's."""
    from gateway import sealing
    from gateway.db import build_engine, upgrade_database
    from gateway.registrykeys import KeysMismatch, check_registry_keys
    from gateway.wiring import install_logs

    install_logs()  # the commands below write the audit trail
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keyring = _keys_or_exit(settings)
    sealing.install_from(keyring)
    upgrade_database(settings.resolved_database_url)
    engine = build_engine(settings.resolved_database_url, pool_size=2)
    try:
        check_registry_keys(engine, keyring)
    except KeysMismatch as exc:
        engine.dispose()
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    return engine


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="The existing PostgreSQL role the gateway connects as.")],
) -> None:
    """As the owner (who runs migrations): give the gateway's own role what it needs and no more; it can
    only insert into and read the audit trail, and owns nothing it could alter or drop."""
    from sqlalchemy import text

    from gateway.db import app_role_grants

    settings = _settings()
    if settings.is_sqlite:
        console.print("[red]database roles are a PostgreSQL matter; SQLite has none[/red]")
        raise typer.Exit(2)
    try:
        statements = app_role_grants(role)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    with _engine(settings).begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    typer.echo(f"granted to {role}: tables read/write, audit_event insert and read only")


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


def _school_region(session: object) -> Callable[[str], str | None]:
    """Where the school register places a school code (None: not in the register).

    The one place staff accounts read the register through: the register (``gateway/schools``) is
    being built on another branch; until it is wired here no school is placed, so a school-level
    staff account can be added only under that school's own client.
    """
    return lambda code: None


def _print_errors(exc) -> None:  # type: ignore[no-untyped-def]
    for err in getattr(exc, "errors", []) or []:
        console.print(f"[red]{err.field}[/red]: {err.message}")
    if not getattr(exc, "errors", None):
        console.print(f"[red]{exc.detail}[/red]")


@staff_app.command("add")
def staff_add(
    client: Annotated[str, typer.Option(help="The client the person acts through (cl_...).")],
    login: Annotated[str, typer.Option(help="What they sign in with: lower-case ASCII, e.g. li.na")],
    name: Annotated[str, typer.Option(help="Their real name, as on their ID card (e.g. 李娜).")],
    role: Annotated[
        str,
        typer.Option(help="entry_clerk, school_reviewer, county_reviewer, city_reviewer, province_operator"),
    ],
    jurisdiction: Annotated[
        str | None, typer.Option(help="The client's (default) or narrower: a region prefix or school code")
    ] = None,
) -> None:
    """Add a named person under a client; prints their staff id and initial password (shown once) as JSON."""
    from gateway.audit import service as audit
    from gateway.auth import staff
    from gateway.db import session_scope
    from gateway.errors import GatewayError

    try:
        with session_scope(_engine(_settings())) as session:
            created = staff.add_staff(
                session,
                client_id=client,
                login=login,
                name=name,
                role=role,
                jurisdiction=jurisdiction,
                school_region=_school_region(session),
            )
            audit.record(
                session, action="staff.add", actor="cli", object_type="staff", object_ref=created.staff.id
            )
            out = {
                "staff_id": created.staff.id,
                "login": created.staff.login,
                "password": created.password,
                "client_id": created.staff.client_id,
                "role": created.staff.role,
                "jurisdiction": created.staff.jurisdiction,
            }
    except GatewayError as exc:
        _print_errors(exc)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(out, ensure_ascii=False))


@staff_app.command("list")
def staff_list(
    client: Annotated[str | None, typer.Option(help="Only this client's people.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List staff accounts (never their passwords)."""
    from gateway.auth import staff
    from gateway.db import session_scope

    with session_scope(_engine(_settings())) as session:
        rows = [
            {
                "staff_id": s.id,
                "login": s.login,
                "name": s.name,
                "client_id": s.client_id,
                "role": s.role,
                "jurisdiction": s.jurisdiction,
                "state": "disabled" if s.disabled_at else "active",
                "last_sign_in_at": s.last_sign_in_at.isoformat() if s.last_sign_in_at else None,
            }
            for s in staff.list_staff(session, client)
        ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table("staff_id", "login", "name", "client_id", "role", "jurisdiction", "state", "last sign-in")
    for row in rows:
        table.add_row(
            *(
                str(row[k] or "never")
                for k in (
                    "staff_id",
                    "login",
                    "name",
                    "client_id",
                    "role",
                    "jurisdiction",
                    "state",
                    "last_sign_in_at",
                )
            )
        )
    Console().print(table)


def _change_staff(staff_id: str, action: str) -> object:
    from gateway.audit import service as audit
    from gateway.auth import staff
    from gateway.db import session_scope
    from gateway.errors import GatewayError

    change = {
        "disable": staff.disable_staff,
        "enable": staff.enable_staff,
        "reset-password": staff.reset_password,
    }
    try:
        with session_scope(_engine(_settings())) as session:
            result = change[action](session, staff_id)
            audit.record(
                session, action=f"staff.{action}", actor="cli", object_type="staff", object_ref=staff_id
            )
    except GatewayError as exc:
        _print_errors(exc)
        raise typer.Exit(1) from None
    return result


@staff_app.command("disable")
def staff_disable(staff_id: str) -> None:
    """Disable a staff account: its sessions and every request naming it are refused at once."""
    _change_staff(staff_id, "disable")
    typer.echo(f"{staff_id} disabled")


@staff_app.command("enable")
def staff_enable(staff_id: str) -> None:
    """Re-enable a disabled staff account."""
    _change_staff(staff_id, "enable")
    typer.echo(f"{staff_id} enabled")


@staff_app.command("reset-password")
def staff_reset_password(staff_id: str) -> None:
    """Give a staff account a new password (printed once as JSON); the old one stops working."""
    result = _change_staff(staff_id, "reset-password")
    typer.echo(json.dumps({"staff_id": staff_id, "password": result.password}))  # type: ignore[attr-defined]


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain, then check it against the newest signed checkpoint (exit 1 if either fails)."""
    from gateway.audit import checkpoints
    from gateway.audit.service import verify_chain
    from gateway.db import session_scope

    settings = _settings()
    keyring = _keys_or_exit(settings)
    with session_scope(_engine(settings)) as session:
        report = verify_chain(session)
        against = checkpoints.verify(session, settings.resolved_checkpoint_dir, keyring.jwks())
    if not report.ok:
        typer.echo(f"audit trail broken at row {report.first_bad_id}: {report.reason}")
        raise typer.Exit(1)
    if not against.ok:
        typer.echo(f"audit trail does not match its checkpoint: {against.problem}")
        raise typer.Exit(1)
    seen = (
        f"; matches the checkpoint of row {against.checked.head_id} ({against.checked.at:%Y-%m-%d %H:%M} UTC)"
        if against.checked
        else "; no checkpoint written yet (gateway audit checkpoint)"
    )
    typer.echo(f"audit trail intact: {report.rows_checked} rows checked{seen}")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain's head and write it outside the database (GATEWAY_AUDIT_CHECKPOINT_DIR)."""
    from gateway.audit import checkpoints
    from gateway.db import session_scope

    settings = _settings()
    keyring = _keys_or_exit(settings)
    with session_scope(_engine(settings)) as session:
        written = checkpoints.checkpoint_now(session, settings.resolved_checkpoint_dir, keyring)
    typer.echo(f"checkpoint written: {written.name}" if written else "nothing new to checkpoint")


@keys_app.command("generate")
def keys_generate(
    directory: Annotated[str, typer.Argument(help="The key directory to add a new key to (created 0700).")],
) -> None:
    """Add a new EC P-256 signing key to a directory; it becomes the one that signs (prints its kid)."""
    from pathlib import Path

    from gateway.keyring import load_key_set, new_key_file

    path = new_key_file(Path(directory))
    typer.echo(f"{path.name}: kid {load_key_set(Path(directory)).kid}")


@keys_app.command("rotate")
def keys_rotate(
    purpose: Annotated[str, typer.Option(help="tokens or statements")],
) -> None:
    """Add a new key to the purpose's directory: it signs from the next start; the previous keys still
    verify (and are published) until their files are removed after the overlap (README: Keys)."""
    from gateway.keyring import load_key_set, new_key_file

    settings = _settings()
    if purpose not in ("tokens", "statements"):
        console.print("[red]--purpose must be tokens or statements[/red]")
        raise typer.Exit(2)
    directory = (
        (settings.token_keys_dir or settings.keys_dir / "tokens")
        if purpose == "tokens"
        else (settings.statement_keys_dir or settings.keys_dir / "statements")
    )
    path = new_key_file(directory)
    keys = load_key_set(directory)
    typer.echo(
        f"{purpose}: {path.name} signs from the next start (kid {keys.kid}); {len(keys.keys)} keys verify"
    )


@keys_app.command("list")
def keys_list() -> None:
    """The kids of every key that verifies, per purpose, the signing one first."""
    keyring = _keys_or_exit(_settings())
    for purpose, keys in (("tokens", keyring.token_keys), ("statements", keyring.statement_keys)):
        for n, jwk in enumerate(keys.public_jwks()):
            typer.echo(f"{purpose}\t{jwk['kid']}\t{'signs' if n == 0 else 'verifies'}")


def _register_domain_commands() -> None:
    from gateway.batches.commands import collection_app, import_file
    from gateway.identity.commands import normalize
    from gateway.matching.commands import register as register_matching_commands
    from gateway.registry.commands import matching_app, sweep_command
    from gateway.reports.commands import report_app
    from gateway.schools.commands import schools_app
    from gateway.students.commands import year_app
    from gateway.worker import worker
    from mocks.server import serve as serve_mocks

    app.command("normalize")(normalize)
    app.command("import")(import_file)
    app.add_typer(report_app, name="report")
    app.add_typer(schools_app, name="schools")
    app.add_typer(collection_app, name="collection")
    app.add_typer(year_app, name="year")
    register_matching_commands(app)
    app.add_typer(matching_app, name="matching")
    app.command("sweep")(sweep_command)
    app.command("worker")(worker)
    mocks_app = typer.Typer(help="The mock government systems (development and tests).", no_args_is_help=True)
    mocks_app.command("serve")(serve_mocks)
    app.add_typer(mocks_app, name="mocks")


_register_domain_commands()


def main() -> None:
    app()
