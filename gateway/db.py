"""The gateway's own database: engine construction, sessions, migrations and cross-replica locks.

SQLite (embedded default) and PostgreSQL (production) are both first-class: the same alembic
migrations build both, and the guarantees that must hold across replicas (one code per person,
never-reused codes, idempotent requests) live in the database as constraints and locks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine with the settings each backend needs for safe concurrent use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Children's records: the file (and the -wal/-shm files SQLite gives the same mode) is the
            # gateway's own, 0600, whatever the umask.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The sqlite3 driver's own transaction handling would defer BEGIN and break
            # SELECT-then-write sequences; we issue BEGIN IMMEDIATE ourselves (see below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                return
            # One writer at a time: taking the write lock at BEGIN makes every transaction
            # serialisable and avoids upgrade deadlocks between concurrent readers-then-writers.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply the alembic migrations up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_grants(role: str) -> list[str]:
    """The privileges of the role the gateway connects as in production (PostgreSQL), in the current
    schema: read and write its tables, but only insert into and read the audit trail; never own a
    table, so it can neither alter nor drop the trail or its append-only triggers. Migrations run as
    the owner. Run these as the owner (``gateway db grant-app-role``)."""
    if not _ROLE_NAME.match(role):
        raise ValueError("a role name is lower-case letters, digits and _, starting with a letter or _")
    return [
        f"""DO $$ BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO {role}', current_schema());
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {role}',
                 current_schema());
  EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {role}', current_schema());
  EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO {role}', current_schema());
END $$""",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
    ]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except Exception:
            return None
    return str(row[0]) if row else None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work for code outside a request (CLI, worker): commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks, from any strings."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_LOCK_ONE = text("SELECT pg_advisory_xact_lock(:k)")
_LOCK_MANY = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def advisory_xact_locks(session: Session, names: list[str]) -> None:
    """Take several advisory locks at once, in a fixed order so that two transactions never deadlock."""
    if is_postgres(session) and names:
        keys = sorted({lock_key(name) for name in names})
        session.connection().execute(_LOCK_MANY, {"keys": keys})


def write_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (all with the same columns) into ``table`` in the session's transaction: by
    COPY on PostgreSQL, each value passed through its column's type first (sealed columns are
    sealed as an INSERT would seal them), by one executemany INSERT on SQLite."""
    if not rows:
        return
    connection = session.connection()
    if not is_postgres(session):
        connection.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    dialect = connection.dialect
    processors = [table.c[name].type.bind_processor(dialect) for name in names]
    quote = dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([p(row[n]) if p else row[n] for n, p in zip(names, processors, strict=True)])


_GATE_KEY = lock_key("registration-gate")
_GATE_SHARED = text("SELECT pg_advisory_xact_lock_shared(:k)")


def registration_gate(session: Session, *, exclusive: bool) -> None:
    """The gate every writer of persons' blocking keys passes until its transaction ends: shared by
    single registrations and corrections (which then lock their own keys), exclusive for a bulk
    load's unit of work, which decides thousands of rows at once and so cannot lock their keys one
    by one (PostgreSQL's lock table holds a few thousand locks in all). While a bulk unit of work
    holds it, single registrations wait for it to commit, and the other way round. SQLite's write
    lock already serialises every writer."""
    if is_postgres(session):
        session.connection().execute(_LOCK_ONE if exclusive else _GATE_SHARED, {"k": _GATE_KEY})


def advisory_xact_lock(session: Session, *parts: str) -> None:
    """Serialise transactions on a name until the current transaction ends.

    On PostgreSQL this is a transaction-scoped advisory lock, so it holds across replicas. SQLite
    transactions already hold the database write lock from BEGIN IMMEDIATE, which serialises them.
    """
    if is_postgres(session):
        session.connection().execute(_LOCK_ONE, {"k": lock_key(*parts)})


# --- the append-only logs (audit chain, change feed) -------------------------------------------
#
# Both logs are global orders: audit rows are chained by hash, feed versions strictly increase in
# commit order. So every transaction that appends takes one global lock, and holds it until it
# commits. To hold it as briefly as possible, appends are only noted during the transaction; just
# before it commits, its own rows are flushed first, and then the notes are written under the lock:
# on PostgreSQL in one call of the ``gateway_append`` function (migration 0009), so that only that
# call and the COMMIT happen inside the lock; on SQLite (one writer at a time anyway) by each log's
# own statements. A rolled-back transaction's notes are dropped.

APPEND_LOCK = "append-logs"


@dataclass(frozen=True)
class Appender:
    """One append-only log: where its notes are kept, how it writes them itself (under the lock),
    and what it hands to ``gateway_append`` (its rows as JSON, and what to do with the result)."""

    key: str
    write: Callable[[Session], None]
    argument: str  # the gateway_append parameter its rows go to: audit_rows or feed_rows
    export: Callable[[Session], tuple[list[dict[str, Any]], Callable[[list[Any]], None]]]


# The logs installed in this process, by their note key. Nothing is installed at import: the
# composition root (``gateway.wiring.install_logs``) installs the audit chain and the change feed, and a
# note for a log that is not installed is refused rather than silently dropped at commit.
_APPENDERS: dict[str, Appender] = {}


def install_append_logs(*appenders: Appender) -> None:
    """Write these logs' notes at commit (and drop them on rollback). Idempotent."""
    for appender in appenders:
        _APPENDERS[appender.key] = appender
    if not event.contains(Session, "before_commit", _append_logs):
        event.listen(Session, "before_commit", _append_logs)
        event.listen(Session, "after_rollback", _drop_appends)


def note_append(session: Session, appender: Appender, row: Any) -> None:
    """Note a row for an append-only log; it is written just before the transaction commits."""
    if _APPENDERS.get(appender.key) is not appender:
        raise RuntimeError(
            f"the {appender.key} log is not installed in this process (gateway.wiring.install_logs)"
        )
    session.info.setdefault(appender.key, []).append(row)


def take_append_lock(session: Session) -> None:
    advisory_xact_lock(session, APPEND_LOCK)


def _append_logs(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint being released: the transaction itself has not committed yet
    due = [a for a in _APPENDERS.values() if session.info.get(a.key)]
    if not due:
        return
    session.flush()  # the transaction's own rows, before the global lock is taken
    if not is_postgres(session):
        take_append_lock(session)
        for appender in due:
            appender.write(session)
        return
    arguments: dict[str, list[dict[str, Any]]] = {"audit_rows": [], "feed_rows": []}
    finish = []
    for appender in due:
        rows, done = appender.export(session)
        arguments[appender.argument] = rows
        finish.append(done)
    result = session.execute(
        text("SELECT * FROM gateway_append(:key, CAST(:audit AS jsonb), CAST(:feed AS jsonb))"),
        {
            "key": lock_key(APPEND_LOCK),
            "audit": json.dumps(arguments["audit_rows"], ensure_ascii=False),
            "feed": json.dumps(arguments["feed_rows"], ensure_ascii=False),
        },
    ).all()
    for done in finish:
        done(list(result))


def _drop_appends(session: Session) -> None:
    for appender in _APPENDERS.values():
        session.info.pop(appender.key, None)
