"""Writing and checking the audit trail.

Each row holds the SHA-256 of its own content and of the previous row's hash, so editing or
deleting any row breaks the chain from there on; ``verify_chain`` finds the first broken row.
Appends are serialised (advisory lock on PostgreSQL, the write lock on SQLite) and happen in the
caller's transaction: the audit row commits or rolls back with the action it records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session

from gateway.audit import repository
from gateway.audit.models import AuditEvent
from gateway.clock import as_utc, utcnow
from gateway.db import advisory_xact_lock
from gateway.privacy import mask_id_numbers

if TYPE_CHECKING:
    from gateway.auth.dependencies import Caller

GENESIS = "0" * 64
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


def _content_hash(event: AuditEvent, prev_hash: str) -> str:
    content = {name: getattr(event, name) for name in _HASHED_FIELDS}
    content["occurred_at"] = as_utc(event.occurred_at).isoformat(timespec="microseconds")
    payload = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


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
    """Append one audit row in the caller's transaction."""
    advisory_xact_lock(session, "audit-chain")
    prev = repository.last_hash(session) or GENESIS
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
        prev_hash=prev,
        hash="",
    )
    event.hash = _content_hash(event, prev)
    repository.insert(session, event)
    return event


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
