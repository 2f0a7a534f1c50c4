"""Committed transactions per second through the two global append points, on PostgreSQL.

Every acknowledged write appends to the audit chain (rows linked by hash) and most to the change feed
(versions strictly increasing in commit order). Both are serialised, so whatever a transaction does
between taking its place in them and committing bounds the whole gateway's write rate, however many
processes and machines serve requests. This measures that bound: 16 threads committing small
transactions that write one row and (b) audit it, (c) audit it and append one feed event, (d) as (c)
and then make three more reads before committing (as most requests do after recording their audit
row).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import func, select

from benchmarks.dbtarget import engine_for, postgres_database
from gateway.audit import service as audit
from gateway.clock import utcnow
from gateway.db import session_scope
from gateway.feed import service as feed
from gateway.registry.models import IdempotencyRecord
from gateway.registry.service import new_person

N = 3000


def _rate(url: str, kind: str, threads: int) -> float:
    engine = engine_for(url, pool_size=threads)
    with session_scope(engine) as session:
        person = new_person(
            session, region="410102", school_code=None, birth_date=date(2016, 1, 1), actor="bench"
        )[0]  # written with one INSERT, never in the session
    per_thread = N // threads

    def work(t: int) -> None:
        for i in range(per_thread):
            with session_scope(engine) as session:
                session.add(
                    IdempotencyRecord(
                        client_id=f"bench-{kind}",
                        key=f"{threads}-{t}-{i}",
                        request_hash="0" * 64,
                        status_code=200,
                        response_json="{}",
                        created_at=utcnow(),
                    )
                )
                if kind != "row only":
                    audit.record(session, action="bench.write", actor="bench", object_ref=f"{t}-{i}")
                if kind in ("row + audit + feed", "audit, feed, 3 reads"):
                    feed.append(session, type="status.changed", person=person)
                if kind == "audit, feed, 3 reads":  # the transaction goes on after its audit row
                    for _ in range(3):
                        session.execute(select(func.count()).select_from(IdempotencyRecord)).scalar_one()

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return per_thread * threads / elapsed


def main() -> None:
    print(f"{'transaction':<20} {'threads':>7} {'commits/s':>10}   ({N} transactions, PostgreSQL)")
    for kind in ("row only", "row + audit", "row + audit + feed", "audit, feed, 3 reads"):
        for threads in (1, 16):
            with postgres_database() as url:
                if url is None:
                    return
                print(f"{kind:<20} {threads:>7} {_rate(url, kind, threads):>10.0f}", flush=True)


if __name__ == "__main__":
    main()
