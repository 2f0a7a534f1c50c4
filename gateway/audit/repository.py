"""SQL for the audit trail."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent


def last_hash(session: Session) -> str | None:
    row = session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    return row


def head(session: Session) -> tuple[int, str, int] | None:
    """The newest row's id and hash, and how many rows there are up to it."""
    row = session.exec(
        select(AuditEvent.id, AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)
    ).first()
    if row is None:
        return None
    head_id, head_hash = row
    return int(head_id or 0), str(head_hash), rows_up_to(session, int(head_id or 0))


def row_hash(session: Session, row_id: int) -> str | None:
    return session.exec(select(AuditEvent.hash).where(AuditEvent.id == row_id)).first()


def rows_up_to(session: Session, row_id: int) -> int:
    return int(
        session.exec(select(func.count()).select_from(AuditEvent).where(col(AuditEvent.id) <= row_id)).one()
    )


def insert_all(session: Session, events: list[AuditEvent]) -> None:
    session.add_all(events)
    session.flush()


def iterate(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(col(AuditEvent.id) > last_id).order_by(col(AuditEvent.id)).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id or last_id


def search(
    session: Session,
    *,
    object_ref: str | None = None,
    client_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    query = select(AuditEvent).where(col(AuditEvent.id) > after_id)
    if object_ref:
        query = query.where(AuditEvent.object_ref == object_ref)
    if client_id:
        query = query.where(AuditEvent.client_id == client_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if since:
        query = query.where(col(AuditEvent.occurred_at) >= since)
    return session.exec(query.order_by(col(AuditEvent.id)).limit(limit)).all()
