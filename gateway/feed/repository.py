"""SQL of the change feed: its newest version, inserting numbered events, reading events in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from gateway.feed.models import ChangeEvent


def latest_version(session: Session) -> int:
    """The newest version in the feed (0 while it is empty)."""
    return int(session.execute(select(func.max(ChangeEvent.version))).scalar_one_or_none() or 0)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert events already numbered (their ``version`` set)."""
    session.execute(insert(ChangeEvent), rows)


def events_after(
    session: Session,
    since: int,
    limit: int,
    *,
    person_ids: Sequence[int] | None = None,
    school_code: str | None = None,
    region_prefix: str | None = None,
) -> Sequence[ChangeEvent]:
    """Events after version ``since``, oldest first, narrowed to some persons, a school or a region."""
    query = select(ChangeEvent).where(col(ChangeEvent.version) > since)
    if person_ids is not None:
        query = query.where(col(ChangeEvent.person_id).in_(person_ids))
    if school_code is not None:
        query = query.where(ChangeEvent.school_code == school_code)
    if region_prefix is not None:
        query = query.where(col(ChangeEvent.region).startswith(region_prefix))
    return session.exec(query.order_by(col(ChangeEvent.version)).limit(limit)).all()
