"""Test fixtures shared by every test package: the database under test, the app and its callers.

Tests use real PostgreSQL when ``GATEWAY_TEST_DATABASE_URL`` is set, SQLite files otherwise; the
pytest header says which. Each test that only needs the schema runs inside a transaction that is
rolled back; tests that commit (concurrency, CLI, durability) get a fresh migrated database of
their own (a new schema on PostgreSQL, a new file on SQLite).
"""

from __future__ import annotations

import os

import pytest

pytest.register_assert_rewrite("tests.fixtures")

from tests.fixtures.database import DATABASE_FIXTURES, TEST_DATABASE_URL, describe_database  # noqa: E402

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.api",
    "tests.fixtures.registrations",
    "tests.fixtures.schools",
]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"database: {describe_database()}"]


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers applied here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselected = []
    kept = []
    for item in items:
        if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
        if item.get_closest_marker("postgres") and not TEST_DATABASE_URL:
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{len(deselected)} PostgreSQL-only tests deselected: set GATEWAY_TEST_DATABASE_URL "
                "(.ci/run sets it to the local server)",
                yellow=True,
            )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: uses the gateway's database (applied automatically)")
    os.environ.setdefault("GATEWAY_LOG_JSON", "true")
    # The audit chain and the change feed, installed as every entry point installs them
    # (gateway.wiring): the tests build engines and sessions of their own.
    from gateway.wiring import install_logs

    install_logs()
