"""The stores of export files: a file written in pieces reads back whole, lists, and goes with its
export; in the database the pieces are encrypted and bound to their place."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, text

from gateway.handoff.storage import (
    DatabaseStore,
    DirectoryStore,
    ExportStorage,
    ExportStore,
    MissingExportFile,
    open_store,
    read_file,
    resolved_storage,
)
from gateway.keyring import KeyRing

LINE = '{"code":"G110105201001010016","name":"王子涵"}\n'.encode()


@pytest.fixture(params=[ExportStorage.DATABASE, ExportStorage.DIRECTORY])
def store(
    request: pytest.FixtureRequest, fresh_engine: Engine, tmp_path: Path, keyring: KeyRing
) -> ExportStore:
    return open_store(request.param, tmp_path / "exports", fresh_engine, keyring.encryption_key)


def test_a_file_written_in_pieces_reads_back_whole(store: ExportStore) -> None:
    store.append("ex_1", "HandoffRecord-1.ndjson", LINE)
    store.append("ex_1", "HandoffRecord-1.ndjson", LINE * 2)
    store.append("ex_1", "HandoffRecord-2.ndjson", LINE)
    store.append("ex_2", "HandoffRecord-1.ndjson", b"other\n")
    assert read_file(store, "ex_1", "HandoffRecord-1.ndjson") == LINE * 3
    assert store.names("ex_1") == ["HandoffRecord-1.ndjson", "HandoffRecord-2.ndjson"]
    with pytest.raises(MissingExportFile):
        read_file(store, "ex_1", "HandoffRecord-3.ndjson")
    store.remove("ex_1")
    assert store.names("ex_1") == []
    with pytest.raises(MissingExportFile):
        read_file(store, "ex_1", "HandoffRecord-1.ndjson")
    assert read_file(store, "ex_2", "HandoffRecord-1.ndjson") == b"other\n"
    store.remove("ex_1")  # nothing left: fine


def test_in_the_database_pieces_are_encrypted_and_bound_to_their_place(
    fresh_engine: Engine, keyring: KeyRing
) -> None:
    store = DatabaseStore(fresh_engine, keyring.encryption_key)
    store.append("ex_1", "HandoffRecord-1.ndjson", LINE)
    store.append("ex_1", "HandoffRecord-1.ndjson", LINE)
    with fresh_engine.begin() as conn:
        stored = [bytes(row[0]) for row in conn.execute(text("SELECT sealed FROM handoff_export_chunk"))]
        assert len(stored) == 2 and not any(b"110105201001010016" in piece for piece in stored)
        # A piece moved to another file does not open there.
        conn.execute(text("UPDATE handoff_export_chunk SET name = 'HandoffRecord-2.ndjson' WHERE seq = 0"))
    with pytest.raises(InvalidTag):
        read_file(store, "ex_1", "HandoffRecord-2.ndjson")


def test_auto_is_the_database_on_postgresql_and_the_directory_otherwise(fresh_engine: Engine) -> None:
    expected = (
        ExportStorage.DATABASE if fresh_engine.dialect.name == "postgresql" else ExportStorage.DIRECTORY
    )
    assert resolved_storage(ExportStorage.AUTO, fresh_engine) is expected
    assert resolved_storage(ExportStorage.DIRECTORY, fresh_engine) is ExportStorage.DIRECTORY
    assert isinstance(open_store(ExportStorage.DIRECTORY, Path("x"), fresh_engine, None), DirectoryStore)
