"""Registrations per second through nginx with 1, 2 and 3 ``gateway serve`` processes, in one sitting.

The deployment of the replica test (tests/fixtures/replicas.py): nginx in front of the gateways on
loopback, one ``gateway worker``, the mock government systems, one PostgreSQL schema per run, 16
client threads registering REPLICA_BENCH_REQUESTS new children (default 2,000; 20% of the requests
send a child again under a new key). Everything shares this machine's cores, so the figures say how
the deployment behaves here, not what more machines would give.
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

from benchmarks.dbtarget import postgres_database
from benchmarks.http_gateway import in_threads
from tests.fixtures.replicas import NGINX, deployment, registrants

CLIENTS = 16


def run(gateways: int, requests: int) -> None:
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return
        children = registrants(requests, seed=gateways)
        rng = random.Random(gateways)
        plan = [(f"n{i}", children[i]) for i in range(int(requests * 0.8))]
        plan += [(f"r{i}", rng.choice(children[: len(plan)])) for i in range(requests - len(plan))]
        rng.shuffle(plan)
        with deployment(Path(tmp), url, children, gateways=gateways, workers=1) as running:
            token = running.central_token()
            latencies: list[float] = []
            outcomes: dict[str, int] = {}
            lock = threading.Lock()

            def work(items: list[tuple[str, dict[str, str]]]) -> None:
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=running.base, timeout=60, headers=headers) as http:
                    for key, body in items:
                        started = time.perf_counter()
                        reply = http.post("/v1/registrations", json=body, headers={"Idempotency-Key": key})
                        elapsed = time.perf_counter() - started
                        outcome = str(reply.json().get("outcome", reply.status_code))
                        with lock:
                            latencies.append(elapsed)
                            outcomes[outcome] = outcomes.get(outcome, 0) + 1

            wall = in_threads(work, plan, CLIENTS)
        q = statistics.quantiles(latencies, n=100)
        print(
            f"  {gateways} gateway process(es) behind nginx | {len(latencies)} requests, {CLIENTS} clients | "
            f"{len(latencies) / wall:6.1f} registrations/s | p50 {q[49] * 1000:6.1f} ms  "
            f"p99 {q[98] * 1000:6.1f} ms | {outcomes}",
            flush=True,
        )


def main() -> None:
    if not NGINX.exists():
        print("  nginx is not installed (Debian's nginx-light; `make test` installs it); skipping")
        return
    requests = int(os.environ.get("REPLICA_BENCH_REQUESTS", "2000"))
    print(f"registrations through nginx on PostgreSQL, verification on, {os.cpu_count()} cores shared by all")
    for gateways in (1, 2, 3):
        run(gateways, requests)


if __name__ == "__main__":
    main()
