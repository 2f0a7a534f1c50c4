"""Wire shapes of the audit trail read endpoint."""

from __future__ import annotations

from pydantic import BaseModel, field_validator

from gateway.clock import UtcDateTime
from gateway.privacy import mask_id_numbers


class AuditRow(BaseModel):
    """One row of the trail as it is read: no full ID number, nor a ``G`` code (which is one), in
    any of its text, even in a value written before the trail masked it."""

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

    @field_validator("client_id", "acting_user", "object_ref", "purpose", "approval_ref", "request_id")
    @classmethod
    def _masked(cls, value: str | None) -> str | None:
        return None if value is None else mask_id_numbers(value)


class AuditPage(BaseModel):
    items: list[AuditRow]
    next_after_id: int | None
