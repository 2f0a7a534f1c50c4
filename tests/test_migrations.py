"""The migrations build the same schema on SQLite and PostgreSQL, and can be walked down and up."""

from __future__ import annotations

from sqlalchemy import inspect

from gateway.db import alembic_config, build_engine, current_revision
from gateway.tables import metadata


def test_migrations_build_every_table(fresh_db_url: str) -> None:
    engine = build_engine(fresh_db_url)
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert current_revision(engine) is not None
    engine.dispose()


def test_migrations_match_the_models(fresh_db_url: str) -> None:
    # autogenerate against a migrated database must find nothing to do
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = build_engine(fresh_db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(fresh_db_url: str) -> None:
    from alembic import command

    cfg = alembic_config(fresh_db_url)
    command.downgrade(cfg, "base")
    engine = build_engine(fresh_db_url)
    assert not (set(metadata.tables) & set(inspect(engine).get_table_names()))
    command.upgrade(cfg, "head")
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
