"""Wire shapes of the audit trail read endpoint."""

from __future__ import annotations

from pydantic import BaseModel

from gateway.clock import UtcDateTime


class AuditRow(BaseModel):
    id: int
    occurred_at: UtcDateTime
    client_id: str | None
    acting_user: str | None
    role: str | None
    action: str
    object_type: str | None
    object_ref: str | None
    purpose: str | None
    approval_ref: str | None
    record_count: int
    request_id: str | None
    outcome: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRow]
    next_after_id: int | None
