"""Signed checkpoints of the audit chain's head, kept outside the database.

The hash chain shows any edit or removal to someone who cannot rewrite the whole table; whoever can
(a database owner dropping the append-only triggers) could delete the last rows, or recompute every
hash after an edit, and the chain would still verify. A checkpoint closes that: the head's row id,
the number of rows up to it and its hash, signed with the gateway's statement key (the one that signs
handoff responses, published at ``/.well-known/jwks.json``), written as a new read-only file in a
directory the database cannot reach (a write-once mount or object-store sync in production).
``verify`` then checks the chain against the newest valid checkpoint: a truncated trail lacks the
row, a rewritten one has another hash, a shortened middle another count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from sqlmodel import Session

from gateway.audit import repository
from gateway.clock import as_utc, utcnow
from gateway.keyring import KeyRing

ALGORITHM = "ES256"
_TYPE = "audit-checkpoint+jws"


@dataclass(frozen=True)
class Checkpoint:
    head_id: int
    rows: int
    head_hash: str
    at: datetime

    def claims(self) -> dict[str, Any]:
        return {
            "head_id": self.head_id,
            "rows": self.rows,
            "head_hash": self.head_hash,
            "at": as_utc(self.at).isoformat(),
        }


def _file_name(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.head_id:015d}-{checkpoint.rows:015d}.jws"


def take(session: Session) -> Checkpoint | None:
    """The chain's head as it stands now (None for an empty trail)."""
    head = repository.head(session)
    if head is None:
        return None
    head_id, head_hash, rows = head
    return Checkpoint(head_id=head_id, rows=rows, head_hash=head_hash, at=utcnow())


def write(directory: Path, keyring: KeyRing, checkpoint: Checkpoint) -> Path | None:
    """Sign ``checkpoint`` and write it as a new read-only file; None if that head was written already
    (files are never replaced: one head, one file)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / _file_name(checkpoint)
    token = jwt.encode(
        checkpoint.claims(),
        keyring.statement_key,
        algorithm=ALGORITHM,
        headers={"kid": keyring.statement_kid, "typ": _TYPE},
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return path


def checkpoint_now(session: Session, directory: Path, keyring: KeyRing) -> Path | None:
    """Take and write a checkpoint of the current head (None when the trail is empty or unchanged)."""
    checkpoint = take(session)
    return None if checkpoint is None else write(directory, keyring, checkpoint)


@dataclass(frozen=True)
class CheckpointReport:
    checked: Checkpoint | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _read(path: Path, jwks: dict[str, Any]) -> Checkpoint:
    token = path.read_text().strip()
    header = jwt.get_unverified_header(token)
    if header.get("typ") != _TYPE:
        raise jwt.InvalidTokenError("not an audit checkpoint")
    key = jwt.PyJWKSet.from_dict(jwks)[str(header.get("kid"))]
    claims = jwt.decode(token, key.key, algorithms=[ALGORITHM])
    return Checkpoint(
        head_id=int(claims["head_id"]),
        rows=int(claims["rows"]),
        head_hash=str(claims["head_hash"]),
        at=datetime.fromisoformat(str(claims["at"])),
    )


def verify(session: Session, directory: Path, jwks: dict[str, Any]) -> CheckpointReport:
    """Check the trail against the newest checkpoint; every checkpoint file must carry a valid
    signature (a forged or altered one is itself a finding)."""
    files = sorted(directory.glob("*.jws")) if directory.is_dir() else []
    if not files:
        return CheckpointReport(None, None)
    newest: Checkpoint | None = None
    for path in files:
        try:
            checkpoint = _read(path, jwks)
        except (jwt.PyJWTError, KeyError, ValueError):
            return CheckpointReport(None, f"checkpoint {path.name} does not carry a valid signature")
        if newest is None or checkpoint.head_id > newest.head_id:
            newest = checkpoint
    assert newest is not None
    row = repository.row_hash(session, newest.head_id)
    if row is None:
        return CheckpointReport(
            newest,
            f"row {newest.head_id} of the checkpoint of {newest.at:%Y-%m-%d %H:%M} is gone (truncated)",
        )
    if row != newest.head_hash:
        return CheckpointReport(
            newest, f"row {newest.head_id} no longer has the hash its checkpoint signed (rewritten)"
        )
    rows = repository.rows_up_to(session, newest.head_id)
    if rows != newest.rows:
        return CheckpointReport(
            newest,
            f"{rows} rows up to row {newest.head_id}, the checkpoint signed {newest.rows} (rows removed)",
        )
    return CheckpointReport(newest, None)
