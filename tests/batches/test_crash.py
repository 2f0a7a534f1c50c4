"""``gateway import`` killed (SIGKILL) at arbitrary moments of a set-based load, then run again on
the same file: no row registered twice, no row acknowledged (marked done) lost or changed, the
results file complete. On PostgreSQL, in processes of their own, as a province operator runs it."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from gateway.auth import service as auth_service
from gateway.batches.models import Batch, BatchRow
from gateway.db import build_engine, session_scope
from gateway.idgen.models import IssuedCode
from gateway.matching import generate_labelled
from gateway.persons.models import Person
from tests.fixtures.batches import COLUMNS, read_results, to_csv

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCHOOLS = ("4101020001", "4101050002", "4103030004")


@pytest.fixture
def database(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, supplied_keys: None) -> str:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_VERIFICATION_ENABLED", "false")
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "WARNING")
    # A killed run's lease runs out soon, so the next run takes the batch up without a long wait.
    monkeypatch.setenv("GATEWAY_BATCH_LEASE_SECONDS", "2")
    # Chunks of 250 rows: progress is acknowledged often enough for kills to land between and within.
    monkeypatch.setenv("GATEWAY_BATCH_CHUNK_ROWS", "250")
    return fresh_db_url


def _province_file(path: Path) -> int:
    data = generate_labelled(1800, seed=41)
    rng = random.Random(41)
    rows = []
    for row in data.rows:
        school = rng.choice(SCHOOLS)
        rows.append(
            {**{k: row.get(k, "") for k in COLUMNS}, "school_code": school, "school_region": school[:6]}
        )
    path.write_text(to_csv(rows), encoding="utf-8")
    return len(rows)


def _done_rows(engine: Engine) -> dict[int, tuple[Any, ...]]:
    with Session(engine) as s:
        rows = s.exec(select(BatchRow).where(col(BatchRow.status) == "done")).all()
        return {r.row_number: (r.outcome, r.code, r.problem_id, r.errors_json) for r in rows}


def _batch(engine: Engine) -> Batch | None:
    with Session(engine) as s:
        return s.exec(select(Batch)).first()


def _gateway() -> str:
    found = shutil.which("gateway", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


def test_a_killed_import_resumes_without_losing_or_repeating_a_row(database: str, tmp_path: Path) -> None:
    engine = build_engine(database, pool_size=2)
    with session_scope(engine) as s:
        client_id = auth_service.create_client(
            s, name="Henan import", role="province", jurisdiction="41", scopes="batches:write"
        ).client.id
    source = tmp_path / "province.csv"
    total = _province_file(source)
    command = [_gateway(), "import", str(source), "--client-id", client_id]
    rng = random.Random(7)
    acknowledged: dict[int, tuple[Any, ...]] = {}
    kills = 0
    try:
        for share in (0.15, 0.4, 0.7):
            run = subprocess.Popen(
                command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # Let the run get past a share of the file, then kill it a moment later, wherever it is.
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and run.poll() is None:
                batch = _batch(engine)
                if batch is not None and batch.done_rows >= share * total:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            if run.poll() is None:
                run.kill()
                kills += 1
            run.wait()
            done = _done_rows(engine)
            # What a run acknowledged before it died is still there, unchanged.
            assert {n: done.get(n) for n in acknowledged} == acknowledged
            assert len(done) >= len(acknowledged)
            acknowledged = done
        assert kills >= 1, "every run finished before it could be killed: make the file larger"
        assert len(acknowledged) < total
        finished = subprocess.run(command, env=os.environ.copy(), capture_output=True, text=True, check=False)
        assert finished.returncode in (0, 1), finished.stderr[-3000:]
        assert "resuming batch" in finished.stderr
        final = _done_rows(engine)
        assert {n: final[n] for n in acknowledged} == acknowledged
        results = read_results((tmp_path / "province.results.csv").read_text(encoding="utf-8"))
        assert len(results) == total and "pending" not in {r["outcome"] for r in results}
        batch = _batch(engine)
        assert batch is not None and (batch.status, batch.done_rows, batch.total_rows) == (
            "done",
            total,
            total,
        )
        issued = [r for r in results if r["outcome"] == "issued"]
        with Session(engine) as s:
            persons = int(s.execute(sql_select(func.count()).select_from(Person)).scalar_one())
            codes = s.exec(select(IssuedCode.code)).all()
        # One person per issued row, nobody written twice: no row was registered by two runs.
        assert persons == len(issued)
        assert len(codes) == len(set(codes)) == persons
    finally:
        engine.dispose()
