"""Batch dedupe at scale: `gateway dedupe` on its executors (DuckDB, and Spark in local mode; raw
messy CSV in, normalisation and pinyin included) against Splink on DuckDB (given the same records
already normalised, with pinyin columns, so it is not charged for normalisation), on the same generated
files, each in its own process: wall time, peak memory (max RSS of the process, and of its preparing
workers, each a separate process) and auto-link pair quality against the generator's labels, plus the
band counts (DuckDB and Spark must agree).

Run: python -m benchmarks.matching.scale [--engines duckdb,duckdb-em,splink,spark] [--memory-limit 8GB]
[--no-quality] PERSONS [PERSONS ...]. Files larger than a million persons are generated in chunks of a
million (each chunk its own seed; record ids prefixed by the chunk), streamed to disk.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.matching.quality import prf, recall_at_precision, row
from gateway.identity import name_pinyin
from gateway.matching.columns import canonical_row
from gateway.matching.synthetic import CSV_COLUMNS, generate_labelled

CHUNK_PERSONS = 1_000_000
MATCH_PROBABILITY = 0.99  # our auto-link threshold; Splink pairs at or above it count as links


def _write_inputs(persons: int, folder: Path, *, normalised: bool) -> set[tuple[str, str]]:
    truth: set[tuple[str, str]] = set()
    raw_handle = (folder / "raw.csv").open("w", encoding="utf-8", newline="")
    norm_handle = (folder / "normalised.csv").open("w", encoding="utf-8", newline="")
    with raw_handle, norm_handle:
        raw = csv.DictWriter(raw_handle, CSV_COLUMNS)
        raw.writeheader()
        norm = csv.DictWriter(
            norm_handle, [*CSV_COLUMNS, "name_pinyin", "guardian_pinyin"], extrasaction="ignore"
        )
        norm.writeheader()
        for k, start in enumerate(range(0, persons, CHUNK_PERSONS)):
            # The first chunk is the file earlier runs measured (seed 424242, ids unprefixed).
            data = generate_labelled(min(CHUNK_PERSONS, persons - start), 424242 + k)
            prefix = f"C{k}" if k else ""
            for record in data.rows:
                record["record_id"] = prefix + record["record_id"]
            truth |= {(prefix + a, prefix + b) for a, b in data.true_pairs()}
            raw.writerows(data.rows)
            if normalised:
                for record in data.rows:
                    clean, _ = canonical_row(record)
                    if clean is None:
                        continue
                    clean["name_pinyin"] = _pinyin(clean["name"])
                    clean["guardian_pinyin"] = _pinyin(clean["guardian_name"])
                    norm.writerow(clean)
            del data
    return truth


def _pinyin(name: str) -> str:
    try:
        return name_pinyin(name).replace(" ", "") if name else ""
    except ValueError:
        return name


def run_executor(engine: str, raw: Path, out: Path, memory_limit: str | None) -> None:
    """``gateway dedupe`` on an executor: ``duckdb`` or ``spark`` with the shipped parameters pinned
    (``--model``), ``duckdb-em`` as the command runs by default (parameters learnt on the file)."""
    from gateway.matching.batch import EngineOptions, dedupe_file, default_workers
    from gateway.matching.model import load_model

    name, _, mode = engine.partition("-")
    options = EngineOptions(engine=name, workers=default_workers(), memory_limit=memory_limit)  # type: ignore[arg-type]
    summary = dedupe_file(raw, out, load_model(), options=options, learning=mode == "em")
    print(
        f"    {engine}: {summary.records:,} records, {summary.candidate_pairs:,} candidate pairs, "
        f"parameters {summary.parameters}",
        flush=True,
    )


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


def _measure(engine: str, source: Path, out: Path, memory_limit: str | None) -> tuple[float, float]:
    start = time.perf_counter()
    command = [sys.executable, "-m", "benchmarks.matching.scale", "--run", engine, str(source), str(out)]
    process = subprocess.Popen([*command, memory_limit or ""])
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{engine} failed with status {status}")
    return seconds, usage.ru_maxrss / 1024 / 1024  # ru_maxrss is in KiB on Linux


def _pairs(path: Path, engine: str) -> tuple[list[tuple[str, str, float]], Counter[str]]:
    """The auto-link pairs of an engine's output (with their probability) and its band counts."""
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if engine == "splink":
        return [(r["record_id_l"], r["record_id_r"], float(r["match_probability"])) for r in rows], Counter()
    bands = Counter(r["band"] for r in rows)
    links = [(r["record_id_1"], r["record_id_2"], float(r["score"])) for r in rows if r["band"] == "match"]
    return links, bands


def main(sizes: list[int], engines: list[str], memory_limit: str | None = None, quality: bool = True) -> None:
    import duckdb

    print(f"duckdb {duckdb.__version__}; {os.cpu_count()} cores; memory limit {memory_limit or 'default'}")
    for persons in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            started = time.perf_counter()
            truth = _write_inputs(persons, folder, normalised="splink" in engines)
            records = sum(1 for _ in (folder / "raw.csv").open(encoding="utf-8")) - 1
            print(f"{persons:,} persons, {records:,} records, {len(truth):,} true pairs "
                  f"(generated in {time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
            ours: float | None = None  # the executors' auto-link precision, for Splink's comparison
            for engine in engines:
                source = folder / ("normalised.csv" if engine == "splink" else "raw.csv")
                out = folder / f"{engine}.csv"
                seconds, peak_gib = _measure(engine, source, out, memory_limit)
                scored, bands = _pairs(out, engine)
                pairs = [(a, b) for a, b, _ in scored]
                label = f"  {engine} (auto-link pairs)"
                figures = prf(pairs, truth) if quality else (float("nan"),) * 3 + (len(pairs),)
                print(row(label, figures, seconds) + f"  peak {peak_gib:.2f} GiB", flush=True)
                if bands:
                    print(f"    bands: {dict(sorted(bands.items()))}", flush=True)
                if quality and engine != "splink":
                    ours = figures[0] if ours is None else min(ours, figures[0])
                if quality and engine == "splink" and ours is not None:
                    t, p, r, n = recall_at_precision(scored, truth, ours)
                    print(f"    splink at the executors' precision ({ours:.4f}): threshold {t:.6f}, "
                          f"{n:,} pairs, P {p:.4f}, R {r:.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        engine, source, out, limit = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] or None
        if engine == "splink":
            resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # the 8 GB budget, enforced
            run_splink(source, out)
        else:
            run_executor(engine, source, out, limit)
    else:
        parser = argparse.ArgumentParser(description="Batch dedupe at scale")
        parser.add_argument("persons", type=int, nargs="*", default=[100_000])
        parser.add_argument("--engines", default="duckdb,splink")
        parser.add_argument("--memory-limit", default=None)
        parser.add_argument("--no-quality", action="store_true")
        args = parser.parse_args()
        main(args.persons, args.engines.split(","), args.memory_limit, not args.no_quality)
