"""Alembic environment: runs the gateway's migrations against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from gateway.db import build_engine, lock_key
from gateway.tables import metadata

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = build_engine(url, pool_size=1)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Any number of processes may start at once: one migrates, the others wait here, then
                # find the schema at head and do nothing. (SQLite's BEGIN IMMEDIATE already serialises.)
                schema = connection.execute(text("SELECT current_schema()")).scalar_one()
                key = lock_key("gateway migrations", str(schema))
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
