"""Batch deduplication and linkage of record files. ``dedupe_file`` and ``link_files`` (the
``gateway dedupe`` and ``gateway link`` commands) stream the rows through the column preparation
(``gateway.matching.columns``) into an executor (``gateway.matching.executors``: DuckDB by default,
Spark beyond one machine) that blocks, compares and scores in SQL; only match and review pairs come
back. Unless a model is pinned, a run learns its parameters from its own input first
(``learn_on_executor``: EM in ``gateway.matching.training`` over the levels the executor counts);
the TF fields are weighed against the input. The in-memory functions below (``prepare_rows``,
``candidate_pairs``, ``comparison_levels``, ``dedupe_rows``, ``learn``) score with the Python
comparators directly: the quality evaluation and training on small labelled sets use them.
"""

from __future__ import annotations

import csv
import gc
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gateway.matching.blocking import key_function
from gateway.matching.columns import PreparedChunk, canonical_row, chunks_of, prepare_chunks
from gateway.matching.comparators import PreparedRecord, compare_levels, prepare_row
from gateway.matching.config import MatchConfig
from gateway.matching.executors import EngineName, SqlExecutor, make_executor
from gateway.matching.frequencies import count_frequencies, exact_key
from gateway.matching.model import EMResult, FloatArray, LevelMatrix, MatchModel, untrained_model
from gateway.matching.scoring import decisive_rule, hard_rules_fired
from gateway.matching.training import Estimate, estimate_model, estimate_model_by_rule, random_pairs

Progress = Callable[[int], None]
IntArray = npt.NDArray[np.int64]
BAND_NAMES = ("non_match", "review", "match")
CHUNK = 100_000
ROW_CHUNK = 10_000
# Below this many pairs, forking workers that inherit every prepared record costs more than it saves.
PARALLEL_PAIRS = 400_000
# Random pairs a batch run compares to start u from (at most the configuration's ``em.random_pairs``):
# EM re-estimates u among the blocked pairs, so the sample only starts it; comparing it is Python
# and must not cost more than the run itself.
RANDOM_PAIRS_PER_RECORD = 4


@dataclass(frozen=True)
class PreparedSet:
    """Prepared records of one or two files; ``source`` is 0 or 1 per record (link runs)."""

    records: list[PreparedRecord]
    source: npt.NDArray[np.int8]
    rejected: int
    lenient: int


@dataclass(frozen=True)
class ScoredPairs:
    """Candidate pairs (indexes into the prepared records) with probability and band code (0-2)."""

    pairs: IntArray
    probability: npt.NDArray[np.float64]
    band: npt.NDArray[np.int8]
    # The parameters that scored them, and how they were estimated when the run learnt them.
    model: MatchModel | None = None
    estimate: Estimate | None = None

    def kept(self) -> Iterator[tuple[int, int, float, str]]:
        for k in np.flatnonzero(self.band > 0):
            i, j = self.pairs[k]
            yield int(i), int(j), float(self.probability[k]), BAND_NAMES[int(self.band[k])]


def _prepare_serial(
    rows: Iterable[Mapping[str, str]], config: MatchConfig, progress: Progress | None = None
) -> tuple[list[PreparedRecord], int, int]:
    records: list[PreparedRecord] = []
    rejected = lenient = 0
    for count, row in enumerate(rows, 1):
        if config.record_schema == "canonical":
            clean, was_lenient = canonical_row(row)
            if clean is None:
                rejected += 1
                continue
            lenient += was_lenient
            records.append(prepare_row(clean, config))
        else:
            records.append(prepare_row(row, config))
        if progress is not None and count % 10_000 == 0:
            progress(10_000)
    return records, rejected, lenient


# Worker state of the fork pools: set in the parent just before forking, inherited, never sent.
_pool_config: MatchConfig | None = None
_pool_records: list[PreparedRecord] = []
_pool_model: MatchModel | None = None


def _prepare_chunk(rows: list[Mapping[str, str]]) -> tuple[list[PreparedRecord], int, int, KeyIndex]:
    assert _pool_config is not None
    records, rejected, lenient = _prepare_serial(rows, _pool_config)
    return records, rejected, lenient, key_index(records, _pool_config)


def _levels_chunk(pairs: IntArray) -> LevelMatrix:
    assert _pool_model is not None
    return comparison_levels(_pool_records, pairs, _pool_model)


def default_workers() -> int:
    """Processes a batch run uses: one per core (normalisation and pinyin are CPU-bound Python)."""
    return max(1, min(os.cpu_count() or 1, 8))


def prepare_rows(
    rows: Iterable[Mapping[str, str]],
    config: MatchConfig,
    progress: Progress | None = None,
    workers: int = 1,
) -> tuple[list[PreparedRecord], int, int]:
    """Prepare rows (normalising canonical ones); returns (records, rejected, lenient)."""
    records, rejected, lenient, _ = prepare_and_index(rows, config, progress, workers)
    return records, rejected, lenient


def prepare_and_index(
    rows: Iterable[Mapping[str, str]],
    config: MatchConfig,
    progress: Progress | None = None,
    workers: int = 1,
) -> tuple[list[PreparedRecord], int, int, KeyIndex | None]:
    """Prepare rows and, when a pool does the work, their blocking-key index as well (the workers
    hash the keys while the records are at hand; serially the index is left to ``candidate_pairs``)."""
    global _pool_config
    if workers <= 1:
        return (*_prepare_serial(rows, config, progress), None)
    records: list[PreparedRecord] = []
    parts: list[KeyIndex] = []
    offsets: list[int] = []
    rejected = lenient = 0
    _pool_config = config
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            for chunk_records, chunk_rejected, chunk_lenient, keys in pool.imap(
                _prepare_chunk, chunks_of(rows, ROW_CHUNK)
            ):
                offsets.append(len(records))
                parts.append(keys)
                records.extend(chunk_records)
                rejected += chunk_rejected
                lenient += chunk_lenient
                if progress is not None:
                    progress(len(chunk_records))
    finally:
        _pool_config = None
    return records, rejected, lenient, KeyIndex.concat(parts, offsets)


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    """Stream a UTF-8 CSV file with a header row (a BOM is tolerated)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


@dataclass(frozen=True)
class KeyIndex:
    """Every blocking key of every record: its 64-bit hash, owning record and rule, as arrays."""

    hashes: IntArray
    owners: IntArray
    rules: IntArray

    @staticmethod
    def concat(parts: list[KeyIndex], offsets: list[int]) -> KeyIndex:
        if not parts:
            return KeyIndex(*(np.empty(0, dtype=np.int64) for _ in range(3)))
        return KeyIndex(
            np.concatenate([p.hashes for p in parts]),
            np.concatenate([p.owners + offset for p, offset in zip(parts, offsets, strict=True)]),
            np.concatenate([p.rules for p in parts]),
        )


def key_index(records: list[PreparedRecord], config: MatchConfig) -> KeyIndex:
    """Hash every blocking key (``hash`` of a str is stable within a process and its forks)."""
    keys_of = key_function(config)
    rule_index = {rule.name: r for r, rule in enumerate(config.blocking)}
    hashes: list[int] = []
    owners: list[int] = []
    rules: list[int] = []
    for i, record in enumerate(records):
        for key in keys_of(record):
            hashes.append(hash(key))
            owners.append(i)
            rules.append(rule_index[key.partition(":")[0]])
    return KeyIndex(
        np.array(hashes, dtype=np.int64), np.array(owners, dtype=np.int64), np.array(rules, dtype=np.int64)
    )


def candidate_pairs(
    records: list[PreparedRecord],
    config: MatchConfig,
    source: npt.NDArray[np.int8] | None = None,
    keys: KeyIndex | None = None,
) -> IntArray:
    """Unique candidate pairs (i < j) sharing at least one blocking key; with ``source``, only pairs
    across the two sources. Blocks larger than their rule's ``max_block_size`` are skipped."""
    codes = np.unique(
        np.concatenate([np.empty(0, dtype=np.int64), *_pair_codes_by_rule(records, config, source, keys)])
    )
    n = len(records)
    return np.stack([codes // n, codes % n], axis=1) if len(codes) else np.empty((0, 2), dtype=np.int64)


def rule_masks(
    records: list[PreparedRecord],
    pairs: IntArray,
    config: MatchConfig,
    source: npt.NDArray[np.int8] | None = None,
    keys: KeyIndex | None = None,
) -> list[npt.NDArray[np.bool_]]:
    """For every blocking rule, which of ``pairs`` (``candidate_pairs``) that rule produced."""
    n = len(records)
    codes = pairs[:, 0] * n + pairs[:, 1]
    return [np.isin(codes, rule) for rule in _pair_codes_by_rule(records, config, source, keys)]


def _pair_codes_by_rule(
    records: list[PreparedRecord],
    config: MatchConfig,
    source: npt.NDArray[np.int8] | None,
    keys: KeyIndex | None,
) -> list[IntArray]:
    """Per blocking rule, the unique pairs it produces, each coded ``i * n + j`` (i < j)."""
    caps = np.array([rule.max_block_size for rule in config.blocking], dtype=np.int64)
    keys = keys if keys is not None else key_index(records, config)
    by_rule: list[list[IntArray]] = [[] for _ in config.blocking]
    if not len(keys.hashes):
        return [np.empty(0, dtype=np.int64) for _ in config.blocking]
    h, owner, rule = keys.hashes, keys.owners, keys.rules
    order = np.argsort(h, kind="stable")
    h, owner, rule = h[order], owner[order], rule[order]
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    sizes = np.diff(np.r_[starts, len(h)])
    keep = (sizes >= 2) & (sizes <= caps[rule[starts]])
    starts, sizes = starts[keep], sizes[keep]
    n = len(records)
    for size in np.unique(sizes):
        group_starts = starts[sizes == size]
        members = owner[group_starts[:, None] + np.arange(size)[None, :]]
        group_rules = rule[group_starts]
        left, right = np.triu_indices(int(size), k=1)
        a = members[:, left]
        b = members[:, right]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        valid = lo != hi
        if source is not None:
            valid &= source[lo] != source[hi]
        for r in np.unique(group_rules):
            of_rule = group_rules == r
            by_rule[int(r)].append((lo[of_rule] * n + hi[of_rule])[valid[of_rule]])
    return [np.unique(np.concatenate(c)) if c else np.empty(0, dtype=np.int64) for c in by_rule]


def comparison_levels(
    records: list[PreparedRecord], pairs: IntArray, model: MatchModel, progress: Progress | None = None
) -> LevelMatrix:
    """Agreement levels (pairs x fields, -1 missing) of the given pairs."""
    comparators = model.comparators
    out = np.empty((len(pairs), len(comparators)), dtype=np.int8)
    for k, (i, j) in enumerate(pairs.tolist()):
        out[k] = compare_levels(records[i], records[j], comparators)
        if progress is not None and (k + 1) % 10_000 == 0:
            progress(10_000)
    return out


def record_frequencies(records: list[PreparedRecord], model: MatchModel) -> FloatArray | None:
    """tf of every record's value in the model's TF fields (records x fields, NaN elsewhere)."""
    if model.frequencies is None or not model.tf_fields:
        return None
    out = np.full((len(records), len(model.config.fields)), np.nan)
    for f in model.tf_fields:
        name = model.config.fields[f].name
        for i, record in enumerate(records):
            tf = model.frequencies.tf(name, exact_key(record.values[f]))
            if tf is not None:
                out[i, f] = tf
    return out


def _band_chunk(
    records: list[PreparedRecord],
    chunk: IntArray,
    levels: LevelMatrix,
    model: MatchModel,
    record_tf: FloatArray | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    thresholds = model.config.thresholds
    # At the exact level both values are the same, so the left record's tf is the pair's.
    tf = None if record_tf is None else record_tf[chunk[:, 0]]
    weight = np.clip(model.total_weights(levels, tf), -60, 60)
    p = 1.0 / (1.0 + np.exp2(-weight))
    b = np.where(p >= thresholds.match_probability, 2, np.where(p >= thresholds.review_probability, 1, 0))
    # The decisive rule only matters below the match threshold, where the ID and name levels allow it.
    for k in np.flatnonzero((b < 2) & _decisive_levels(model.config, levels)):
        i, j = chunk[k]
        if decisive_rule(records[int(i)], records[int(j)], model.config, levels[k].tolist()):
            b[k] = 2
    # Hard rules only matter where the weights (or the decisive rule) would auto-link: a few pairs per chunk.
    for k in np.flatnonzero(b == 2):
        i, j = chunk[k]
        if hard_rules_fired(records[int(i)], records[int(j)], model.config, levels[k].tolist()):
            b[k] = 1 if p[k] >= thresholds.review_probability else 0
    return p, b.astype(np.int8)


def _decisive_levels(config: MatchConfig, levels: LevelMatrix) -> npt.NDArray[np.bool_]:
    """Pairs whose ID and name levels allow ``scoring.decisive_rule`` (the records decide the rest)."""
    rules = config.hard_rules
    index = {spec.name: i for i, spec in enumerate(config.fields)}
    doc, name = index.get(rules.id_field or ""), index.get(rules.name_field or "")
    if not rules.decisive_id_and_name or doc is None or name is None:
        return np.zeros(len(levels), dtype=bool)
    id_codes = config.fields[doc].level_codes(rules.decisive_id_levels)
    name_codes = config.fields[name].level_codes(rules.decisive_name_levels)
    held: npt.NDArray[np.bool_] = np.isin(levels[:, doc], id_codes) & np.isin(levels[:, name], name_codes)
    return held


def pair_levels(
    records: list[PreparedRecord],
    pairs: IntArray,
    model: MatchModel,
    progress: Progress | None = None,
    workers: int = 1,
) -> LevelMatrix:
    """Agreement levels of candidate pairs, in chunks (in a fork pool when there are many)."""
    global _pool_records, _pool_model
    # Several chunks per worker so that the pool stays balanced; bounded to keep memory flat.
    size = CHUNK if workers <= 1 else max(5_000, min(CHUNK, -(-len(pairs) // (workers * 4))))
    chunks = [pairs[start : start + size] for start in range(0, len(pairs), size)]
    if workers > 1 and len(pairs) >= PARALLEL_PAIRS:
        _pool_records, _pool_model = records, model
        # Keep the collector from touching (and so copying) every inherited page in the workers.
        gc.freeze()
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                level_chunks = []
                for levels in pool.imap(_levels_chunk, chunks):
                    level_chunks.append(levels)
                    if progress is not None:
                        progress(len(levels))
        finally:
            gc.unfreeze()
            _pool_records, _pool_model = [], None
    else:
        level_chunks = [comparison_levels(records, chunk, model, progress) for chunk in chunks]
    if not level_chunks:
        return np.empty((0, len(model.config.fields)), dtype=np.int8)
    return np.concatenate(level_chunks)


def band_pairs(
    records: list[PreparedRecord], pairs: IntArray, levels: LevelMatrix, model: MatchModel
) -> ScoredPairs:
    """Probabilities and bands of compared pairs (TF fields weighed by the model's reference),
    hard rules applied, in chunks."""
    record_tf = record_frequencies(records, model)
    probability = np.empty(len(pairs), dtype=np.float64)
    band = np.zeros(len(pairs), dtype=np.int8)
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        p, b = _band_chunk(records, chunk, levels[start : start + CHUNK], model, record_tf)
        probability[start : start + len(chunk)] = p
        band[start : start + len(chunk)] = b
    return ScoredPairs(pairs=pairs, probability=probability, band=band, model=model)


def score_pairs(
    records: list[PreparedRecord],
    pairs: IntArray,
    model: MatchModel,
    progress: Progress | None = None,
    workers: int = 1,
) -> ScoredPairs:
    """Probabilities and bands of candidate pairs, hard rules applied."""
    return band_pairs(records, pairs, pair_levels(records, pairs, model, progress, workers), model)


def learn(
    records: list[PreparedRecord],
    pairs: IntArray,
    levels: LevelMatrix,
    fallback: MatchModel,
    description: str,
    source: npt.NDArray[np.int8] | None = None,
    seed: int = 7,
    progress: Progress | None = None,
    workers: int = 1,
    random_count: int | None = None,
    keys: KeyIndex | None = None,
) -> Estimate:
    """Estimate the parameters on the records at hand: u from random pairs (across the two sources in
    a link run; ``random_count`` of them, by default the configuration's ``em.random_pairs``), m and
    the prior by EM on the blocked pairs' levels already computed (with ``em.m_by_blocking_rule``, m
    per blocking rule: ``training.estimate_model_by_rule``; ``keys`` spares hashing them again)."""
    config = fallback.config
    count = config.em.random_pairs if random_count is None else min(random_count, config.em.random_pairs)
    sample = random_pairs(len(records), count, seed, source)
    random_levels = pair_levels(records, sample, fallback, progress, workers)
    described = (
        f"{description}; {len(records)} records, {len(sample)} random pairs, {len(pairs)} blocked pairs"
    )
    if not config.em.m_by_blocking_rule:
        return estimate_model(random_levels, levels, fallback, described)
    masks = rule_masks(records, pairs, config, source, keys)
    n = len(records)
    total = n * (n - 1) // 2 if source is None else int((source == 0).sum()) * int((source == 1).sum())
    return estimate_model_by_rule(
        random_levels, levels, [levels[mask] for mask in masks], total, fallback, described
    )


def train_model(
    rows: Iterable[Mapping[str, str]],
    config: MatchConfig,
    seed: int,
    description: str,
    progress: Progress | None = None,
    fallback: MatchModel | None = None,
    workers: int = 1,
) -> tuple[MatchModel, EMResult | None, tuple[str, ...]]:
    """``gateway train``: estimate u, m and the prior of ``config`` on unlabelled rows (the guards
    fall back to ``fallback``, by default the configuration's starting values)."""
    records, _, _, keys = prepare_and_index(rows, config, progress, workers)
    if len(records) < 2:
        raise ValueError("training needs at least two records")
    start = fallback or untrained_model(config)
    pairs = candidate_pairs(records, config, keys=keys)
    levels = pair_levels(records, pairs, start, progress, workers)
    estimate = learn(
        records, pairs, levels, start, description, seed=seed, progress=progress, workers=workers, keys=keys
    )
    return estimate.model, estimate.em, estimate.fallbacks


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did, for the command to print."""

    records: int
    rejected: int
    lenient: int
    candidate_pairs: int
    match_pairs: int
    review_pairs: int
    config_label: str
    parameters: str = "pinned"
    fallbacks: tuple[str, ...] = ()
    parameters_path: Path | None = None


def _summary(prepared: PreparedSet, scored: ScoredPairs, config: MatchConfig) -> BatchSummary:
    estimate = scored.estimate
    return BatchSummary(
        records=len(prepared.records),
        rejected=prepared.rejected,
        lenient=prepared.lenient,
        candidate_pairs=len(scored.pairs),
        match_pairs=int((scored.band == 2).sum()),
        review_pairs=int((scored.band == 1).sum()),
        config_label=config.label,
        parameters="pinned" if estimate is None else estimate.source,
        fallbacks=() if estimate is None else estimate.fallbacks,
    )


def parameters_path(out_path: Path) -> Path:
    """Where a run writes the parameters it used, beside its pairs: PAIRS.csv -> PAIRS.model.json."""
    return out_path.with_suffix(".model.json")


def _write_parameters(out_path: Path, scored: ScoredPairs, summary: BatchSummary) -> BatchSummary:
    assert scored.model is not None
    path = parameters_path(out_path)
    path.write_text(scored.model.to_json(), encoding="utf-8")
    return replace(summary, parameters_path=path)


def _match(
    prepared: PreparedSet,
    pairs: IntArray,
    model: MatchModel,
    learning: bool,
    progress: Progress | None,
    workers: int,
    keys: KeyIndex | None = None,
) -> ScoredPairs:
    """Compare the candidate pairs, learn the parameters from them unless the model is pinned, weigh
    the TF fields against the input itself, and band."""
    records = prepared.records
    levels = pair_levels(records, pairs, model, progress, workers)
    estimate = None
    if learning:
        source = prepared.source if prepared.source.any() else None
        estimate = learn(
            records,
            pairs,
            levels,
            model,
            "EM on the input",
            source,
            progress=progress,
            workers=workers,
            random_count=RANDOM_PAIRS_PER_RECORD * len(records),
            keys=keys,
        )
        model = estimate.model
    if any(spec.tf_adjustment for spec in model.config.fields):
        model = model.with_frequencies(count_frequencies(records, model.config))
    return replace(band_pairs(records, pairs, levels, model), estimate=estimate)


def dedupe_rows(
    rows: Iterable[Mapping[str, str]],
    model: MatchModel,
    progress: Progress | None = None,
    workers: int = 1,
    learning: bool = False,
) -> tuple[PreparedSet, ScoredPairs]:
    """Find duplicates within one set of rows (``learning``: ``model`` is only the fallback)."""
    records, rejected, lenient, keys = prepare_and_index(rows, model.config, progress, workers)
    prepared = PreparedSet(records, np.zeros(len(records), dtype=np.int8), rejected, lenient)
    pairs = candidate_pairs(records, model.config, keys=keys)
    return prepared, _match(prepared, pairs, model, learning, progress, workers, keys)


def link_rows(
    rows_a: Iterable[Mapping[str, str]],
    rows_b: Iterable[Mapping[str, str]],
    model: MatchModel,
    progress: Progress | None = None,
    workers: int = 1,
    learning: bool = False,
) -> tuple[PreparedSet, ScoredPairs]:
    """Find the records of ``rows_b`` that belong to persons in ``rows_a``; pairs are (a, b)."""
    a, rejected_a, lenient_a, keys_a = prepare_and_index(rows_a, model.config, progress, workers)
    b, rejected_b, lenient_b, keys_b = prepare_and_index(rows_b, model.config, progress, workers)
    source = np.r_[np.zeros(len(a), dtype=np.int8), np.ones(len(b), dtype=np.int8)]
    prepared = PreparedSet(a + b, source, rejected_a + rejected_b, lenient_a + lenient_b)
    keys = None if keys_a is None or keys_b is None else KeyIndex.concat([keys_a, keys_b], [0, len(a)])
    pairs = candidate_pairs(prepared.records, model.config, source, keys)
    return prepared, _match(prepared, pairs, model, learning, progress, workers, keys)


def write_pairs(path: Path, prepared: PreparedSet, scored: ScoredPairs) -> None:
    """Write ``record_id_1,record_id_2,score,band`` for match and review pairs, best first."""
    kept = sorted(scored.kept(), key=lambda t: (-t[2], t[0], t[1]))
    records = prepared.records
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id_1", "record_id_2", "score", "band"])
        for i, j, p, band in kept:
            writer.writerow([records[i].record_id, records[j].record_id, f"{p:.6f}", band])


def write_scored_pairs(path: Path, scored: pa.Table) -> None:
    """Write ``record_id_1,record_id_2,score,band`` from an executor's kept pairs (best first)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id_1", "record_id_2", "score", "band"])
        for batch in scored.select(["record_id_1", "record_id_2", "probability", "band"]).to_batches():
            ids_1, ids_2, probabilities, bands = (batch.column(k).to_pylist() for k in range(4))
            for id_1, id_2, p, band in zip(ids_1, ids_2, probabilities, bands, strict=True):
                writer.writerow([id_1, id_2, f"{p:.6f}", BAND_NAMES[band]])


@dataclass(frozen=True)
class EngineOptions:
    """Which executor runs a batch job and how: engine, preparation processes, DuckDB's memory limit."""

    engine: EngineName = "duckdb"
    workers: int = 1
    memory_limit: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class ExecutorRun:
    """What ``load_and_learn`` left on an executor: the parameters to score with (estimated, or the
    model given), how they were estimated, what loading rejected, and the candidate pairs blocked."""

    model: MatchModel
    estimate: Estimate | None
    rejected: int
    lenient: int
    candidate_pairs: int


def load_and_learn(
    executor: SqlExecutor,
    sources: Sequence[Iterable[Mapping[str, str]]],
    model: MatchModel,
    workers: int = 1,
    progress: Progress | None = None,
    learning: bool = False,
) -> ExecutorRun:
    """Prepare every source into the executor (one: dedupe; two: link, pairs across them), block,
    and, with ``learning``, estimate the parameters on the input (``learn_on_executor``; ``model`` is
    then the fallback). ``run_on_executor`` and the learning benchmark share it."""
    rejected = lenient = 0
    for src, rows in enumerate(sources):
        chunks = prepare_chunks(rows, model.config, src=src, first_rid=executor.records, workers=workers)
        loaded = executor.load(_counted(chunks, progress))
        rejected += loaded.rejected
        lenient += loaded.lenient
    executor.prepare()
    pairs = executor.block(link=len(sources) > 1)
    estimate = learn_on_executor(executor, model, "EM on the input") if learning else None
    used = model if estimate is None else estimate.model
    return ExecutorRun(used, estimate, rejected, lenient, pairs)


def run_on_executor(
    sources: Sequence[Iterable[Mapping[str, str]]],
    model: MatchModel,
    out_path: Path,
    options: EngineOptions,
    progress: Progress | None = None,
    learning: bool = False,
) -> BatchSummary:
    """Prepare every source, block and score on the executor (``load_and_learn``), write the kept
    pairs and, beside them, the parameters used (``learning``: first estimated on the input;
    otherwise the model given)."""
    executor = make_executor(
        options.engine, model.config, memory_limit=options.memory_limit, threads=options.threads
    )
    try:
        run = load_and_learn(executor, sources, model, options.workers, progress, learning)
        scored = executor.scored(run.model)
        write_scored_pairs(out_path, scored)
        bands = scored.column("band").to_pylist()
        estimate = run.estimate
        summary = BatchSummary(
            records=executor.records,
            rejected=run.rejected,
            lenient=run.lenient,
            candidate_pairs=run.candidate_pairs,
            match_pairs=bands.count(2),
            review_pairs=bands.count(1),
            config_label=model.config.label,
            parameters="pinned" if estimate is None else estimate.source,
            fallbacks=() if estimate is None else estimate.fallbacks,
        )
        path = parameters_path(out_path)
        path.write_text(run.model.to_json(), encoding="utf-8")
        return replace(summary, parameters_path=path)
    finally:
        executor.close()


def learn_on_executor(
    executor: SqlExecutor, fallback: MatchModel, description: str, seed: int = 7
) -> Estimate:
    """``learn`` on an executor's records: u from random pairs (at most the configuration's
    ``em.random_pairs``, ``RANDOM_PAIRS_PER_RECORD`` per record), m and the prior by EM on the
    blocked pairs' levels (with ``em.m_by_blocking_rule``, m per blocking rule on the levels the
    executor counts per rule: ``training.estimate_model_by_rule``)."""
    config = fallback.config
    count = min(config.em.random_pairs, RANDOM_PAIRS_PER_RECORD * executor.records)
    random_levels = executor.level_patterns("random", random_pairs=count, seed=seed).matrix()
    blocked_levels = executor.level_patterns("blocked").matrix()
    described = (
        f"{description}; {executor.records} records, {len(random_levels)} random pairs, "
        f"{len(blocked_levels)} blocked pairs"
    )
    if not config.em.m_by_blocking_rule:
        return estimate_model(random_levels, blocked_levels, fallback, described)
    by_rule = executor.rule_level_patterns()
    rule_levels = [by_rule[r].matrix() for r in range(len(config.blocking))]
    return estimate_model_by_rule(
        random_levels, blocked_levels, rule_levels, executor.possible_pairs(), fallback, described
    )


def _counted(chunks: Iterable[PreparedChunk], progress: Progress | None) -> Iterator[PreparedChunk]:
    for chunk in chunks:
        if progress is not None:
            progress(chunk.records.num_rows + chunk.rejected)
        yield chunk


def dedupe_file(
    in_path: Path,
    out_path: Path,
    model: MatchModel,
    progress: Progress | None = None,
    options: EngineOptions | None = None,
    learning: bool = False,
) -> BatchSummary:
    """``gateway dedupe``: duplicates within one CSV file, on an executor (DuckDB by default); with
    ``learning`` the parameters are estimated on the file and written beside the pairs."""
    return run_on_executor(
        [read_csv(in_path)], model, out_path, options or EngineOptions(), progress, learning
    )


def link_files(
    a_path: Path,
    b_path: Path,
    out_path: Path,
    model: MatchModel,
    progress: Progress | None = None,
    options: EngineOptions | None = None,
    learning: bool = False,
) -> BatchSummary:
    """``gateway link``: pairs across two CSV files (record_id_1 from A, record_id_2 from B); with
    ``learning`` the parameters are estimated on both files and written beside the pairs."""
    sources = [read_csv(a_path), read_csv(b_path)]
    return run_on_executor(sources, model, out_path, options or EngineOptions(), progress, learning)
