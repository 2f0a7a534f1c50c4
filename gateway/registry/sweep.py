"""The national duplicate sweep: the registry looks at itself whole (or one region of it) to find
children who hold two codes or sit in two schools, and opens a possible-duplicate problem record for
every pair a reviewer has not already got, or already decided.

Active persons are read page by page in id order, their ID numbers decrypted (they are sealed at rest,
which is why the registry is read through the gateway, not scanned by the engine), prepared once into
columns and loaded into a batch executor (DuckDB embedded, Spark beyond one machine), which blocks and
scores in SQL with the registry's own model. Pairs in the match or review band become problem records,
subject the lower person id, filed where the subject's school is, recording the configuration, model
and score used; a pair that some problem record already names, open or decided, is left alone, so a
second sweep opens nothing new. Nothing is ever merged by a sweep: two codes of one child are a
reviewer's decision.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

from gateway.audit import service as audit
from gateway.db import advisory_xact_lock, session_scope
from gateway.keyring import KeyRing
from gateway.matching import MatchModel
from gateway.matching.blocking import record_to_row
from gateway.matching.columns import prepare_chunks
from gateway.matching.executors import EngineName, make_executor
from gateway.matching.scoring import (
    RULE_DECISIVE,
    RULE_DISTINCT_IDS,
    RULE_NAME_OR_ID,
    RULE_TWINS,
    Band,
    grade_of,
)
from gateway.persons import repository as people
from gateway.persons.records import person_to_record
from gateway.registry import repository
from gateway.registry.problems import open_problem

SWEEP_ACTOR = "sweep"
PAGE = 5_000
DECISIONS_PER_TRANSACTION = 500
BAND_NAMES: dict[int, Band] = {2: "match", 1: "review"}

Stage = Literal["read", "score", "open"]
SweepProgress = Callable[[Stage, int], None]


@dataclass(frozen=True)
class SweepOptions:
    """Where and how to sweep: a region prefix (None: the whole country) and the executor."""

    region: str | None = None
    engine: EngineName = "duckdb"
    memory_limit: str | None = None
    workdir: Path | None = None
    # Processes preparing the persons read (names, pinyin, keys); this process reads and decrypts.
    workers: int = 1


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep found and did."""

    region: str | None
    persons: int
    candidate_pairs: int
    match_pairs: int
    review_pairs: int
    opened: int
    already_known: int
    model: str


def _person_rows(
    engine: Engine, keyring: KeyRing, region: str | None, tick: SweepProgress
) -> Iterator[Mapping[str, str]]:
    after = 0
    while True:
        with session_scope(engine) as session:
            page = people.active_persons_page(session, region_prefix=region, after_id=after, limit=PAGE)
            rows = [record_to_row(person_to_record(p, keyring)) for p in page]
        if not rows:
            return
        after = int(rows[-1]["record_id"])
        tick("read", len(rows))
        yield from rows


def _explanation(row: dict[str, Any], model: MatchModel, other: int) -> str:
    config = model.config
    fields = []
    for i, spec in enumerate(config.fields):
        level = int(row[f"lv{i}"])
        item: dict[str, Any] = {
            "field": spec.name,
            "level": "missing" if level < 0 else spec.levels[level].label,
            "weight": round(float(row[f"w{i}"]), 3),
        }
        if f"tf{i}" in row and level == 0:
            item["tf"] = round(float(row[f"tf{i}"]), 8)
        fields.append(item)
    fired = [name for name, held in ((RULE_TWINS, row["twins"]), (RULE_DISTINCT_IDS, row["distinct_ids"]),
                                     (RULE_NAME_OR_ID, row["name_or_id"])) if held]  # fmt: skip
    band = BAND_NAMES[int(row["band"])]
    decided = band == "match" and float(row["probability"]) < config.thresholds.match_probability
    return json.dumps(
        [
            {
                "person_id": other,
                "probability": round(float(row["probability"]), 6),
                "band": band,
                "grade": grade_of(band, float(row["probability"]), config.thresholds),
                "fields": fields,
                "rules_fired": fired,
                "config": config.label,
                "model": model.trained,
                "found_by": SWEEP_ACTOR,
            }
            | ({"decided_by": RULE_DECISIVE} if decided else {})
        ],
        ensure_ascii=False,
    )


def sweep(
    engine: Engine,
    keyring: KeyRing,
    model: MatchModel,
    options: SweepOptions,
    progress: SweepProgress | None = None,
) -> SweepSummary:
    """Sweep the registry (or ``options.region``) for duplicates; open problem records for new pairs."""
    tick: SweepProgress = progress or (lambda stage, n: None)
    executor = make_executor(options.engine, model.config, memory_limit=options.memory_limit,
                             workdir=options.workdir)  # fmt: skip
    try:
        persons = _person_rows(engine, keyring, options.region, tick)
        loaded = executor.load(prepare_chunks(persons, model.config, workers=options.workers))
        executor.prepare()
        candidates = executor.block()
        scored = executor.scored(model)
        tick("score", candidates)
    finally:
        executor.close()
    opened = known = 0
    bands = {1: 0, 2: 0}
    for batch in scored.to_batches(max_chunksize=DECISIONS_PER_TRANSACTION):
        rows = batch.to_pylist()
        new, old = _open_for_pairs(engine, keyring, model, rows)
        opened += new
        known += old
        for row in rows:
            bands[int(row["band"])] += 1
        tick("open", len(rows))
    with session_scope(engine) as session:
        audit.record(session, action="matching.sweep", actor=SWEEP_ACTOR, object_type="region",
                     object_ref=options.region or "CN", record_count=opened)  # fmt: skip
    return SweepSummary(
        region=options.region,
        persons=loaded.records,
        candidate_pairs=candidates,
        match_pairs=bands[2],
        review_pairs=bands[1],
        opened=opened,
        already_known=known,
        model=f"{model.config.label} ({model.trained})" if model.trained else model.config.label,
    )


def _open_for_pairs(
    engine: Engine, keyring: KeyRing, model: MatchModel, rows: list[dict[str, Any]]
) -> tuple[int, int]:
    """Open a problem record for each pair no record names yet (one transaction); (opened, known)."""
    pairs = []
    for row in rows:
        a, b = int(row["record_id_1"]), int(row["record_id_2"])
        pairs.append((min(a, b), max(a, b), row))
    ids = sorted({p for a, b, _ in pairs for p in (a, b)})
    opened = 0
    with session_scope(engine) as session:
        # Two sweeps at once open their records one after the other: the second sees the first's.
        advisory_xact_lock(session, "sweep:open")
        known = repository.pairs_with_problems(session, ids)
        persons = {int(p.id or 0): p for p in people.persons_by_ids(session, ids)}
        for subject_id, other_id, row in pairs:
            if (subject_id, other_id) in known:
                continue
            subject, other = persons.get(subject_id), persons.get(other_id)
            if subject is None or other is None or subject.status != "active" or other.status != "active":
                continue  # merged since it was read
            open_problem(
                session,
                keyring,
                kind="possible_duplicate",
                region=subject.region,
                school_code=subject.school_code,
                opened_by=SWEEP_ACTOR,
                subject=subject,
                candidates=[other_id],
                explanation=_explanation(row, model, other_id),
            )
            known.add((subject_id, other_id))
            opened += 1
    return opened, len(pairs) - opened
