"""Where the files of bulk exports are kept, behind one small interface (``ExportStore``): a file of
an export is written by appending pieces, read or streamed back, listed, and an export's files are
removed together.

Two places: a directory on this machine (the embedded default, for a gateway on SQLite) and the
database (``handoff_export_chunk``), which every replica of a deployment reaches, so an export
written or taken over on one machine is downloaded from any other (ADR 011). The setting
``export_storage`` chooses; ``auto`` means the database on PostgreSQL and the directory otherwise.
In the database each piece is AES-GCM encrypted under the keyring's encryption key, bound to its
export, file and place, as the records hold codes and ID numbers that are never stored in clear.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine
from sqlmodel import Session

from gateway.db import session_scope
from gateway.handoff import repository
from gateway.handoff.models import ExportFileChunk

_READ_BLOCK = 1024 * 1024
_NONCE = 12


class ExportStorage(StrEnum):
    """The ``export_storage`` setting."""

    AUTO = "auto"
    DATABASE = "database"
    DIRECTORY = "directory"


class MissingExportFile(LookupError):
    """The file is not (or no longer) in the store."""


class ExportStore(Protocol):
    def append(self, export_id: str, name: str, data: bytes) -> None:
        """Add ``data`` at the end of the file (creating it)."""

    def stream(self, export_id: str, name: str) -> Iterator[bytes]:
        """The file's bytes in pieces; ``MissingExportFile`` when there is none."""

    def names(self, export_id: str) -> list[str]:
        """The export's files, by name."""

    def remove(self, export_id: str) -> None:
        """Remove every file of the export (none is fine)."""


def read_file(store: ExportStore, export_id: str, name: str) -> bytes:
    return b"".join(store.stream(export_id, name))


class DirectoryStore:
    """Files under ``root/<export id>/`` on this machine (readable by this machine's processes only)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def append(self, export_id: str, name: str, data: bytes) -> None:
        folder = self.root / export_id
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / name).open("ab") as handle:
            handle.write(data)

    def stream(self, export_id: str, name: str) -> Iterator[bytes]:
        try:
            handle = (self.root / export_id / name).open("rb")
        except FileNotFoundError:
            raise MissingExportFile(name) from None
        return self._blocks(handle)

    @staticmethod
    def _blocks(handle: BinaryIO) -> Iterator[bytes]:
        with handle:
            while block := handle.read(_READ_BLOCK):
                yield block

    def names(self, export_id: str) -> list[str]:
        folder = self.root / export_id
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def remove(self, export_id: str) -> None:
        shutil.rmtree(self.root / export_id, ignore_errors=True)


class DatabaseStore:
    """Files as encrypted pieces in ``handoff_export_chunk``, each written in a transaction of its own.

    ``key`` (the keyring's encryption key) is needed to write and read, not to list or remove."""

    def __init__(self, engine: Engine, key: bytes | None) -> None:
        self.engine, self._key = engine, key

    def _aead(self) -> AESGCM:
        if self._key is None:
            raise RuntimeError("export files in the database are read and written with the keyring's key")
        return AESGCM(self._key)

    @staticmethod
    def _bound_to(export_id: str, name: str, seq: int) -> bytes:
        # A piece moved to another export, file or place does not open.
        return f"gateway export file v1\x1f{export_id}\x1f{name}\x1f{seq}".encode()

    def append(self, export_id: str, name: str, data: bytes) -> None:
        nonce = os.urandom(_NONCE)
        with session_scope(self.engine) as session:
            seq = repository.next_chunk_seq(session, export_id, name)
            sealed = self._aead().encrypt(nonce, data, self._bound_to(export_id, name, seq))
            repository.add_chunk(
                session, ExportFileChunk(export_id=export_id, name=name, seq=seq, sealed=nonce + sealed)
            )

    def stream(self, export_id: str, name: str) -> Iterator[bytes]:
        with Session(self.engine) as session:
            seqs = repository.chunk_seqs(session, export_id, name)
        if not seqs:
            raise MissingExportFile(name)
        return self._pieces(export_id, name, seqs)

    def _pieces(self, export_id: str, name: str, seqs: list[int]) -> Iterator[bytes]:
        aead = self._aead()
        for seq in seqs:  # one piece in memory at a time
            with Session(self.engine) as session:
                chunk = repository.get_chunk(session, export_id, name, seq)
                if chunk is None:
                    raise MissingExportFile(name)
                raw = bytes(chunk.sealed)
            yield aead.decrypt(raw[:_NONCE], raw[_NONCE:], self._bound_to(export_id, name, seq))

    def names(self, export_id: str) -> list[str]:
        with Session(self.engine) as session:
            return repository.export_file_names(session, export_id)

    def remove(self, export_id: str) -> None:
        with session_scope(self.engine) as session:
            repository.delete_export_chunks(session, export_id)


def resolved_storage(choice: ExportStorage, engine: Engine) -> ExportStorage:
    if choice is not ExportStorage.AUTO:
        return choice
    return ExportStorage.DATABASE if engine.dialect.name == "postgresql" else ExportStorage.DIRECTORY


def open_store(choice: ExportStorage, directory: Path, engine: Engine, key: bytes | None) -> ExportStore:
    """The store the setting names: ``directory`` for the directory one, ``engine`` and ``key`` for
    the database one."""
    if resolved_storage(choice, engine) is ExportStorage.DATABASE:
        return DatabaseStore(engine, key)
    return DirectoryStore(directory)
