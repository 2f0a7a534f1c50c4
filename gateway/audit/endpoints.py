"""GET /v1/audit: read the trail (whole-country callers only; there is no way to change it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gateway.audit import repository
from gateway.audit import service as audit
from gateway.audit.schemas import AuditPage, AuditRow
from gateway.auth.caller import Caller
from gateway.auth.dependencies import SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.errors import Forbidden
from gateway.privacy import mask_id_numbers
from gateway.schemas import Offset, PlainText

router = APIRouter(tags=["audit"])


@router.get("/v1/audit", response_model=AuditPage)
def read_audit(
    caller: Annotated[Caller, Depends(require_scope(Scope.AUDIT_READ))],
    session: SessionDep,
    object_ref: Annotated[PlainText | None, Query(max_length=200)] = None,
    client_id: Annotated[PlainText | None, Query(max_length=40)] = None,
    action: Annotated[PlainText | None, Query(max_length=60)] = None,
    since: datetime | None = None,
    after_id: Annotated[Offset, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Audit rows in order, filtered; the rows hold no full ID number. Reading is itself audited."""
    if not caller.jurisdiction.is_country:
        # Rows are not tied to regions, so only a whole-country caller may read them.
        raise Forbidden("the audit trail is read at the central level")
    rows = repository.search(
        session,
        # Rows hold a student's code masked (a G code is an ID number): a full code finds its rows.
        object_ref=None if object_ref is None else mask_id_numbers(object_ref),
        client_id=client_id,
        action=action,
        since=since,
        after_id=after_id,
        limit=limit,
    )
    items = [AuditRow.model_validate(row, from_attributes=True) for row in rows]
    audit.record(session, action="audit.read", caller=caller, object_type="audit", record_count=len(items))
    return AuditPage(items=items, next_after_id=items[-1].id if len(items) == limit else None)
