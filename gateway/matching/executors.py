"""Batch executors: the SQL of ``gateway.matching.sql`` run by an existing engine over prepared
columns (``gateway.matching.columns``). DuckDB is the embedded default (every core, out of core under
a memory limit, in a database file of its own that it spills to); Spark (``gateway.matching.spark``)
takes the same SQL past one machine. The real-time scorer stays in Python; a parity test holds the
executors to it.

An executor is used in four steps: ``load`` prepared chunks, ``block`` (candidate pairs), ``scored``
(levels, weights, bands) and, for training, ``level_patterns``: the per-field comparison levels of the
blocked pairs or of a sample of random pairs, counted by pattern, which is all EM needs
(``LevelPatterns.matrix()`` expands them for ``model.expectation_maximisation``).
"""

from __future__ import annotations

import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gateway.matching.columns import READINGS_SCHEMA, PreparedChunk, readings_table
from gateway.matching.config import MatchConfig
from gateway.matching.model import LevelMatrix, MatchModel
from gateway.matching.sql import (
    candidate_pair_rules_sql,
    candidate_pairs_sql,
    levels_read_readings,
    levels_select,
    readings_fields,
    readings_needed_sql,
    score_sql,
    tf_fields,
    tf_table_sql,
)

EngineName = Literal["duckdb", "spark"]
# Prepared records are handed to the engine in appends of about this many rows.
LOAD_ROWS = 100_000


@dataclass(frozen=True)
class LoadSummary:
    """What ``load`` took in: records kept, rows rejected by normalisation, mistyped IDs kept."""

    records: int
    rejected: int
    lenient: int


@dataclass(frozen=True)
class LevelPatterns:
    """Distinct comparison vectors (patterns x fields, -1 missing) and how many pairs show each."""

    patterns: LevelMatrix
    counts: npt.NDArray[np.int64]

    @property
    def pairs(self) -> int:
        return int(self.counts.sum())

    def matrix(self) -> LevelMatrix:
        """One row per pair (the input of ``model.expectation_maximisation``)."""
        expanded: LevelMatrix = np.repeat(self.patterns, self.counts, axis=0)
        return expanded


class SqlExecutor(ABC):
    """What the engines share: table names, the order of the steps and the generated SQL."""

    engine: EngineName
    RECORDS = "records"
    KEYS = "blocking_keys"
    PAIRS = "candidate_pairs"

    def __init__(self, config: MatchConfig) -> None:
        self.config = config
        self.records = 0
        self._tf_missing: dict[int, float] = {}
        self._samples = 0
        self._link = False

    # --- what an engine provides ----------------------------------------------------------------

    @abstractmethod
    def _append(self, table: str, data: pa.Table) -> None:
        """Append an Arrow table to ``table`` (created by the first append)."""

    @abstractmethod
    def _finish_loading(self) -> None:
        """Make the appended tables queryable."""

    @abstractmethod
    def _materialise(self, name: str, select: str) -> None:
        """Create (or replace) table ``name`` as the result of ``select``."""

    @abstractmethod
    def query(self, select: str) -> pa.Table:
        """Run a SELECT and return its rows."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine and its files."""

    # --- the steps ----------------------------------------------------------------------------

    def load(self, chunks: Iterable[PreparedChunk]) -> LoadSummary:
        """Take in prepared chunks (their ``rid`` dense from 0); more calls append (link runs)."""
        rejected = lenient = 0
        records: list[pa.Table] = []
        keys: list[pa.Table] = []

        def flush() -> None:
            # A few large appends cost the engine far less than many small ones (DuckDB: about
            # 40% less CPU for chunks of 100,000 rows than of 20,000), and memory stays bounded.
            if records:
                self._append(self.RECORDS, pa.concat_tables(records))
            if keys:
                self._append(self.KEYS, pa.concat_tables(keys))
            records.clear()
            keys.clear()

        for chunk in chunks:
            if chunk.records.num_rows:
                records.append(chunk.records)
                self.records += chunk.records.num_rows
            if chunk.keys.num_rows:
                keys.append(chunk.keys)
            rejected += chunk.rejected
            lenient += chunk.lenient
            if sum(t.num_rows for t in records) >= LOAD_ROWS:
                flush()
        flush()
        return LoadSummary(records=self.records, rejected=rejected, lenient=lenient)

    def prepare(self) -> None:
        """Finish loading and compute the term frequencies (the loaded records are the reference)."""
        for i in readings_fields(self.config):
            self._append(f"rd{i}", READINGS_SCHEMA.empty_table())
        self._finish_loading()
        for i in tf_fields(self.config):
            self._materialise(f"tf{i}", tf_table_sql(i, self.RECORDS))
            present = self.query(f"SELECT count(f{i}) AS n FROM {self.RECORDS}").column("n")[0].as_py()
            self._tf_missing[i] = 1.0 / present if present else 1.0

    def block(self, *, link: bool = False) -> int:
        """Materialise the candidate pairs; returns how many."""
        self._link = link
        if self.records == 0:
            self._materialise(
                self.PAIRS, "SELECT CAST(0 AS BIGINT) AS rid_l, CAST(0 AS BIGINT) AS rid_r WHERE 1 = 0"
            )
            return 0
        self._materialise(self.PAIRS, candidate_pairs_sql(self.config, self.KEYS, link=link))
        return int(self.query(f"SELECT count(*) AS n FROM {self.PAIRS}").column("n")[0].as_py())

    def ensure_readings(self, pairs: str) -> int:
        """Compute every reading of the names the homophone test needs among ``pairs`` (once per
        name, in Python: the costly part of name preparation, spared for all other names)."""
        added = 0
        for i in readings_fields(self.config):
            select = readings_needed_sql(self.config, i, pairs, self.RECORDS)
            names = [str(v) for v in self.query(select).column("v").to_pylist()]
            if names:
                self._append(f"rd{i}", readings_table(names))
                added += len(names)
        if added:
            self._finish_loading()
        return added

    def score_select(self, model: MatchModel, *, pairs: str | None = None, kept_only: bool = True) -> str:
        """The scoring SELECT over the candidate pairs (or ``pairs``), TF tables as prepared."""
        # The model says which fields are adjusted; the frequencies are those of the loaded records.
        tf = {i: f"tf{i}" for i in tf_fields(model.config) if i in self._tf_missing}
        return score_sql(
            model,
            pairs or self.PAIRS,
            self.RECORDS,
            tf_tables=tf,
            tf_missing={i: self._tf_missing.get(i, 1.0) for i in tf},
            kept_only=kept_only,
        )

    def scored(self, model: MatchModel, *, pairs: str | None = None, kept_only: bool = True) -> pa.Table:
        """Scored pairs (match and review only unless ``kept_only`` is off), best first."""
        self.ensure_readings(pairs or self.PAIRS)
        select = self.score_select(model, pairs=pairs, kept_only=kept_only)
        return self.query(f"SELECT * FROM ({select}) s ORDER BY probability DESC, rid_l, rid_r")

    def band_counts(self, model: MatchModel) -> dict[int, int]:
        self.ensure_readings(self.PAIRS)
        select = self.score_select(model, kept_only=False)
        rows = self.query(f"SELECT band, count(*) AS n FROM ({select}) s GROUP BY band").to_pylist()
        return {int(r["band"]): int(r["n"]) for r in rows}

    def level_patterns(
        self, which: Literal["blocked", "random"], *, random_pairs: int = 0, seed: int = 0
    ) -> LevelPatterns:
        """Comparison levels counted by pattern: of the blocked candidate pairs, or of ``random_pairs``
        pairs drawn uniformly (seeded) among the loaded records, for estimating u."""
        pairs = self.PAIRS
        if which == "random":
            self._samples += 1
            pairs = f"random_pairs_{self._samples}"  # a new sample each call
            rng = np.random.default_rng(seed)
            n = self.records
            left = rng.integers(0, n, size=random_pairs, dtype=np.int64)
            right = (left + rng.integers(1, max(n, 2), size=random_pairs, dtype=np.int64)) % max(n, 1)
            self.load_pairs(pairs, pa.table({"rid_l": left, "rid_r": right}))
        if levels_read_readings(self.config):
            # Only a same_reading level reads them here (the twins guard is not a level): for random
            # pairs, whose names nearly all differ, computing them would cost more than the rest.
            self.ensure_readings(pairs)
        lv = ", ".join(f"lv{i}" for i in range(len(self.config.fields)))
        select = levels_select(self.config, pairs, self.RECORDS)
        table = self.query(f"SELECT {lv}, count(*) AS n FROM ({select}) s GROUP BY {lv}")
        width = len(self.config.fields)
        patterns = np.empty((table.num_rows, width), dtype=np.int8)
        for i in range(width):
            patterns[:, i] = np.asarray(table.column(f"lv{i}").to_numpy(), dtype=np.int8)
        counts = np.asarray(table.column("n").to_numpy(), dtype=np.int64)
        return LevelPatterns(patterns, counts)

    def rule_level_patterns(self) -> dict[int, LevelPatterns]:
        """Comparison levels of the candidate pairs counted by pattern for each blocking rule, a pair
        counted under every rule that produced it (``training.estimate_model_by_rule``)."""
        rules = f"{self.PAIRS}_rules"
        self._materialise(rules, candidate_pair_rules_sql(self.config, self.KEYS, link=self._link))
        if levels_read_readings(self.config):
            self.ensure_readings(self.PAIRS)
        width = len(self.config.fields)
        lv = ", ".join(f"lv{i}" for i in range(width))
        select = levels_select(self.config, self.PAIRS, self.RECORDS)
        table = self.query(
            f"SELECT t.rule, {lv}, count(*) AS n FROM ({select}) s JOIN {rules} t "
            f"ON t.rid_l = s.rid_l AND t.rid_r = s.rid_r GROUP BY t.rule, {lv}"
        )
        rule = np.asarray(table.column("rule").to_numpy(), dtype=np.int64)
        patterns = np.empty((table.num_rows, width), dtype=np.int8)
        for i in range(width):
            patterns[:, i] = np.asarray(table.column(f"lv{i}").to_numpy(), dtype=np.int8)
        counts = np.asarray(table.column("n").to_numpy(), dtype=np.int64)
        return {
            r: LevelPatterns(patterns[rule == r], counts[rule == r]) for r in range(len(self.config.blocking))
        }

    def possible_pairs(self) -> int:
        """Every pair the loaded records could form (across the two sources in a link run)."""
        rows = self.query(f"SELECT src, count(*) AS n FROM {self.RECORDS} GROUP BY src").to_pylist()
        sizes = {int(r["src"]): int(r["n"]) for r in rows}
        if self._link:
            return sizes.get(0, 0) * sizes.get(1, 0)
        n = sum(sizes.values())
        return n * (n - 1) // 2

    def load_pairs(self, name: str, pairs: pa.Table) -> None:
        """A table ``name`` of given pairs (rid_l, rid_r) to score or compare instead of the blocked
        ones (``scored(model, pairs=name)``); appends when it exists."""
        self._append(name, pairs)
        self._finish_loading()


class DuckDBExecutor(SqlExecutor):
    """DuckDB, embedded: a database file in a private temporary folder, so that tables larger than
    ``memory_limit`` spill to disk; every core unless ``threads`` says otherwise."""

    engine: EngineName = "duckdb"

    def __init__(self, config: MatchConfig, *, memory_limit: str | None = None, threads: int | None = None,
                 workdir: Path | None = None) -> None:  # fmt: skip
        import duckdb

        super().__init__(config)
        self._dir = Path(tempfile.mkdtemp(prefix="gateway-duckdb-", dir=workdir))
        self.con = duckdb.connect(str(self._dir / "matching.duckdb"))
        self.con.execute(f"SET temp_directory = '{self._dir / 'spill'}'")
        self.con.execute("SET preserve_insertion_order = false")
        if memory_limit:
            self.con.execute("SET memory_limit = ?", [memory_limit])
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        # The generated SQL is the same text on both engines: these names are defined on each.
        self.con.execute("CREATE MACRO arrays_overlap(a, b) AS list_has_any(a, b)")
        self.con.execute("CREATE MACRO match_jaro_winkler(a, b) AS jaro_winkler_similarity(a, b)")
        self.con.execute("CREATE MACRO match_damerau(a, b) AS damerau_levenshtein(a, b)")
        self._tables: set[str] = set()

    def _append(self, table: str, data: pa.Table) -> None:
        self.con.register("_chunk", data)
        try:
            if table in self._tables:
                self.con.execute(f"INSERT INTO {table} SELECT * FROM _chunk")
            else:
                self.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _chunk")
                self._tables.add(table)
        finally:
            self.con.unregister("_chunk")

    def _finish_loading(self) -> None:
        from gateway.matching.columns import KEY_SCHEMA, record_schema

        for name, schema in ((self.RECORDS, record_schema(self.config)), (self.KEYS, KEY_SCHEMA)):
            if name not in self._tables:
                self._append(name, schema.empty_table())

    def _materialise(self, name: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {select}")
        self._tables.add(name)

    def query(self, select: str) -> pa.Table:
        result: pa.Table = self.con.sql(select).to_arrow_table()
        return result

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def make_executor(
    engine: EngineName,
    config: MatchConfig,
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    workdir: Path | None = None,
) -> SqlExecutor:
    """An executor by name: ``duckdb`` (embedded) or ``spark`` (local mode unless the environment's
    ``spark-submit`` says otherwise)."""
    if engine == "spark":
        from gateway.matching.spark import SparkExecutor

        return SparkExecutor(config, workdir=workdir)
    return DuckDBExecutor(config, memory_limit=memory_limit, threads=threads, workdir=workdir)
