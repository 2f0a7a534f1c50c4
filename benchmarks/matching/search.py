"""Real-time search latency with N persons registered, on SQLite and on PostgreSQL: persons and their
blocking keys (HMAC digests, one indexed row per key per person) are loaded into benchmark-only
tables; each search computes the query's keys, fetches candidates by indexed key look-up, scores them
with the shipped model and decides the outcome. Prints p50/p95/p99 and candidate counts.
Run: python -m benchmarks.matching.search [persons] (default 1,000,000; PostgreSQL from
GATEWAY_BENCH_POSTGRES_URL, skipped when none answers)."""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, bindparam, create_engine, select
from sqlalchemy.engine import Engine

from benchmarks.dbtarget import postgres_database, sqlite_database
from gateway.identity import CanonicalRecord
from gateway.matching import blocking_key_digest, load_model, rank_candidates, search_outcome
from gateway.matching.blocking import key_function, record_to_row
from gateway.matching.comparators import prepare_row
from gateway.matching.model import MatchModel
from gateway.matching.synthetic import HOMOPHONES, iter_population

SECRET = b"benchmark-only-secret-not-a-real-key!"
BATCH = 20_000
QUERIES = 1000

metadata = MetaData()
person = Table(
    "bench_match_person", metadata,
    Column("id", Integer, primary_key=True), Column("name", String), Column("gender", String),
    Column("birth_date", Date), Column("ethnicity", String), Column("id_type", String),
    Column("id_number", String), Column("nationality", String), Column("household_region", String),
    Column("guardian_name", String), Column("school_code", String),
)  # fmt: skip
blocking_key = Table(
    "bench_match_key",
    metadata,
    Column("key", String(64), nullable=False),
    Column("person_id", Integer, nullable=False),
)
FIELDS = ["name", "gender", "birth_date", "ethnicity", "id_type", "id_number", "nationality",
          "household_region", "guardian_name", "school_code"]  # fmt: skip


def _keys(record: CanonicalRecord, model: MatchModel, keys_of: Any) -> list[str]:
    return [blocking_key_digest(k, SECRET) for k in keys_of(prepare_row(record_to_row(record), model.config))]


def load(engines: list[Engine], persons: int, model: MatchModel) -> None:
    keys_of = key_function(model.config)
    for engine in engines:
        metadata.drop_all(engine)
        metadata.create_all(engine)
    batch_persons: list[tuple[Any, ...]] = []
    batch_keys: list[tuple[str, int]] = []

    columns = ", ".join(["id", *FIELDS])

    def flush() -> None:
        for engine in engines:
            with engine.begin() as conn:
                raw: Any = conn.connection.driver_connection
                if engine.dialect.name == "postgresql":
                    with raw.cursor().copy(f"COPY bench_match_person ({columns}) FROM STDIN") as copy:
                        for item in batch_persons:
                            copy.write_row(item)
                    with raw.cursor().copy("COPY bench_match_key (key, person_id) FROM STDIN") as copy:
                        for item in batch_keys:
                            copy.write_row(item)
                else:
                    marks = ", ".join("?" * (len(FIELDS) + 1))
                    raw.executemany(
                        f"INSERT INTO bench_match_person ({columns}) VALUES ({marks})", batch_persons
                    )
                    raw.executemany("INSERT INTO bench_match_key (key, person_id) VALUES (?, ?)", batch_keys)
        batch_persons.clear()
        batch_keys.clear()

    start = time.perf_counter()
    for i, record in enumerate(iter_population(persons, 77), 1):
        batch_persons.append((i, *(getattr(record, f) for f in FIELDS)))
        batch_keys.extend((k, i) for k in _keys(record, model, keys_of))
        if len(batch_persons) >= BATCH:
            flush()
            if i % 200_000 == 0:
                print(f"    loaded {i:,} persons ({time.perf_counter() - start:.0f} s)", flush=True)
    if batch_persons:
        flush()
    for engine in engines:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX bench_match_key_key ON bench_match_key (key)")
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE bench_match_key")
                conn.exec_driver_sql("ANALYZE bench_match_person")
    seconds = time.perf_counter() - start
    print(f"    loaded {persons:,} persons into {len(engines)} database(s) in {seconds:.0f} s")


def queries(persons: int) -> list[CanonicalRecord]:
    """70% messy resubmissions of registered persons (homophone, day/month swap, ID typo, no ID),
    30% persons who are not registered."""
    rng = random.Random(5)
    chosen = set(rng.sample(range(persons), int(QUERIES * 0.7)))
    out: list[CanonicalRecord] = []
    for i, record in enumerate(iter_population(persons, 77)):
        if i not in chosen:
            continue
        kind = rng.randrange(4)
        if kind == 0 and any(ch in HOMOPHONES for ch in record.name[1:]):
            pos = next(p for p in range(1, len(record.name)) if record.name[p] in HOMOPHONES)
            record = replace(
                record, name=record.name[:pos] + HOMOPHONES[record.name[pos]][0] + record.name[pos + 1 :]
            )
        elif kind == 1:
            record = replace(record, birth_date=record.birth_date + timedelta(days=1))
        elif kind == 2 and record.id_number and record.id_type == "resident_id":
            n = record.id_number
            record = replace(record, id_number=n[:10] + ("0" if n[10] != "0" else "1") + n[11:])
        else:
            record = replace(record, id_type="none", id_number=None)
        out.append(record)
    out.extend(iter_population(QUERIES - len(out), 991))
    rng.shuffle(out)
    return out


def search(engine: Engine, record: CanonicalRecord, model: MatchModel, keys_of: Any) -> tuple[int, str]:
    keys = _keys(record, model, keys_of)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(
            select(blocking_key.c.person_id)
            .where(blocking_key.c.key.in_(bindparam("keys", expanding=True)))
            .distinct(),
            {"keys": keys},
        )]  # fmt: skip
        rows = conn.execute(select(person).where(person.c.id.in_(ids))).mappings().all() if ids else []
    candidates = [CanonicalRecord(record_id=str(r["id"]), **{f: r[f] for f in FIELDS}) for r in rows]
    results = rank_candidates(record, candidates, model)
    return len(candidates), search_outcome(results, model.config)


def measure(label: str, engine: Engine, model: MatchModel, workload: list[CanonicalRecord]) -> None:
    keys_of = key_function(model.config)
    for record in workload[:50]:  # warm the connection pool and caches
        search(engine, record, model, keys_of)
    timings = []
    candidates = []
    outcomes: dict[str, int] = {}
    for record in workload:
        start = time.perf_counter()
        n, outcome = search(engine, record, model, keys_of)
        timings.append((time.perf_counter() - start) * 1000)
        candidates.append(n)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    q = statistics.quantiles(timings, n=100)
    print(
        f"  {label:<10} p50 {q[49]:6.2f} ms  p95 {q[94]:6.2f} ms  p99 {q[98]:6.2f} ms  "
        f"candidates mean {statistics.mean(candidates):.1f} max {max(candidates)}  outcomes {outcomes}",
        flush=True,
    )


def main(persons: int) -> None:
    model = load_model()
    workload = queries(persons)
    with sqlite_database() as sqlite_url, postgres_database() as postgres_url:
        engines = {"SQLite": create_engine(sqlite_url)}
        if postgres_url is not None:
            engines["PostgreSQL"] = create_engine(postgres_url)
        print(
            f"search latency, {persons:,} persons registered, {len(workload)} searches ({model.config.label})"
        )
        load(list(engines.values()), persons, model)
        for label, engine in engines.items():
            measure(label, engine, model, workload)
            engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
