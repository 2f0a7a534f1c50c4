"""Durable Idempotency-Key handling: the same key and body replay the stored answer; a different body is 409.

The key is locked for the length of the transaction that answers it, so two requests with one key
arriving together are answered once: the second waits and then replays the first's answer. A
workflow that asks the external systems between two units of work (registration, corrections) runs
each unit inside ``answering``, which locks the key and reads its answer first, so a twin request
answered in between is replayed rather than done twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.clock import utcnow
from gateway.db import advisory_xact_lock, session_scope
from gateway.errors import FieldError, IdempotencyConflict, InvalidInput
from gateway.registry import repository

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


def lookup(session: Session, client_id: str, key: str, digest: str) -> StoredAnswer | None:
    """Lock the key, then return the stored answer (or None); 409 if it answered another body."""
    advisory_xact_lock(session, "idempotency", client_id, key)
    row = repository.stored_answer(session, client_id, key)
    if row is None:
        return None
    if row.request_hash != digest:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return StoredAnswer(row.status_code, json.loads(row.response_json))


def answered(session: Session, client_id: str, keys: list[str]) -> dict[str, StoredAnswer]:
    """The answers already stored for any of a client's keys (read without locking them: for work
    that holds its own lock over these keys, such as a batch under its lease)."""
    return {
        row.key: StoredAnswer(row.status_code, json.loads(row.response_json))
        for row in repository.stored_answers(session, client_id, keys)
    }


def insert(session: Session, client_id: str, key: str, digest: str, answer: StoredAnswer) -> None:
    """Store the answer to a key that ``lookup`` found unanswered in this transaction (its lock held)."""
    repository.insert_answer(
        session,
        {
            "client_id": client_id,
            "key": key,
            "request_hash": digest,
            "status_code": answer.status_code,
            "response_json": json.dumps(answer.body, ensure_ascii=False, default=str),
            "created_at": utcnow(),
        },
    )


@dataclass(frozen=True)
class IdempotentRequest:
    """A request made replayable by its key: who sent it, the key, and the digest of its body."""

    client_id: str
    key: str
    digest: str


def idempotent_request(client_id: str, key: str | None, body: Any) -> IdempotentRequest:
    """The request's key checked (422 when missing or malformed) and its body digested."""
    return IdempotentRequest(client_id, check_key(key), request_hash(body))


@dataclass(frozen=True)
class KeyedUnitOfWork:
    """One transaction of an idempotent request, the key locked: ``replay`` is the answer stored
    for the key (then nothing is to be done again), ``store`` keeps this request's answer."""

    session: Session
    request: IdempotentRequest
    replay: StoredAnswer | None

    def store(self, answer: StoredAnswer) -> None:
        insert(self.session, self.request.client_id, self.request.key, self.request.digest, answer)


@contextmanager
def answering(engine: Engine, request: IdempotentRequest) -> Iterator[KeyedUnitOfWork]:
    """A unit of work of ``request``: the key locked and its stored answer read before anything is
    done (409 if the key answered another body); committed when the block ends without error."""
    with session_scope(engine) as session:
        stored = lookup(session, request.client_id, request.key, request.digest)
        yield KeyedUnitOfWork(session, request, stored)
