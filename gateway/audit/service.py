"""Writing and checking the audit trail.

Each row holds the SHA-256 of its own content and of the previous row's hash, so editing or
deleting any row breaks the chain from there on; ``verify_chain`` finds the first broken row.
A row belongs to the caller's transaction: it commits or rolls back with the action it records.
Chaining is a global order, so ``record`` only notes the row; it is chained and inserted just before
the transaction commits, under the append lock of ``gateway.db`` (shared with the change feed), so
that lock is held for a few statements rather than for the rest of the transaction. A query of the
audit table in the same transaction (``verify_chain``, a test) writes the noted rows first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session

from gateway.audit import repository
from gateway.audit.models import AuditEvent
from gateway.clock import as_utc, utcnow
from gateway.db import Appender, note_append, take_append_lock
from gateway.privacy import mask_id_numbers

if TYPE_CHECKING:
    from gateway.auth.caller import Caller

GENESIS = "0" * 64
_PENDING = "gateway.audit.pending"
_HASHED_FIELDS = (
    "occurred_at",
    "client_id",
    "acting_user",
    "role",
    "action",
    "object_type",
    "object_ref",
    "purpose",
    "approval_ref",
    "record_count",
    "request_id",
    "outcome",
)


def _content(event: AuditEvent) -> dict[str, Any]:
    """What a row's hash covers (besides the previous hash), as it is hashed."""
    content = {name: getattr(event, name) for name in _HASHED_FIELDS}
    content["occurred_at"] = as_utc(event.occurred_at).isoformat(timespec="microseconds")
    return content


def _payload(event: AuditEvent) -> str:
    """The canonical JSON of a row's content."""
    return json.dumps(_content(event), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _content_hash(event: AuditEvent, prev_hash: str) -> str:
    # gateway_append (migration 0009) computes the same on PostgreSQL: sha256(prev || payload).
    return hashlib.sha256((prev_hash + _payload(event)).encode()).hexdigest()


def _clean(value: str | None, limit: int) -> str | None:
    # Defence in depth: whatever a caller passes, no full ID number reaches the trail.
    return None if value is None else mask_id_numbers(value)[:limit]


def record(
    session: Session,
    *,
    action: str,
    caller: Caller | None = None,
    actor: str | None = None,
    object_type: str | None = None,
    object_ref: str | None = None,
    purpose: str | None = None,
    approval_ref: str | None = None,
    record_count: int = 1,
    outcome: str = "ok",
) -> AuditEvent:
    """Note one audit row in the caller's transaction; it is chained and written before commit."""
    event = AuditEvent(
        occurred_at=utcnow(),
        client_id=caller.client_id if caller else actor,
        acting_user=_clean(caller.acting_user, 100) if caller else None,
        role=caller.role.value if caller else None,
        action=action,
        object_type=object_type,
        object_ref=_clean(object_ref, 200),
        purpose=_clean(purpose, 200),
        approval_ref=_clean(approval_ref, 200),
        record_count=record_count,
        request_id=caller.request_id if caller else None,
        outcome=outcome,
        prev_hash="",
        hash="",
    )
    note_append(session, AUDIT_LOG, event)
    return event


def _write_pending(session: Session) -> None:
    """Chain and insert the noted rows (the caller holds the append lock)."""
    pending: list[AuditEvent] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    prev = repository.last_hash(session) or GENESIS
    for event in pending:
        event.prev_hash = prev
        event.hash = prev = _content_hash(event, prev)
    repository.insert_all(session, pending)


def write_pending(session: Session) -> None:
    """Write the rows noted so far now rather than at commit (their ids and hashes become known)."""
    if session.info.get(_PENDING):
        take_append_lock(session)
        _write_pending(session)


def _export_pending(session: Session) -> tuple[list[dict[str, Any]], Callable[[list[Any]], None]]:
    """The noted rows as JSON for ``gateway_append``, which chains and inserts them in order."""
    pending: list[AuditEvent] = session.info.pop(_PENDING, None) or []
    rows = [{**_content(event), "payload": _payload(event)} for event in pending]

    def written(result: list[Any]) -> None:
        for event, (row_id, prev_hash, row_hash) in zip(pending, result, strict=True):
            event.id, event.prev_hash, event.hash = row_id, prev_hash, row_hash

    return rows, written


AUDIT_LOG = Appender(key=_PENDING, write=_write_pending, argument="audit_rows", export=_export_pending)


def write_before_reading(state: ORMExecuteState) -> None:
    """A ``do_orm_execute`` listener (installed by ``gateway.wiring``): a query of the audit table
    in a transaction that noted rows writes them first, so that it sees them."""
    session = state.session
    if (
        session.info.get(_PENDING)
        and state.is_select
        and any(mapper.class_ is AuditEvent for mapper in state.all_mappers)
        and isinstance(session, Session)
    ):
        write_pending(session)


@dataclass(frozen=True)
class ChainReport:
    rows_checked: int
    first_bad_id: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def verify_chain(session: Session) -> ChainReport:
    """Walk the trail in order; report the first row whose content or link does not check out."""
    prev = GENESIS
    count = 0
    for event in repository.iterate(session):
        count += 1
        if event.prev_hash != prev:
            return ChainReport(count, event.id, "link to the previous row is broken (a row was removed)")
        if _content_hash(event, prev) != event.hash:
            return ChainReport(count, event.id, "row content does not match its hash (the row was edited)")
        prev = event.hash
    return ChainReport(count, None, None)
