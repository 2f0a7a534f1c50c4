"""The Spark executor: the same generated SQL as DuckDB, run by Spark SQL, for registries beyond one
machine. Prepared chunks are written as Parquet (the snapshot a cluster reads from shared storage);
every intermediate table is written back as Parquet, so nothing has to fit in one executor's memory.
The two string distances the SQL needs beyond Spark's own are pandas UDFs over the library the
Python scorer uses (jellyfish), so both agree to the bit (Spark's built-in Jaro-Winkler does not).

Local mode (``local[*]``) unless the session is started by ``spark-submit`` with a master of its own;
the cluster shape is in docs/adr/018-batch-matching-on-sql-engines.md. Imported only when asked for:
pyspark (and the pandas it needs for UDFs) is an optional dependency.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import jellyfish
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import gateway
from gateway.matching.config import MatchConfig
from gateway.matching.executors import EngineName, SqlExecutor

# py4j reports each connection it closes at INFO, also while the interpreter shuts down (when the
# log stream may be gone already); its warnings are what an operator needs.
logging.getLogger("py4j").setLevel(logging.WARNING)


def _jaro_winkler(a: pd.Series, b: pd.Series) -> pd.Series:
    return pd.Series(
        [
            None if x is None or y is None else jellyfish.jaro_winkler_similarity(x, y)
            for x, y in zip(a, b, strict=True)
        ],
        dtype="float64",
    )


def _damerau(a: pd.Series, b: pd.Series) -> pd.Series:
    return pd.Series(
        [
            None if x is None or y is None else jellyfish.damerau_levenshtein_distance(x, y)
            for x, y in zip(a, b, strict=True)
        ],
        dtype="Int64",
    )


def spark_session(app_name: str = "gateway-matching", master: str | None = None) -> Any:
    """A Spark session: the one ``spark-submit`` configured (its master, addresses and Python left as
    it set them), else local mode on every core, on loopback, its Python workers running this
    interpreter and importing this gateway package."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).config(
        "spark.sql.execution.arrow.pyspark.enabled", "true"
    )
    if os.environ.get("SPARK_ENV_LOADED") and master is None:
        return builder.getOrCreate()
    # Local mode talks to itself only: on loopback, never on the machine's other interfaces.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    package_root = str(Path(gateway.__file__).resolve().parent.parent)
    return (
        builder.master(master or "local[*]")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.executorEnv.PYTHONPATH", package_root)
        .config("spark.sql.shuffle.partitions", os.environ.get("GATEWAY_SPARK_PARTITIONS", "8"))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )


class SparkExecutor(SqlExecutor):
    """Spark SQL over Parquet files in a working folder (on a cluster: storage every node reaches)."""

    engine: EngineName = "spark"

    def __init__(self, config: MatchConfig, *, workdir: Path | None = None, session: Any = None) -> None:
        from pyspark.sql.functions import pandas_udf  # type: ignore[attr-defined]

        super().__init__(config)
        self._dir = Path(tempfile.mkdtemp(prefix="gateway-spark-", dir=workdir))
        self.spark = session or spark_session()
        self.spark.udf.register("match_jaro_winkler", pandas_udf(_jaro_winkler, "double"))
        self.spark.udf.register("match_damerau", pandas_udf(_damerau, "long"))
        self._parts: dict[str, int] = {}

    def _append(self, table: str, data: pa.Table) -> None:
        folder = self._dir / table
        folder.mkdir(exist_ok=True)
        part = self._parts.get(table, 0)
        pq.write_table(data, folder / f"part-{part:06d}.parquet")
        self._parts[table] = part + 1

    def _finish_loading(self) -> None:
        from gateway.matching.columns import KEY_SCHEMA, record_schema

        for name, schema in ((self.RECORDS, record_schema(self.config)), (self.KEYS, KEY_SCHEMA)):
            if name not in self._parts:
                self._append(name, schema.empty_table())
        for name in self._parts:
            self.spark.read.parquet(str(self._dir / name)).createOrReplaceTempView(name)

    def _materialise(self, name: str, select: str) -> None:
        target = self._dir / f"{name}.table"
        self.spark.sql(select).write.mode("overwrite").parquet(str(target))
        self.spark.read.parquet(str(target)).createOrReplaceTempView(name)

    def query(self, select: str) -> pa.Table:
        result: pa.Table = self.spark.sql(select).toArrow()
        return result

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
