"""Parity of the SQL executors with the Python scorer: the same pairs scored by ``score_prepared`` and
by the generated SQL on DuckDB and on Spark (local mode) give the same levels, weights, probabilities
and bands; blocking in SQL finds the same candidate pairs; term-frequency adjustment follows the
shared formula; the level patterns for training count what the Python comparators count."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from gateway.identity import CanonicalRecord
from gateway.matching import MatchModel, generate_labelled
from gateway.matching.batch import candidate_pairs, comparison_levels, prepare_rows, rule_masks
from gateway.matching.blocking import record_to_row
from gateway.matching.columns import prepare_chunks
from gateway.matching.comparators import PreparedRecord, compare_levels
from gateway.matching.config import MatchConfig
from gateway.matching.executors import DuckDBExecutor, SqlExecutor
from gateway.matching.frequencies import count_frequencies
from gateway.matching.model import MatchModel as Model
from gateway.matching.scoring import decisive_rule, score_prepared
from gateway.matching.synthetic import LabelledData

BANDS = {"non_match": 0, "review": 1, "match": 2}


def _without_tf(model: MatchModel) -> MatchModel:
    """The model as the Python scorer of this branch applies it: no term-frequency adjustment."""
    fields = [spec.model_copy(update={"tf_adjustment": False}) for spec in model.config.fields]
    config = model.config.model_copy(update={"fields": fields})
    return Model(config, model.m, model.u, model.prior, model.trained)


@pytest.fixture(scope="module")
def data() -> LabelledData:
    return generate_labelled(1500, 77)


@pytest.fixture(scope="module")
def records(data: LabelledData, model: MatchModel) -> list[PreparedRecord]:
    return prepare_rows(data.rows, model.config)[0]


@pytest.fixture(scope="module")
def parity_pairs(records: list[PreparedRecord], model: MatchModel) -> np.ndarray:
    """Every blocked pair (where the hard cases are) and as many random pairs."""
    blocked = candidate_pairs(records, model.config)
    rng = random.Random(3)
    randoms = {tuple(sorted(rng.sample(range(len(records)), 2))) for _ in range(2500)}
    pairs = {tuple(p) for p in blocked.tolist()} | randoms
    return np.array(sorted(pairs), dtype=np.int64)


def _loaded(executor: SqlExecutor, data: LabelledData, config: MatchConfig) -> SqlExecutor:
    executor.load(prepare_chunks(data.rows, config, chunk_rows=700))
    executor.prepare()
    return executor


@pytest.fixture(scope="module")
def duckdb_executor(data: LabelledData, model: MatchModel) -> Iterator[SqlExecutor]:
    executor = _loaded(DuckDBExecutor(model.config), data, model.config)
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def spark_executor(data: LabelledData, model: MatchModel) -> Iterator[SqlExecutor]:
    from gateway.matching.spark import SparkExecutor, spark_session

    session = spark_session(master="local[2]")
    executor = _loaded(SparkExecutor(model.config, session=session), data, model.config)
    yield executor
    executor.close()


def _score_on(executor: SqlExecutor, model: MatchModel, pairs: np.ndarray) -> dict[tuple[int, int], dict]:
    name = f"parity_{executor.engine}"
    executor.load_pairs(name, pa.table({"rid_l": pairs[:, 0], "rid_r": pairs[:, 1]}))
    scored = executor.scored(model, pairs=name, kept_only=False)
    return {(row["rid_l"], row["rid_r"]): row for row in scored.to_pylist()}


def _assert_parity(
    executor: SqlExecutor, model: MatchModel, records: list[PreparedRecord], pairs: np.ndarray
) -> int:
    """Assert parity pair by pair (the decisive rule's band override below the threshold, which this
    sample does not reach, has a test of its own); returns how many pairs that rule auto-linked."""
    plain = _without_tf(model)
    by_pair = _score_on(executor, plain, pairs)
    assert len(by_pair) == len(pairs)
    bands: Counter[str] = Counter()
    decided = 0
    for i, j in pairs.tolist():
        expected = score_prepared(records[i], records[j], plain)
        got = by_pair[(i, j)]
        for f, (spec, explained) in enumerate(zip(plain.config.fields, expected.explanation, strict=True)):
            level = got[f"lv{f}"]
            label = "missing" if level < 0 else spec.levels[level].label
            assert label == explained.level, (records[i].record_id, records[j].record_id, spec.name)
            assert got[f"w{f}"] == pytest.approx(explained.weight, abs=1e-4)
        assert got["weight"] == pytest.approx(expected.weight, abs=1e-4)
        assert got["probability"] == pytest.approx(expected.probability, rel=1e-9, abs=1e-12)
        fired = {"twins_guard": got["twins"], "distinct_citizen_ids": got["distinct_ids"],
                 "no_name_or_id_agreement": got["name_or_id"]}  # fmt: skip
        assert {rule for rule, held in fired.items() if held} == set(expected.rules_fired)
        levels = compare_levels(records[i], records[j], plain.comparators)
        decisive = decisive_rule(records[i], records[j], plain.config, levels) is not None
        assert got["decisive"] == decisive, (records[i].record_id, records[j].record_id)
        assert got["band"] == BANDS[expected.band], (records[i].record_id, records[j].record_id)
        bands[expected.band] += 1
        decided += expected.decided_by is not None
    # The sample reaches every band and every hard rule, or it proves little.
    assert min(bands.values()) > 20 and len(bands) == 3
    return decided


def test_duckdb_scores_every_pair_as_the_python_scorer_does(
    duckdb_executor: SqlExecutor, model: MatchModel, records: list[PreparedRecord], parity_pairs: np.ndarray
) -> None:
    assert len(parity_pairs) > 2000
    _assert_parity(duckdb_executor, model, records, parity_pairs)


def test_spark_scores_every_pair_as_the_python_scorer_does(
    spark_executor: SqlExecutor, model: MatchModel, records: list[PreparedRecord], parity_pairs: np.ndarray
) -> None:
    _assert_parity(spark_executor, model, records, parity_pairs)


def test_the_hard_rules_are_exercised_by_the_parity_sample(
    model: MatchModel, records: list[PreparedRecord], parity_pairs: np.ndarray
) -> None:
    fired = Counter(
        rule
        for i, j in parity_pairs.tolist()
        for rule in score_prepared(records[i], records[j], model).rules_fired
    )
    assert {"twins_guard", "distinct_citizen_ids", "no_name_or_id_agreement"} <= set(fired)


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_blocking_in_sql_finds_the_python_candidate_pairs(
    engine: str, request: pytest.FixtureRequest, model: MatchModel, records: list[PreparedRecord]
) -> None:
    executor: SqlExecutor = request.getfixturevalue(f"{engine}_executor")
    count = executor.block()
    found = executor.query(f"SELECT rid_l, rid_r FROM {executor.PAIRS}").to_pylist()
    expected = {tuple(p) for p in candidate_pairs(records, model.config).tolist()}
    assert count == len(found) == len(expected)
    assert {(r["rid_l"], r["rid_r"]) for r in found} == expected


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_both_engines_band_the_blocked_pairs_alike(
    engine: str, request: pytest.FixtureRequest, duckdb_executor: SqlExecutor, model: MatchModel
) -> None:
    executor: SqlExecutor = request.getfixturevalue(f"{engine}_executor")
    executor.block()
    duckdb_executor.block()
    assert executor.band_counts(model) == duckdb_executor.band_counts(model)


def test_exact_name_agreement_is_weighed_by_the_names_frequency(
    duckdb_executor: SqlExecutor, model: MatchModel, records: list[PreparedRecord], parity_pairs: np.ndarray
) -> None:
    config = model.config
    tf_fields = [i for i, spec in enumerate(config.fields) if spec.tf_adjustment]
    assert [config.fields[i].name for i in tf_fields] == ["name", "guardian_name"]
    by_pair = _score_on(duckdb_executor, model, parity_pairs)
    for f in tf_fields:
        values = [r.values[f].text for r in records if r.values[f] is not None]  # type: ignore[union-attr]
        frequency = {v: c / len(values) for v, c in Counter(values).items()}
        average = sum(tf * tf for tf in frequency.values())
        checked = 0
        for (i, _), row in by_pair.items():
            if row[f"lv{f}"] == 0:
                tf = frequency[records[i].values[f].text]  # type: ignore[union-attr]
                assert row[f"tf{f}"] == pytest.approx(tf, rel=1e-12)
                adjusted = model.level_weight(f, 0) + math.log2(average / max(tf, average / 8))
                assert row[f"w{f}"] == pytest.approx(adjusted, rel=1e-12)
                checked += 1
            elif row[f"lv{f}"] > 0:
                assert row[f"w{f}"] == pytest.approx(model.level_weight(f, row[f"lv{f}"]), rel=1e-12)
        assert checked > 100


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_tf_weights_are_the_python_scorers(
    engine: str,
    request: pytest.FixtureRequest,
    model: MatchModel,
    records: list[PreparedRecord],
    parity_pairs: np.ndarray,
) -> None:
    """The parity sample again, with the names weighed by their frequency in the loaded records."""
    executor: SqlExecutor = request.getfixturevalue(f"{engine}_executor")
    adjusted = model.with_frequencies(count_frequencies(records, model.config))
    by_pair = _score_on(executor, adjusted, parity_pairs)
    tf_fields = adjusted.tf_fields
    adjusted_pairs = 0
    for i, j in parity_pairs.tolist():
        expected = score_prepared(records[i], records[j], adjusted)
        got = by_pair[(i, j)]
        for f in tf_fields:
            assert got[f"w{f}"] == pytest.approx(expected.explanation[f].weight, abs=1e-4)
        assert got["weight"] == pytest.approx(expected.weight, abs=1e-4)
        assert got["band"] == BANDS[expected.band]
        adjusted_pairs += any(expected.explanation[f].tf is not None for f in tf_fields)
    assert adjusted_pairs > 100


def _named_rows(names: list[str]) -> list[dict[str, str]]:
    base = {
        "gender": "1",
        "ethnicity": "01",
        "id_type": "none",
        "id_number": "",
        "nationality": "CHN",
        "household_region": "410102",
        "guardian_name": "",
        "school_code": "",
    }
    return [
        {**base, "record_id": f"N{k}", "name": name, "birth_date": f"2015-{1 + k % 12:02d}-{1 + k % 28:02d}"}
        for k, name in enumerate(names)
    ]


def test_a_rare_name_agreeing_outweighs_a_common_one(model: MatchModel) -> None:
    """1,000 records named as children are: 王子涵 60 times (6%, below the exact level's u / 8 as EM
    estimates it among blocked pairs, so the old floor weighed it as a rare name), 15 names 20 times,
    欧阳翊骞 twice, the rest once. DuckDB weighs the two agreements as the real-time scorer does."""
    others = [f"张{chr(0x4E00 + 200 + k % 400)}{chr(0x4E00 + 700 + k // 400)}" for k in range(653)]
    names = ["王子涵"] * 60 + [n for n in others[:15] for _ in range(20)] + ["欧阳翊骞"] * 2 + others[15:]
    rows = _named_rows(names)
    common, rare = (0, 1), (360, 361)
    records = prepare_rows(rows, model.config)[0]
    adjusted = model.with_frequencies(count_frequencies(records, model.config))
    executor = _loaded(DuckDBExecutor(model.config), LabelledData(rows, {}, {}, 0), model.config)
    try:
        scored = _score_on(executor, model, np.array([common, rare], dtype=np.int64))
    finally:
        executor.close()
    name = [s.name for s in model.config.fields].index("name")
    assert model.u[name][0] / 8 > 0.06  # both names rarer than the blocked pairs' u / 8
    w_common, w_rare = scored[common][f"w{name}"], scored[rare][f"w{name}"]
    assert scored[common][f"lv{name}"] == scored[rare][f"lv{name}"] == 0
    assert w_rare - w_common == pytest.approx(math.log2(0.06 / 0.002), abs=1e-9)
    for pair in (common, rare):
        expected = score_prepared(records[pair[0]], records[pair[1]], adjusted)
        assert scored[pair][f"w{name}"] == pytest.approx(expected.explanation[name].weight, abs=1e-4)
        assert scored[pair]["weight"] == pytest.approx(expected.weight, abs=1e-4)


def test_level_patterns_count_what_the_python_comparators_see(
    duckdb_executor: SqlExecutor, model: MatchModel, records: list[PreparedRecord]
) -> None:
    duckdb_executor.block()
    blocked = duckdb_executor.level_patterns("blocked")
    expected = comparison_levels(records, candidate_pairs(records, model.config), model)
    assert Counter(map(tuple, blocked.matrix().tolist())) == Counter(map(tuple, expected.tolist()))
    randoms = duckdb_executor.level_patterns("random", random_pairs=5000, seed=1)
    assert randoms.pairs == 5000
    # Random pairs almost never agree on the name: u of the exact level is small.
    exact_names = randoms.counts[randoms.patterns[:, 0] == 0].sum()
    assert exact_names < 0.02 * randoms.pairs


def test_level_patterns_per_rule_are_the_python_pairs_of_each_rule(
    duckdb_executor: SqlExecutor, model: MatchModel, records: list[PreparedRecord]
) -> None:
    """EM per blocking rule sees the same pairs on either path: a pair under every rule producing it."""
    duckdb_executor.block()
    by_rule = duckdb_executor.rule_level_patterns()
    pairs = candidate_pairs(records, model.config)
    levels = comparison_levels(records, pairs, model)
    masks = rule_masks(records, pairs, model.config)
    assert sum(int(mask.sum()) for mask in masks) > len(pairs)  # some pairs come from several rules
    for r, mask in enumerate(masks):
        expected = Counter(map(tuple, levels[mask].tolist()))
        assert Counter(map(tuple, by_rule[r].matrix().tolist())) == expected, model.config.blocking[r].name
    assert duckdb_executor.possible_pairs() == len(records) * (len(records) - 1) // 2


def test_random_pairs_for_training_compute_no_readings_unless_a_level_reads_them(model: MatchModel) -> None:
    # The default levels never use the homophone test (only the twins guard does, and training
    # applies no hard rule): the readings of random pairs' names, nearly all different, are spared.
    data = generate_labelled(300, 5)
    executor = _loaded(DuckDBExecutor(model.config), data, model.config)
    try:
        executor.level_patterns("random", random_pairs=3000, seed=1)
        assert executor.query("SELECT count(*) AS n FROM rd0").column("n")[0].as_py() == 0
        executor.block()
        executor.scored(model)  # scoring applies the twins guard: now some are needed
        assert executor.query("SELECT count(*) AS n FROM rd0").column("n")[0].as_py() > 0
    finally:
        executor.close()


def _rule_cases(persons: list[CanonicalRecord]) -> list[CanonicalRecord]:
    """Records pairing (0,1), (2,3) ... that reach the rules of issue 17: the same valid number and
    name with three other fields disagreeing (decisive); a number copied from another person (no
    veto); twins, one carrying the other's number (twins guard)."""
    p = next(q for q in persons if len(q.name) == 3 and q.id_number)
    other = next(q for q in persons if q.birth_date != p.birth_date and q.id_number)
    region = "110101" if not (p.household_region or "").startswith("11") else "310101"
    elsewhere = replace(p, record_id="E", guardian_name="赵建国", household_region=region, ethnicity="03")
    copied = replace(p, record_id="C", id_number=other.id_number)
    twin = replace(p, record_id="T", name=p.name[:2] + "瑶", gender="2" if p.gender == "1" else "1")
    return [p, elsewhere, p, copied, p, twin]


def test_the_rules_of_issue_17_score_alike_in_sql(model: MatchModel, persons: list[CanonicalRecord]) -> None:
    # DuckDB only: Spark runs the same generated text, and the parity sample checks it pair by pair.
    rows = [
        {**record_to_row(r), "record_id": f"{k}-{r.record_id}"} for k, r in enumerate(_rule_cases(persons))
    ]
    records = prepare_rows(rows, model.config)[0]
    pairs = np.array([[k, k + 1] for k in range(0, len(rows), 2)], dtype=np.int64)
    executor = _loaded(DuckDBExecutor(model.config), LabelledData(rows, {}, {}, 0), model.config)
    try:
        by_pair = _score_on(executor, _without_tf(model), pairs)
    finally:
        executor.close()
    got = [by_pair[(i, j)] for i, j in pairs.tolist()]
    expected = [score_prepared(records[i], records[j], _without_tf(model)) for i, j in pairs.tolist()]
    decisive, copied, twins = zip(got, expected, strict=True)
    assert decisive[1].decided_by == "same_citizen_id_and_name" and decisive[0]["decisive"]
    assert decisive[0]["band"] == BANDS["match"] and decisive[0]["probability"] < 0.5
    assert (
        not copied[0]["distinct_ids"] and copied[1].rules_fired == () and copied[0]["band"] == BANDS["match"]
    )
    assert twins[0]["twins"] and "twins_guard" in twins[1].rules_fired and twins[0]["band"] != BANDS["match"]
    for row, result in zip(got, expected, strict=True):
        assert row["band"] == BANDS[result.band] and row["probability"] == pytest.approx(result.probability)
