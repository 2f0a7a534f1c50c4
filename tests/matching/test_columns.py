"""Preparation as columns: chunks prepared by a pool of workers are the chunks prepared in one
process (same records, same keys, ``rid`` dense across chunks in input order), and every record's
key rows are the keys the registry's own blocking function gives it."""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa

from gateway.matching import MatchModel, generate_labelled
from gateway.matching.batch import prepare_rows
from gateway.matching.blocking import key_function
from gateway.matching.columns import PreparedChunk, prepare_chunks


def _concat(chunks: list[PreparedChunk]) -> tuple[pa.Table, pa.Table, int, int]:
    return (
        pa.concat_tables([c.records for c in chunks]),
        pa.concat_tables([c.keys for c in chunks]),
        sum(c.rejected for c in chunks),
        sum(c.lenient for c in chunks),
    )


def test_workers_prepare_what_one_process_prepares(model: MatchModel) -> None:
    rows = generate_labelled(900, 5).rows
    # A row normalisation rejects, in the middle of a chunk: numbering must skip it everywhere.
    rows.insert(350, {**rows[350], "record_id": "broken", "birth_date": "not a date"})
    serial = _concat(list(prepare_chunks(rows, model.config, chunk_rows=250)))
    forked = _concat(list(prepare_chunks(rows, model.config, chunk_rows=250, workers=2)))

    assert serial[0].equals(forked[0]) and serial[1].equals(forked[1])
    assert serial[2:] == forked[2:] and serial[2] == 1
    records = serial[0]
    assert records.column("rid").to_pylist() == list(range(records.num_rows))
    assert "broken" not in records.column("record_id").to_pylist()


def test_key_rows_are_the_blocking_keys_of_each_record(model: MatchModel) -> None:
    rows = generate_labelled(400, 6).rows
    records, keys, _, _ = _concat(list(prepare_chunks(rows, model.config, chunk_rows=150)))
    by_rid: dict[int, list[str]] = defaultdict(list)
    for rid, key in zip(keys.column("rid").to_pylist(), keys.column("key").to_pylist(), strict=True):
        by_rid[rid].append(key)

    keys_of = key_function(model.config)
    prepared = prepare_rows(rows, model.config)[0]
    assert len(prepared) == records.num_rows
    rule_names = [rule.name for rule in model.config.blocking]
    for rid, record in enumerate(prepared):
        assert by_rid[rid] == keys_of(record)
    rules = keys.column("rule").to_pylist()
    assert all(
        k.startswith(rule_names[r] + ":") for k, r in zip(keys.column("key").to_pylist(), rules, strict=True)
    )
