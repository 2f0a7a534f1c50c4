"""The migrations build the same schema on SQLite and PostgreSQL, and can be walked down and up."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from gateway.db import alembic_config, build_engine, current_revision
from gateway.tables import metadata
from tests.fixtures.database import TEST_DATABASE_URL, DatabaseFactory


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


_UPGRADE = "import sys; from gateway.db import upgrade_database; upgrade_database(sys.argv[1])"


@pytest.mark.postgres
def test_processes_starting_together_migrate_once(database_factory: DatabaseFactory) -> None:
    """Eight starts at once on an empty schema (as replicas starting together would): every one
    succeeds, the schema ends at head, each migration ran once."""
    assert database_factory.admin is not None and TEST_DATABASE_URL
    schema = f"t_{secrets.token_hex(6)}"
    with database_factory.admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database_factory.schemas.append(schema)
    url = (
        make_url(TEST_DATABASE_URL)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    # Processes, as replicas are (alembic's migration context is per process, not per thread).
    starts = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from gateway.db import upgrade_database; upgrade_database(sys.argv[1])",
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    failed = [err[-300:] for p in starts for _out, err in [p.communicate(timeout=300)] if p.returncode != 0]
    assert failed == [], failed
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert versions == [ScriptDirectory.from_config(alembic_config(url)).get_current_head()]
