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

import gc
import multiprocessing as mp
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from gateway.identity import canonical_number, normalise_record, parse_id_type
from gateway.matching.blocking import key_function, record_to_row
from gateway.matching.comparators import (
    VALIDATED_ID_COLUMN,
    DateValue,
    FieldValue,
    IdValue,
    NameValue,
    PreparedRecord,
    name_readings,
    row_preparer,
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


# The columns of the kinds whose prepared value has parts: suffix, the value's attribute, Arrow type
# (the module's docstring gives their meaning); every other kind is one text column.
_TEXT, _INT, _BOOL = pa.string(), pa.int32(), pa.bool_()
_PARTS: dict[str, tuple[type, tuple[tuple[str, str, pa.DataType], ...]]] = {
    "person_name": (
        NameValue,
        (
            ("", "text", _TEXT),
            ("_py", "pinyin", _TEXT),
            ("_sn", "surname", _TEXT),
            ("_snpy", "surname_pinyin", _TEXT),
            ("_gpy", "given_pinyin", _TEXT),
        ),
    ),
    "date": (
        DateValue,
        (
            ("", "digits", _TEXT),
            ("_y", "year", _INT),
            ("_m", "month", _INT),
            ("_d", "day", _INT),
            ("_ord", "ordinal", _INT),
        ),
    ),
    "id_number": (
        IdValue,
        (("", "number", _TEXT), ("_valid", "citizen_valid", _BOOL), ("_cons", "consistent", _BOOL)),
    ),
}


def record_schema(config: MatchConfig) -> pa.Schema:
    """The Arrow schema of the prepared records of a configuration."""
    columns: list[pa.Field] = [
        pa.field("rid", pa.int64()),
        pa.field("record_id", pa.string()),
        pa.field("src", pa.int8()),
    ]
    for i, spec in enumerate(config.fields):
        parts = _PARTS.get(spec.kind)
        suffixes = (
            [(suffix, arrow_type) for suffix, _, arrow_type in parts[1]] if parts else [("", pa.string())]
        )
        columns += [pa.field(f"f{i}{suffix}", arrow_type) for suffix, arrow_type in suffixes]
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


def _prepared_records(
    rows: list[Mapping[str, str]], config: MatchConfig
) -> tuple[list[PreparedRecord], int, int]:
    """Prepare rows (normalising canonical ones); returns the records, rows rejected, IDs kept lenient."""
    prepare = row_preparer(config)
    if config.record_schema != "canonical":
        return [prepare(row) for row in rows], 0, 0
    records: list[PreparedRecord] = []
    rejected = lenient = 0
    for row in rows:
        clean, was_lenient = canonical_row(row)
        if clean is None:
            rejected += 1
            continue
        lenient += was_lenient
        records.append(prepare(clean))
    return records, rejected, lenient


def _field_columns(kind: str, f: str, values: list[FieldValue]) -> dict[str, list[Any]]:
    """The columns of one field (``f{i}`` and its parts) from its prepared values."""
    parts = _PARTS.get(kind)
    if parts is None:
        return {f: [v if isinstance(v, str) else None for v in values]}
    kind_type, columns = parts
    typed = [v if isinstance(v, kind_type) else None for v in values]
    out: dict[str, list[Any]] = {}
    for suffix, attribute, _ in columns:
        part_of = operator.attrgetter(attribute)
        out[f + suffix] = [None if v is None else part_of(v) for v in typed]
    return out


def prepare_tables(
    rows: list[Mapping[str, str]], config: MatchConfig, src: int
) -> tuple[pa.Table, pa.Table, int, int]:
    """One chunk of rows as Arrow tables of prepared records and their blocking keys, ``rid``
    numbered from 0 (the caller offsets it); plus rows rejected and IDs kept lenient."""
    records, rejected, lenient = _prepared_records(rows, config)
    n = len(records)
    cols: dict[str, Any] = {
        "rid": pa.array(range(n), pa.int64()),
        "record_id": [r.record_id for r in records],
        "src": pa.array([src] * n, pa.int8()),
    }
    for i, spec in enumerate(config.fields):
        cols.update(_field_columns(spec.kind, f"f{i}", [r.values[i] for r in records]))
    keys_of = key_function(config)
    rule_index = {rule.name: r for r, rule in enumerate(config.blocking)}
    key_rids: list[int] = []
    key_texts: list[str] = []
    for rid, record in enumerate(records):
        found = keys_of(record)
        key_rids += [rid] * len(found)
        key_texts += found
    keys = {
        "rid": key_rids,
        "src": pa.array([src] * len(key_texts), pa.int8()),
        "rule": [rule_index[key.partition(":")[0]] for key in key_texts],
        "key": key_texts,
    }
    return (
        pa.Table.from_pydict(cols, schema=record_schema(config)),
        pa.Table.from_pydict(keys, schema=KEY_SCHEMA),
        rejected,
        lenient,
    )


# Worker state of the fork pool: set in the parent just before forking, inherited, never sent.
_pool_config: MatchConfig | None = None
_pool_src = 0


def _prepare_chunk(rows: list[Mapping[str, str]]) -> tuple[pa.Table, pa.Table, int, int]:
    assert _pool_config is not None
    parts = prepare_tables(rows, _pool_config, _pool_src)
    # What a worker keeps between chunks is its name caches, hundreds of thousands of entries that
    # never form cycles: frozen, the collector stops rescanning them (without this its full
    # collections took a fifth of the preparation of a million-record file). The worker is the
    # pool's and ends with it.
    gc.freeze()
    return parts


def _prepared_serially(
    rows: Iterable[Mapping[str, str]], config: MatchConfig, src: int, chunk_rows: int
) -> Iterator[tuple[pa.Table, pa.Table, int, int]]:
    for rows_chunk in chunks_of(rows, chunk_rows):
        # In the caller's own process nothing is frozen for good: the collector only waits while a
        # chunk is prepared (the preparation makes no cycles).
        enabled = gc.isenabled()
        gc.disable()
        try:
            parts = prepare_tables(rows_chunk, config, src)
        finally:
            if enabled:
                gc.enable()
        yield parts


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
    next_rid = first_rid

    def chunk_of(parts: tuple[pa.Table, pa.Table, int, int]) -> PreparedChunk:
        # Workers number their chunk's records from 0; the dense numbering is made here, in order.
        nonlocal next_rid
        records, keys, rejected, lenient = parts
        offset = pa.scalar(next_rid, pa.int64())
        records = records.set_column(0, "rid", pc.add(records.column("rid"), offset))
        keys = keys.set_column(0, "rid", pc.add(keys.column("rid"), offset))
        next_rid += records.num_rows
        return PreparedChunk(records, keys, rejected, lenient)

    if workers <= 1:
        for parts in _prepared_serially(rows, config, src, chunk_rows):
            yield chunk_of(parts)
        return
    _pool_config, _pool_src = config, src
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            for parts in pool.imap(_prepare_chunk, chunks_of(rows, chunk_rows)):
                yield chunk_of(parts)
    finally:
        _pool_config = None
