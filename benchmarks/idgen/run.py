"""Codes allocated per second, L and J, on SQLite and PostgreSQL.

Each allocation is its own committed transaction (as in a registration), from 1 and from 8 threads.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from benchmarks.dbtarget import engine_for, postgres_database, sqlite_database
from gateway.db import session_scope
from gateway.idgen import service
from gateway.registry.service import new_person

N = 2000


def _rate(url: str, kind: str, threads: int) -> float:
    engine = engine_for(url, pool_size=threads)
    per_thread = N // threads

    def work(t: int) -> None:
        for i in range(per_thread):
            # spread over birth dates like a real cohort: 999 J numbers per (region, date)
            born = date(2016, 1, 1) + timedelta(days=(t * per_thread + i) % 300)
            with session_scope(engine) as session:
                if kind == "L":
                    new_person(session, region="410102", school_code=None, birth_date=born, actor="bench")[0]
                else:
                    service.allocate_j_code(session, "410102", born, "bench")

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return per_thread * threads / elapsed


def main() -> None:
    print(
        f"{'store':<11} {'code':<5} {'threads':>7} {'codes/s':>10}   ({N} allocations, one transaction each)"
    )
    for store, target in (("SQLite", sqlite_database), ("PostgreSQL", postgres_database)):
        for kind in ("L", "J"):
            for threads in (1, 8):
                with target() as url:
                    if url is None:
                        continue
                    print(
                        f"{store:<11} {kind:<5} {threads:>7} {_rate(url, kind, threads):>10.0f}", flush=True
                    )


if __name__ == "__main__":
    main()
