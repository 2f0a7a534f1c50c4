"""Real-time search on the real registry schema: the code path of POST /v1/search and of every
registration (blocking-key digests looked up in `blocking_key`, persons read from `person`, their ID
numbers decrypted, candidates scored by the shipped model), with N persons registered, on SQLite and
PostgreSQL. 1,000 searches: 70% messy resubmissions of registered persons, 30% new persons.
Sizes: SEARCH_BENCH_SIZES (default "1000000").
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlmodel import Session

from benchmarks.dbtarget import engine_for, postgres_database, sqlite_database, supplied_settings
from benchmarks.registry_data import load_registry
from gateway import sealing
from gateway.identity import CanonicalRecord
from gateway.keyring import load_keyring
from gateway.matching import generate_population, load_model
from gateway.matching.synthetic import HOMOPHONES
from gateway.registry.service import RegistryDeps, find_candidates

QUERIES = 1000
SECRET = "search-benchmark-secret-not-for-production-000000"


def _messy(record: CanonicalRecord, rng: random.Random) -> CanonicalRecord:
    name = record.name
    for plain, sound_alike in HOMOPHONES.items():
        if plain in name and rng.random() < 0.5:
            name = name.replace(plain, sound_alike, 1)
            break
    born = record.birth_date
    if rng.random() < 0.2 and born.day <= 12:
        born = born.replace(month=born.day, day=born.month)
    return replace(record, name=name, birth_date=born)


def draw_queries(persons: int, loaded_seed: int, count: int) -> list[CanonicalRecord]:
    """``count`` searches: 70% messy resubmissions of persons loaded (by ``load_registry`` with
    ``loaded_seed``), 30% persons never registered, shuffled."""
    rng = random.Random(9)
    registered = generate_population(min(persons, 50_000), loaded_seed)
    queries = [_messy(rng.choice(registered), rng) for _ in range(int(count * 0.7))]
    queries += generate_population(count - len(queries), 999)
    rng.shuffle(queries)
    return queries


@contextmanager
def _target(store: str) -> Iterator[str | None]:
    with sqlite_database() if store == "SQLite" else postgres_database() as url:
        yield url


def run(store: str, persons: int) -> None:
    with _target(store) as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return
        settings = supplied_settings(Path(tmp), url, SECRET)
        keyring = load_keyring(settings)
        sealing.install_from(keyring)  # the search reads code columns
        engine = engine_for(url)
        took = load_registry(engine, keyring, persons, seed=5)
        deps = RegistryDeps(keyring=keyring, model=load_model(), verifier=None)
        queries = draw_queries(persons, loaded_seed=5, count=QUERIES)
        latencies, candidates, outcomes = [], [], {}
        with Session(engine) as session:
            for query in queries:
                started = time.perf_counter()
                hits, outcome, _holders = find_candidates(session, deps, query)
                latencies.append(time.perf_counter() - started)
                candidates.append(len(hits))
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        engine.dispose()
        q = statistics.quantiles(latencies, n=100)
        print(
            f"{store:<11} {persons:>10,} persons (loaded in {took:.0f} s) | p50 {q[49] * 1000:6.2f} ms  "
            f"p95 {q[94] * 1000:6.2f} ms  p99 {q[98] * 1000:6.2f} ms | candidates mean "
            f"{statistics.mean(candidates):.1f} max {max(candidates)} | {outcomes}",
            flush=True,
        )


def main() -> None:
    for size in [int(s) for s in os.environ.get("SEARCH_BENCH_SIZES", "1000000").split(",")]:
        for store in ("SQLite", "PostgreSQL"):
            run(store, size)


if __name__ == "__main__":
    main()
