"""A province's first collection: ``gateway import`` of a large file against a registry already
holding many persons, on PostgreSQL, set-based; and beside it, in the same run, the previous path
(each row registered on its own, as the runner did before) on a sample of the same file.

The file is generated: new children (every one with a valid ID number) and, every 20th row, a child
the registry holds already (answered ``existing``). ``gateway import`` runs as its own process, as a
province operator runs it, its peak memory read from the kernel when it ends. Verification is left
to ``gateway worker`` (as a single registration in a batch leaves it): its throughput is measured by
the adapters benchmark.

Then the worker's bulk verification of the new persons against the mock government systems (their
own process, knowing every child of the file), as `gateway worker` passes of 500 jobs: verifications
per second over the first BULK_BENCH_VERIFY_ROWS new persons (default 20000; 0 skips it).

Sizes: BULK_BENCH_REGISTRY (persons registered before, default 100000), BULK_BENCH_ROWS (rows in the
file, default 100000), BULK_BENCH_BASELINE_ROWS (rows the previous path registers, default 2000; 0
skips it).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from benchmarks.dbtarget import engine_for, postgres_database, supplied_settings
from benchmarks.http_gateway import create_client, gateway_env
from benchmarks.registry_data import load_registry
from gateway.auth import repository as clients
from gateway.auth.caller import Caller
from gateway.auth.scopes import held_scopes
from gateway.batches import service as batches
from gateway.batches.parsing import BatchFormat
from gateway.db import session_scope
from gateway.identity import RECORD_FIELDS, CanonicalRecord
from gateway.keyring import load_keyring
from gateway.matching import iter_population
from gateway.registry.verification import work_queue_once
from gateway.settings import Settings
from gateway.wiring import build_context, close_context
from tests.fixtures.replicas import write_population
from tests.fixtures.server import free_port, mocks_at, wait_until_up

SECRET = "benchmark-secret-key-not-for-production-0123456789"
COLUMNS = (*RECORD_FIELDS, "school_region")


def _row(person: CanonicalRecord, record_id: str) -> dict[str, str]:
    values = {k: ("" if v is None else str(v)) for k, v in person.to_dict().items()}
    region = person.household_region or "110101"
    return {**values, "record_id": record_id, "school_region": region, "school_code": region + "0001"}


def _file_rows(rows: int, registry_size: int, seed: int) -> Iterator[dict[str, str]]:
    """New children, and every 20th row one the registry holds (its first persons, seed 1)."""
    new = iter_population(rows, seed)
    known = islice(iter_population(registry_size, 1), max(1, rows // 20))
    for n in range(rows):
        person = next(known, None) if n % 20 == 19 else None
        yield _row(person or next(new), f"R{n:08d}")


# Runs a command and prints the largest resident memory (KiB) of it and its descendants.
_MEASURED = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def write_file(path: Path, rows: Iterator[dict[str, str]]) -> int:
    written = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            written += 1
    return written


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment with ``env`` over it (the settings a gateway would read), restored
    on leaving."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def previous_path(env: dict[str, str], client_id: str, path: Path) -> tuple[int, float]:
    """The rows of ``path`` registered one by one, as the runner did before (and still does for a
    batch verified inline, here with verification off): one registration per row with its
    idempotency key, then the row marked done in a transaction of its own."""
    with environment(env):
        ctx = build_context(Settings())
    try:
        with session_scope(ctx.engine) as s:
            client = clients.get_client(s, client_id)
            assert client is not None
            scopes = held_scopes(client.role, client.scopes)
            caller = Caller.of_client(client, scopes=scopes, acting_user="bench")
        text = path.read_text(encoding="utf-8")
        accepted = batches.submit_batch(ctx.engine, ctx.keyring, caller, text, BatchFormat.CSV)
        assert ctx.services.registry.verifier is None
        started = time.perf_counter()
        batches.run_batch(ctx.engine, ctx.services.registry, accepted.id, set_based=False)
        return accepted.total_rows, time.perf_counter() - started
    finally:
        close_context(ctx)


def verify_in_bulk(env: dict[str, str], tmp: Path, province: Path, limit: int) -> None:
    """Start the mocks knowing the file's children, then work the verification queue as the worker
    does until ``limit`` jobs are done: verifications per second."""
    ports = [free_port() for _ in range(4)]
    population = tmp / "population.csv"
    with province.open(encoding="utf-8") as source:
        write_population(population, list(csv.DictReader(source)))
    env = {
        **env,
        **mocks_at(ports),
        "GATEWAY_MOCKS_POPULATION": str(population),
        "GATEWAY_VERIFICATION_ENABLED": "true",
    }
    mocks = subprocess.Popen(
        [str(Path(sys.executable).with_name("gateway")), "mocks", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        with environment(env):
            wait_until_up(f"http://127.0.0.1:{ports[3]}/docs", mocks)
            ctx = build_context(Settings())
        try:
            deps = ctx.services.registry
            done = 0
            started = time.perf_counter()
            while done < limit:
                leased = work_queue_once(ctx.engine, deps, limit=500)
                if not leased:
                    break
                done += leased
            seconds = time.perf_counter() - started
        finally:
            close_context(ctx)
        print(
            f"  verification in bulk (worker passes of 500, 100 rows per call, mocks in their own process): "
            f"{done:,} persons in {seconds:.1f} s = {done / seconds:,.0f} verifications/s"
        )
    finally:
        mocks.terminate()
        mocks.wait(30)


def run(registry_size: int, rows: int, baseline_rows: int, verify_rows: int) -> None:
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return
        settings = supplied_settings(Path(tmp), url, SECRET, migrate_on_start=False)
        engine = engine_for(url)
        took = load_registry(engine, load_keyring(settings), registry_size, seed=1)
        print(f"  {registry_size:,} persons loaded in {took:.0f} s")
        client_id, _secret = create_client(engine)
        engine.dispose()
        env = gateway_env(Path(tmp), settings, SECRET, 8000, verification="false")  # no port is opened
        province = Path(tmp) / "province.csv"
        write_file(province, _file_rows(rows, registry_size, seed=registry_size + 11))
        started = time.perf_counter()
        gateway = str(Path(sys.executable).with_name("gateway"))
        # Through a small parent of its own, so that the peak memory read is the import's (and its
        # helper process's), not that of the registry loader's workers this process ran before.
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED, gateway, "import", str(province), "--client-id", client_id],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        peak = float(done.stdout.strip().splitlines()[-1]) / 1024 if done.stdout.strip() else float("nan")
        if done.returncode not in (0, 1) or not (Path(tmp) / "province.results.csv").exists():
            print(done.stderr[-2000:])
            raise SystemExit(f"gateway import exited {done.returncode}")
        with (Path(tmp) / "province.results.csv").open(encoding="utf-8-sig") as results:
            counts = Counter(r["outcome"] for r in csv.DictReader(results))
        print(
            f"  set-based: {rows:,} rows against {registry_size:,} persons in {wall:.1f} s = "
            f"{rows / wall:,.0f} rows/s end to end (file stored, registered, results written); "
            f"peak memory of gateway import {peak:,.0f} MiB"
        )
        print("  outcomes: " + ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())))
        if verify_rows:
            verify_in_bulk(env, Path(tmp), province, verify_rows)
        if baseline_rows:
            sample = Path(tmp) / "sample.csv"
            write_file(sample, _file_rows(baseline_rows, registry_size, seed=registry_size + 29))
            n, seconds = previous_path(env, client_id, sample)
            print(f"  previous path (row by row), {n:,} rows of the same kind: {n / seconds:,.0f} rows/s")


def main() -> None:
    registry_size = int(os.environ.get("BULK_BENCH_REGISTRY", "100000"))
    rows = int(os.environ.get("BULK_BENCH_ROWS", "100000"))
    baseline = int(os.environ.get("BULK_BENCH_BASELINE_ROWS", "2000"))
    verify = int(os.environ.get("BULK_BENCH_VERIFY_ROWS", "20000"))
    print(f"bulk first collection on PostgreSQL: {rows:,} rows, {registry_size:,} persons registered before")
    run(registry_size, rows, baseline, verify)


if __name__ == "__main__":
    main()
