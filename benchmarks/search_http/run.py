"""Real-time search over HTTP: `POST /v1/search` with 1,000,000 persons registered (PostgreSQL).

The gateway (`gateway serve`, started as the registration benchmark starts it; no mock systems, as a
search asks none) and this load generator (16 client threads), on loopback. Searches are drawn as
`benchmarks/search` draws them (70% messy resubmissions of registered persons, 30% persons never
registered); each is normalised, looked up by blocking keys, scored, and audited (one audit row per
search, through the append lock). Prints searches/s, p50/p95/p99 and each party's CPU per search.
Sizes: SEARCH_HTTP_SIZES (default "1000000"); searches per size: SEARCH_HTTP_QUERIES (default 4000);
gateway processes: SEARCH_HTTP_WORKERS (default 1).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.dbtarget import engine_for, postgres_database, supplied_settings
from benchmarks.http_gateway import create_client, fetch_token, print_cpu_per, run_clients, running_gateway
from benchmarks.registry_data import load_registry
from benchmarks.search.run import draw_queries
from gateway.keyring import load_keyring

THREADS = 16
SECRET = "search-http-benchmark-secret-not-for-production-00"
LOADED_SEED = 5


def run_size(persons: int, count: int, workers: str) -> None:
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return
        settings = supplied_settings(Path(tmp), url, SECRET, migrate_on_start=False)
        keyring = load_keyring(settings)
        engine = engine_for(url)
        took = load_registry(engine, keyring, persons, seed=LOADED_SEED)
        print(f"  {persons:,} persons loaded in {took:.0f} s")
        client_id, secret = create_client(engine)
        engine.dispose()
        bodies = [
            {k: v for k, v in q.to_dict().items() if v is not None and k != "record_id"}
            for q in draw_queries(persons, loaded_seed=LOADED_SEED, count=count)
        ]
        latencies: list[float] = []
        shown: list[int] = []
        outcomes: dict[str, int] = {}
        lock = threading.Lock()
        with running_gateway(Path(tmp), settings, SECRET, workers=workers, verification="false") as gateway:
            token = fetch_token(gateway.base, client_id, secret)

            def worker(slice_: list[dict[str, str]]) -> None:
                with httpx.Client(
                    base_url=gateway.base, timeout=30, headers={"Authorization": f"Bearer {token}"}
                ) as http:
                    for body in slice_:
                        t = time.perf_counter()
                        reply = http.post("/v1/search", json=body)
                        elapsed = time.perf_counter() - t
                        answer = reply.json() if reply.status_code == 200 else {}
                        outcome = str(answer.get("outcome", reply.status_code))
                        with lock:
                            latencies.append(elapsed)
                            shown.append(len(answer.get("candidates", [])))
                            outcomes[outcome] = outcomes.get(outcome, 0) + 1

            wall, used = run_clients(gateway, worker, bodies, THREADS)
        q = statistics.quantiles(latencies, n=100)
        print(
            f"  {persons:>9,} registered | {len(latencies)} searches, {THREADS} clients | "
            f"{len(latencies) / wall:6.1f} searches/s | p50 {q[49] * 1000:6.1f} ms  "
            f"p95 {q[94] * 1000:6.1f} ms  p99 {q[98] * 1000:6.1f} ms | candidates shown mean "
            f"{statistics.mean(shown):.1f} | {outcomes}",
            flush=True,
        )
        print_cpu_per("search", "searches", used, len(latencies))


def main() -> None:
    sizes = [int(s) for s in os.environ.get("SEARCH_HTTP_SIZES", "1000000").split(",")]
    count = int(os.environ.get("SEARCH_HTTP_QUERIES", "4000"))
    workers = os.environ.get("SEARCH_HTTP_WORKERS", "1")
    print(f"POST /v1/search over HTTP on PostgreSQL, {THREADS} clients, {workers} gateway process(es)")
    for size in sizes:
        run_size(size, count, workers)


if __name__ == "__main__":
    main()
