"""Registrations per second and latency over HTTP with 100,000 and 1,000,000 persons registered (PostgreSQL),
and the database's floor for one registration measured on the same schema.

Three processes, as in production: the gateway (`gateway serve`), the mock government systems
(`gateway mocks serve`, zero latency, answering for the people being registered) and this load
generator (16 client threads). 80% of requests register a new person (verified and promoted to G
within the request), 20% send a person again under a new key (answered `existing`).
After the HTTP run, with the gateway stopped, pgbench runs `floor.sql` (one verified new registration
as the database sees it; see `floor.py`) on the same schema, and the rate over HTTP is given as a
fraction of that floor.
Sizes: REG_BENCH_SIZES (default "100000,1000000"); requests per size: REG_BENCH_REQUESTS (default 4000);
gateway processes: REG_BENCH_WORKERS (default 1); REG_BENCH_VERIFY=false turns verification off;
seconds of pgbench: REG_BENCH_FLOOR_SECONDS (default 20; 0 skips the floor).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.dbtarget import engine_for, postgres_database, supplied_settings
from benchmarks.http_gateway import create_client, fetch_token, print_cpu_per, run_clients, running_gateway
from benchmarks.registration.floor import FloorUnavailable, measure_floor, seconds_from_env
from benchmarks.registry_data import load_registry
from gateway.keyring import load_keyring
from tests.fixtures.replicas import registrants, write_population

THREADS = int(os.environ.get("REG_BENCH_CLIENTS", "16"))
SECRET = "benchmark-secret-key-not-for-production-0123456789"


def run_size(persons: int, requests: int) -> None:
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return
        settings = supplied_settings(Path(tmp), url, SECRET, migrate_on_start=False)
        keyring = load_keyring(settings)
        engine = engine_for(url)
        took = load_registry(engine, keyring, persons, seed=1)
        print(f"  {persons:,} persons loaded in {took:.0f} s")
        new_people = registrants(requests, seed=persons + 7)
        population_file = Path(tmp) / "registrants.csv"
        write_population(population_file, new_people)
        client_id, secret = create_client(engine)
        engine.dispose()
        with running_gateway(
            Path(tmp),
            settings,
            SECRET,
            workers=os.environ.get("REG_BENCH_WORKERS", "1"),
            verification=os.environ.get("REG_BENCH_VERIFY", "true"),
            with_mocks=True,
            population_file=population_file,
        ) as gateway:
            base = gateway.base
            token = fetch_token(base, client_id, secret)
            rng = random.Random(3)
            plan = [(f"n{i}", body) for i, body in enumerate(new_people[: int(requests * 0.8)])]
            plan += [(f"r{i}", rng.choice(new_people[: len(plan)])) for i in range(requests - len(plan))]
            rng.shuffle(plan)
            latencies: list[float] = []
            outcomes: dict[str, int] = {}
            lock = threading.Lock()

            def worker(slice_: list[tuple[str, dict[str, str]]]) -> None:
                with httpx.Client(
                    base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}
                ) as http:
                    for key, body in slice_:
                        t = time.perf_counter()
                        reply = http.post("/v1/registrations", json=body, headers={"Idempotency-Key": key})
                        elapsed = time.perf_counter() - t
                        outcome = reply.json().get("outcome", str(reply.status_code))
                        verification = reply.json().get("verification", "")
                        with lock:
                            latencies.append(elapsed)
                            label = f"{outcome}/{verification}" if verification else outcome
                            outcomes[label] = outcomes.get(label, 0) + 1

            wall, used = run_clients(gateway, worker, plan, THREADS)
        rate = len(latencies) / wall
        q = statistics.quantiles(latencies, n=100)
        print(
            f"  {persons:>9,} registered | {len(latencies)} requests, {THREADS} clients | "
            f"{rate:6.1f} registrations/s | p50 {q[49] * 1000:6.1f} ms  "
            f"p95 {q[94] * 1000:6.1f} ms  p99 {q[98] * 1000:6.1f} ms | {outcomes}",
            flush=True,
        )
        print_cpu_per("registration", "registrations", used, len(latencies))
        seconds = seconds_from_env()
        if seconds <= 0:
            return
        try:
            floor = measure_floor(url, seconds, clients=THREADS, keyring=keyring)
        except FloorUnavailable as exc:
            print(f"  {exc}", flush=True)
            return
        print(
            f"  floor {floor:,.0f} tx/s (pgbench floor.sql, {THREADS} clients, {seconds} s, same schema, "
            f"gateway stopped); gateway {rate:.1f}/s = {rate / floor:.1%} of the floor",
            flush=True,
        )


def main() -> None:
    sizes = [int(s) for s in os.environ.get("REG_BENCH_SIZES", "100000,1000000").split(",")]
    requests = int(os.environ.get("REG_BENCH_REQUESTS", "4000"))
    workers = os.environ.get("REG_BENCH_WORKERS", "1")
    print(
        f"registrations over HTTP on PostgreSQL, zero-latency mocks, {THREADS} clients, {workers} process(es)"
    )
    for size in sizes:
        run_size(size, requests)


if __name__ == "__main__":
    main()
