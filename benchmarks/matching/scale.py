"""Batch dedupe at scale: our engine (`gateway dedupe` code path, raw messy CSV in, normalisation
included) against Splink on DuckDB (given the same records already normalised, with pinyin columns,
so it is not charged for normalisation), on the same generated files, each in its own process: wall
time, peak memory (max RSS of the process) and pair quality against the generator's labels.
Run: python -m benchmarks.matching.scale 100000 [1000000]"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.matching.quality import prf, row
from gateway.identity import name_pinyin
from gateway.matching.batch import canonical_row
from gateway.matching.synthetic import CSV_COLUMNS, generate_labelled

MATCH_PROBABILITY = 0.99  # our auto-link threshold; Splink pairs at or above it count as links


def _write_inputs(persons: int, folder: Path) -> set[tuple[str, str]]:
    data = generate_labelled(persons, 424242)
    with (folder / "raw.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(data.rows)
    with (folder / "normalised.csv").open("w", encoding="utf-8", newline="") as handle:
        columns = [*CSV_COLUMNS, "name_pinyin", "guardian_pinyin"]
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        for raw in data.rows:
            clean, _ = canonical_row(raw)
            if clean is None:
                continue
            clean["name_pinyin"] = _pinyin(clean["name"])
            clean["guardian_pinyin"] = _pinyin(clean["guardian_name"])
            writer.writerow(clean)
    return data.true_pairs()


def _pinyin(name: str) -> str:
    try:
        return name_pinyin(name).replace(" ", "") if name else ""
    except ValueError:
        return name


def run_ours(raw: Path, out: Path) -> None:
    from gateway.matching.batch import dedupe_file
    from gateway.matching.model import load_model

    dedupe_file(raw, out, load_model())


def run_splink(normalised: Path, out: Path) -> None:
    import logging

    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    frame = pd.read_csv(normalised, dtype=str, keep_default_na=False).replace("", None)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("name_pinyin", [0.95, 0.88]),
            cl.LevenshteinAtThresholds("birth_date", [1, 2]),
            cl.ExactMatch("gender"),
            cl.LevenshteinAtThresholds("id_number", [1, 2]),
            cl.JaroWinklerAtThresholds("guardian_pinyin", [0.95, 0.88]),
            cl.ExactMatch("household_region"),
            cl.ExactMatch("ethnicity"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("substr(id_number, 1, 14)"),
            block_on("substr(id_number, 7, 12)"),
            block_on("name_pinyin", "substr(birth_date, 1, 7)"),
            block_on("name_pinyin", "substr(birth_date, 6, 5)"),
            block_on("substr(name_pinyin, 1, 3)", "birth_date", "household_region"),
            block_on("guardian_pinyin", "substr(birth_date, 1, 7)"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db = DuckDBAPI()
    linker = Linker(db.register(frame), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("id_number")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    for rule in (block_on("id_number"), block_on("name_pinyin", "birth_date")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, record_sample_proportion=1.0)
    predictions = linker.inference.predict(
        threshold_match_probability=MATCH_PROBABILITY
    ).as_pandas_dataframe()
    predictions[["record_id_l", "record_id_r", "match_probability"]].to_csv(out, index=False)


def _measure(engine: str, source: Path, out: Path) -> tuple[float, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.matching.scale", "--engine", engine, str(source), str(out)]
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{engine} failed with status {status}")
    return seconds, usage.ru_maxrss / 1024 / 1024  # ru_maxrss is in KiB on Linux


def _pairs(path: Path, engine: str) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if engine == "ours":
        return [(r["record_id_1"], r["record_id_2"]) for r in rows if r["band"] == "match"]
    return [(r["record_id_l"], r["record_id_r"]) for r in rows]


def main(sizes: list[int]) -> None:
    import duckdb
    import splink

    print(f"splink {splink.__version__}, duckdb {duckdb.__version__}; {os.cpu_count()} cores")
    for persons in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            truth = _write_inputs(persons, folder)
            records = sum(1 for _ in (folder / "raw.csv").open(encoding="utf-8")) - 1
            print(f"{persons:,} persons, {records:,} records, {len(truth):,} true pairs")
            for engine, source in (("ours", folder / "raw.csv"), ("splink", folder / "normalised.csv")):
                out = folder / f"{engine}.csv"
                seconds, peak_gib = _measure(engine, source, out)
                label = f"  {engine} (auto-link pairs)"
                print(
                    row(label, prf(_pairs(out, engine), truth), seconds) + f"  peak {peak_gib:.2f} GiB",
                    flush=True,
                )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--engine":
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # the 8 GB budget, enforced
        (run_ours if sys.argv[2] == "ours" else run_splink)(Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main([int(x) for x in sys.argv[1:]] or [100_000])
