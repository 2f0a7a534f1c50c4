"""Name-aware preparation as columns: every record is prepared once in Python (normalisation, pinyin,
readings, date and ID-number parts, blocking keys) and written as plain typed columns, so that a SQL
engine compares pairs with equality, string distances and list look-ups alone. Rows stream through in
chunks (each chunk an Arrow table of records and one of blocking keys), optionally prepared by a pool
of forked processes, so the Python side's memory stays flat whatever the input's size.

Column layout, field ``i`` of the configuration (``f{i}`` is NULL when the value is missing):

- person_name: ``f{i}`` text, ``f{i}_py`` pinyin, ``f{i}_sn`` surname, ``f{i}_snpy`` surname pinyin,
  ``f{i}_gpy`` given-name pinyin (every reading of a heteronym name, costly, is computed later and
  only for the names of pairs that need it: ``READINGS_SCHEMA``, ``SqlExecutor.ensure_readings``)
- date: ``f{i}`` eight digits, ``f{i}_y``, ``f{i}_m``, ``f{i}_d``, ``f{i}_ord`` (NULL if not a real date)
- id_number: ``f{i}`` number, ``f{i}_valid`` (a valid citizen number), ``f{i}_cons`` (agrees with its
  own record's birth date and gender)
- region, string, category: ``f{i}`` the value
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from gateway.identity import canonical_number, normalise_record, parse_id_type
from gateway.matching.blocking import key_function, record_to_row
from gateway.matching.comparators import (
    VALIDATED_ID_COLUMN,
    DateValue,
    IdValue,
    NameValue,
    name_readings,
    prepare_row,
)
from gateway.matching.config import MatchConfig

CHUNK_ROWS = 20_000


@dataclass(frozen=True)
class PreparedChunk:
    """One chunk of prepared records (``rid`` dense from 0 across chunks) and their blocking keys."""

    records: pa.Table
    keys: pa.Table
    rejected: int
    lenient: int


READINGS_SCHEMA = pa.schema([pa.field("v", pa.string()), pa.field("rd", pa.list_(pa.string()))])


def readings_table(names: list[str]) -> pa.Table:
    """Every toneless reading of each name (the homophone test of heteronyms), for ``rd{i}``."""
    return pa.Table.from_pydict(
        {"v": names, "rd": [sorted(name_readings(name)) for name in names]}, schema=READINGS_SCHEMA
    )


def needs_readings(config: MatchConfig, field_index: int) -> bool:
    """Whether a name field's every-reading list is needed (a same_reading rule or the twins guard)."""
    spec = config.fields[field_index]
    if spec.kind != "person_name":
        return False
    if any("same_reading" in level.rules for level in spec.levels):
        return True
    return config.hard_rules.twins_guard and config.hard_rules.name_field == spec.name


def record_schema(config: MatchConfig) -> pa.Schema:
    """The Arrow schema of the prepared records of a configuration."""
    columns: list[pa.Field] = [
        pa.field("rid", pa.int64()),
        pa.field("record_id", pa.string()),
        pa.field("src", pa.int8()),
    ]
    for i, spec in enumerate(config.fields):
        f = f"f{i}"
        if spec.kind == "person_name":
            columns += [pa.field(f + s, pa.string()) for s in ("", "_py", "_sn", "_snpy", "_gpy")]
        elif spec.kind == "date":
            columns.append(pa.field(f, pa.string()))
            columns += [pa.field(f + s, pa.int32()) for s in ("_y", "_m", "_d", "_ord")]
        elif spec.kind == "id_number":
            columns += [pa.field(f, pa.string()), pa.field(f + "_valid", pa.bool_())]
            columns.append(pa.field(f + "_cons", pa.bool_()))
        else:
            columns.append(pa.field(f, pa.string()))
    return pa.schema(columns)


KEY_SCHEMA = pa.schema(
    [
        pa.field("rid", pa.int64()),
        pa.field("src", pa.int8()),
        pa.field("rule", pa.int32()),
        pa.field("key", pa.string()),
    ]
)


def canonical_row(row: Mapping[str, str]) -> tuple[dict[str, str] | None, bool]:
    """Normalise a row; a mistyped ID number (bad check character) keeps its text rather than losing
    the record, since a typo is exactly what matching must see through. Returns (row, lenient)."""
    result = normalise_record(row)
    if result.record is not None:
        clean = record_to_row(result.record)
        # Normalisation has just validated the document: spare the comparator a second check.
        clean[VALIDATED_ID_COLUMN] = "1"
        return clean, False
    bad = {issue.field for issue in result.errors}
    retry = dict(row)
    for name in bad:
        if name in ("id_number", "id_type"):
            retry["id_type"], retry["id_number"] = "none", ""
        else:
            retry[name] = ""
    second = normalise_record(retry)
    if second.record is None:
        return None, False
    record = second.record
    if bad & {"id_number", "id_type"} and row.get("id_number"):
        try:
            id_type = str(parse_id_type(row.get("id_type")))
        except ValueError:
            id_type = "other"
        record = replace(record, id_type=id_type, id_number=canonical_number(row["id_number"]))
    return record_to_row(record), True


def _columns_of(
    rows: list[Mapping[str, str]], config: MatchConfig, src: int
) -> tuple[dict[str, list[Any]], dict[str, list[Any]], int, int]:
    """Prepare rows (normalising canonical ones) into column lists; ``rid`` left relative (0..)."""
    schema = record_schema(config)
    cols: dict[str, list[Any]] = {name: [] for name in schema.names}
    keys: dict[str, list[Any]] = {name: [] for name in KEY_SCHEMA.names}
    keys_of = key_function(config)
    rule_index = {rule.name: r for r, rule in enumerate(config.blocking)}
    rejected = lenient = 0
    for row in rows:
        if config.record_schema == "canonical":
            clean, was_lenient = canonical_row(row)
            if clean is None:
                rejected += 1
                continue
            lenient += was_lenient
        else:
            clean = dict(row)
        record = prepare_row(clean, config)
        rid = len(cols["rid"])
        cols["rid"].append(rid)
        cols["record_id"].append(record.record_id)
        cols["src"].append(src)
        for i, (spec, value) in enumerate(zip(config.fields, record.values, strict=True)):
            f = f"f{i}"
            if spec.kind == "person_name":
                name = value if isinstance(value, NameValue) else None
                cols[f].append(name.text if name else None)
                cols[f + "_py"].append(name.pinyin if name else None)
                cols[f + "_sn"].append(name.surname if name else None)
                cols[f + "_snpy"].append(name.surname_pinyin if name else None)
                cols[f + "_gpy"].append(name.given_pinyin if name else None)
            elif spec.kind == "date":
                day = value if isinstance(value, DateValue) else None
                cols[f].append(day.digits if day else None)
                cols[f + "_y"].append(day.year if day else None)
                cols[f + "_m"].append(day.month if day else None)
                cols[f + "_d"].append(day.day if day else None)
                cols[f + "_ord"].append(day.ordinal if day else None)
            elif spec.kind == "id_number":
                doc = value if isinstance(value, IdValue) else None
                cols[f].append(doc.number if doc else None)
                cols[f + "_valid"].append(doc.citizen_valid if doc else None)
                cols[f + "_cons"].append(doc.consistent if doc else None)
            else:
                cols[f].append(value if isinstance(value, str) else None)
        for key in keys_of(record):
            keys["rid"].append(rid)
            keys["src"].append(src)
            keys["rule"].append(rule_index[key.partition(":")[0]])
            keys["key"].append(key)
    return cols, keys, rejected, lenient


# Worker state of the fork pool: set in the parent just before forking, inherited, never sent.
_pool_config: MatchConfig | None = None
_pool_src = 0


def _prepare_chunk(
    rows: list[Mapping[str, str]],
) -> tuple[dict[str, list[Any]], dict[str, list[Any]], int, int]:
    assert _pool_config is not None
    return _columns_of(rows, _pool_config, _pool_src)


def chunks_of(rows: Iterable[Mapping[str, str]], size: int) -> Iterator[list[Mapping[str, str]]]:
    """The rows in lists of ``size`` (the last one shorter)."""
    chunk: list[Mapping[str, str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prepare_chunks(
    rows: Iterable[Mapping[str, str]],
    config: MatchConfig,
    *,
    src: int = 0,
    first_rid: int = 0,
    workers: int = 1,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[PreparedChunk]:
    """Prepare rows chunk by chunk; ``rid`` numbers the kept records densely from ``first_rid``."""
    global _pool_config, _pool_src
    schema = record_schema(config)
    next_rid = first_rid

    def chunk_of(parts: tuple[dict[str, list[Any]], dict[str, list[Any]], int, int]) -> PreparedChunk:
        nonlocal next_rid
        cols, keys, rejected, lenient = parts
        offset = next_rid
        cols["rid"] = [r + offset for r in cols["rid"]]
        keys["rid"] = [r + offset for r in keys["rid"]]
        next_rid += len(cols["rid"])
        return PreparedChunk(
            pa.Table.from_pydict(cols, schema=schema),
            pa.Table.from_pydict(keys, schema=KEY_SCHEMA),
            rejected,
            lenient,
        )

    if workers <= 1:
        for rows_chunk in chunks_of(rows, chunk_rows):
            yield chunk_of(_columns_of(rows_chunk, config, src))
        return
    _pool_config, _pool_src = config, src
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            for parts in pool.imap(_prepare_chunk, chunks_of(rows, chunk_rows)):
                yield chunk_of(parts)
    finally:
        _pool_config = None
