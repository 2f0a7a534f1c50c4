"""SQL of the operations pages: how much background work waits, counted across the queues' tables."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import CompoundSelect, Select, func, literal, select, union_all
from sqlmodel import Session, col

from gateway.batches.models import Batch
from gateway.feed.models import ChangeEvent
from gateway.handoff.models import Export, WebhookDelivery
from gateway.registry.models import VerificationJob


@cache
def _backlog_query() -> CompoundSelect[str, str, int]:
    def counted(queue: str, state: str, model: Any, *where: Any) -> Select[str, str, int]:
        return (
            select(literal(queue).label("queue"), literal(state).label("state"), func.count())
            .select_from(model)
            .where(*where)
        )

    return union_all(
        counted("verification_jobs", "queued", VerificationJob, col(VerificationJob.status) == "queued"),
        counted("batches", "unfinished", Batch, col(Batch.status) != "done"),
        counted("exports", "queued", Export, col(Export.status) == "queued"),
        counted("exports", "running", Export, col(Export.status) == "running"),
        counted("webhook_deliveries", "pending", WebhookDelivery, col(WebhookDelivery.status) == "pending"),
    )


def backlog_counts(session: Session) -> list[tuple[str, str, int]]:
    """(queue, state, rows) of every queue, in one round trip."""
    return [(str(q), str(s), int(n)) for q, s, n in session.execute(_backlog_query()).all()]


def latest_feed_version(session: Session) -> int:
    """The change feed's newest version (0 while the feed is empty)."""
    return int(session.execute(select(func.coalesce(func.max(ChangeEvent.version), 0))).scalar_one())
