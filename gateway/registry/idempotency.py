"""Durable Idempotency-Key handling: the same key and body replay the stored answer; a different body is 409.

The key is locked for the length of the transaction that answers it, so two requests with one key
arriving together are answered once: the second waits and then replays the first's answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from gateway.clock import utcnow
from gateway.db import advisory_xact_lock
from gateway.errors import FieldError, IdempotencyConflict, InvalidInput
from gateway.registry.models import IdempotencyRecord

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: dict[str, Any]


def request_hash(body: Any) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def check_key(key: str | None) -> str:
    if key is None or not _KEY.match(key):
        raise InvalidInput(
            errors=[
                FieldError(
                    "Idempotency-Key",
                    "required",
                    "an Idempotency-Key header of 1-200 printable ASCII characters",
                )
            ]
        )
    return key


_TABLE = IdempotencyRecord.__table__  # type: ignore[attr-defined]


@cache
def _lookup() -> Any:
    return select(_TABLE.c.request_hash, _TABLE.c.status_code, _TABLE.c.response_json).where(
        _TABLE.c.client_id == bindparam("client"), _TABLE.c.key == bindparam("key")
    )


def lookup(session: Session, client_id: str, key: str, digest: str) -> StoredAnswer | None:
    """Lock the key, then return the stored answer (or None); 409 if it answered another body."""
    advisory_xact_lock(session, "idempotency", client_id, key)
    row = session.connection().execute(_lookup(), {"client": client_id, "key": key}).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return StoredAnswer(row.status_code, json.loads(row.response_json))


def insert(session: Session, client_id: str, key: str, digest: str, answer: StoredAnswer) -> None:
    """Store the answer to a key that ``lookup`` found unanswered in this transaction (its lock held)."""
    session.connection().execute(
        _insert(),
        {
            "client_id": client_id,
            "key": key,
            "request_hash": digest,
            "status_code": answer.status_code,
            "response_json": json.dumps(answer.body, ensure_ascii=False, default=str),
            "created_at": utcnow(),
        },
    )


@cache
def _insert() -> Any:
    return _TABLE.insert()
