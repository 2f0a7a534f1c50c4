"""The close of a school year: students per second through ``gateway year close`` (chunks of set-based
statements) against the same promotions recorded one status event at a time (``record_event``, the
API's path), on SQLite and PostgreSQL; and the second, idempotent run that finds nothing to do.

A synthetic registry is bulk-loaded (``benchmarks/registry_data.py``), every person put in attendance
in one county with a grade from 1 to 12; then the close runs over all of them.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text

from benchmarks.dbtarget import engine_for, postgres_database, sqlite_database
from benchmarks.registry_data import load_registry
from gateway import sealing
from gateway.auth.caller import Caller, ClientFields
from gateway.db import session_scope
from gateway.keyring import load_keyring
from gateway.persons.models import Person
from gateway.settings import Settings
from gateway.students import schoolyear
from gateway.students import service as students
from gateway.students.schemas import StatusEventRequest
from gateway.students.statemachine import StatusEventType

PERSONS = 20_000
ONE_BY_ONE = 1_000


def _in_attendance(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE person SET school_status = 'in_attendance', region = '410102', grade = 1 + (id % 12)"
            )
        )


def _one_by_one(engine: Engine, codes: list[str]) -> float:
    """Promotions recorded as a school records them: one event, one transaction, per student."""
    caller = Caller.of_client(ClientFields("bench", "bench", "province", "41"), scopes="students:write")
    started = time.perf_counter()
    for code in codes:
        with session_scope(engine) as session:
            students.record_event(
                session,
                caller,
                code,
                StatusEventRequest(event=StatusEventType.PROMOTED, effective_date=date(2026, 12, 1)),
            )
    return len(codes) / (time.perf_counter() - started)


def _run(url: str, keyring_dir: Path) -> tuple[float, float, float, float]:
    settings = Settings(data_dir=keyring_dir, migrate_on_start=False)
    keyring = load_keyring(settings)
    sealing.install_from(keyring)
    engine = engine_for(url, pool_size=4)
    try:
        load_registry(engine, keyring, PERSONS, seed=7)
        _in_attendance(engine)
        started = time.perf_counter()
        report = schoolyear.close_year(engine, region="4101", school_year=2026, actor="bench")
        close_seconds = time.perf_counter() - started
        assert report.changed_now == PERSONS, report
        started = time.perf_counter()
        schoolyear.close_year(engine, region="4101", school_year=2026, actor="bench")
        again_seconds = time.perf_counter() - started
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id FROM person WHERE school_status = 'in_attendance' ORDER BY id LIMIT :n"),
                {"n": ONE_BY_ONE},
            ).all()
        with session_scope(engine) as session:
            codes = [session.get(Person, r[0]).current_code for r in rows]  # type: ignore[union-attr]
        single_rate = _one_by_one(engine, codes)
        return PERSONS / close_seconds, close_seconds, again_seconds, single_rate
    finally:
        engine.dispose()


def main() -> None:
    print(
        f"{'store':<11} {'students':>9} {'close/s':>9} {'close s':>8} {'2nd run s':>10} {'one-by-one/s':>13}"
    )
    for store, target in (("SQLite", sqlite_database), ("PostgreSQL", postgres_database)):
        with target() as url, tempfile.TemporaryDirectory() as keys:
            if url is None:
                continue
            rate, seconds, again, single = _run(url, Path(keys))
            print(
                f"{store:<11} {PERSONS:>9,} {rate:>9,.0f} {seconds:>8.1f} {again:>10.2f} {single:>13,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
