"""All SQL of the batches domain: storing a batch with its rows, leasing it, and reading rows back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gateway.batches.models import Batch, BatchReview, BatchRow, CollectionPlanStep
from gateway.db import write_rows

# Rows go to the database in slices: one INSERT per slice keeps 100,000 rows to a few statements
# without building one giant parameter list.
_INSERT_SLICE = 2000
# A batch held for review (``held``) is not run until it is accepted.
RUNNABLE = ("queued", "running")


def add_batch(session: Session, batch: Batch, rows: Sequence[dict[str, Any]]) -> None:
    session.add(batch)
    session.flush()
    add_rows(session, rows)


def add_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Store rows of a batch (every ``batch_row`` column given): COPY on PostgreSQL."""
    for start in range(0, len(rows), _INSERT_SLICE):
        write_rows(session, BatchRow.__table__, rows[start : start + _INSERT_SLICE])  # type: ignore[attr-defined]


def set_totals(
    session: Session,
    batch_id: str,
    *,
    total_rows: int,
    done_rows: int,
    status: str,
    finished_at: datetime | None,
) -> None:
    """A stored batch's row counts, once all its rows are in."""
    session.execute(
        update(Batch)
        .where(col(Batch.id) == batch_id)
        .values(total_rows=total_rows, done_rows=done_rows, status=status, finished_at=finished_at)
    )


def get_batch(session: Session, batch_id: str, *, for_update: bool = False) -> Batch | None:
    return session.get(Batch, batch_id, with_for_update=for_update, populate_existing=for_update)


def unfinished_batch_ids(session: Session, now: datetime) -> list[str]:
    """Batches to run (queued, or running under an expired lease), oldest first: not those held for
    review, which run once accepted."""
    query = (
        select(Batch.id)
        .where(col(Batch.status).in_(RUNNABLE))
        .where(or_(col(Batch.lease_until).is_(None), col(Batch.lease_until) < now))
        .order_by(col(Batch.created_at))
    )
    return list(session.exec(query).all())


def unfinished_batch_from(session: Session, client_id: str, digest: str) -> Batch | None:
    query = (
        select(Batch)
        .where(Batch.client_id == client_id, Batch.source_digest == digest, col(Batch.status).in_(RUNNABLE))
        .order_by(col(Batch.created_at).desc())
    )
    return session.exec(query).first()


def pending_rows(session: Session, batch_id: str, after_row: int, limit: int) -> Sequence[BatchRow]:
    query = (
        select(BatchRow)
        .where(BatchRow.batch_id == batch_id, BatchRow.row_number > after_row, BatchRow.status == "pending")
        .order_by(col(BatchRow.row_number))
        .limit(limit)
    )
    return session.exec(query).all()


ResultRow = tuple[int, str | None, str | None, str | None, int | None, str | None]


def result_rows(session: Session, batch_id: str) -> Sequence[ResultRow]:
    """Every row's outcome columns in row order (not the encrypted payloads: results never need them)."""
    return list(iter_result_rows(session, batch_id))


def iter_result_rows(session: Session, batch_id: str, slice_rows: int = 5000) -> Iterator[ResultRow]:
    """``result_rows`` read a slice at a time by row number (never all in memory)."""
    after = -1
    while True:
        # sqlmodel's select is typed for at most four columns; plain SQLAlchemy takes any number.
        query = (
            sa_select(
                col(BatchRow.row_number),
                col(BatchRow.record_id),
                col(BatchRow.outcome),
                col(BatchRow.code),
                col(BatchRow.problem_id),
                col(BatchRow.errors_json),
            )
            .where(col(BatchRow.batch_id) == batch_id, col(BatchRow.row_number) > after)
            .order_by(col(BatchRow.row_number))
            .limit(slice_rows)
        )
        rows = session.execute(query).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def outcome_counts(session: Session, batch_id: str) -> dict[str, int]:
    query = (
        select(BatchRow.outcome, func.count())
        .where(BatchRow.batch_id == batch_id, BatchRow.status == "done")
        .group_by(col(BatchRow.outcome))
    )
    return {str(outcome): int(count) for outcome, count in session.exec(query).all()}


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def finish_row(session: Session, batch_id: str, row_number: int, values: dict[str, Any]) -> bool:
    """Mark a pending row done; False if it was already done (nothing changed)."""
    result = session.execute(
        update(BatchRow)
        .where(
            col(BatchRow.batch_id) == batch_id,
            col(BatchRow.row_number) == row_number,
            col(BatchRow.status) == "pending",
        )
        .values(status="done", **values)
    )
    return _rowcount(result) == 1


def finish_rows(session: Session, batch_id: str, rows: dict[int, dict[str, Any]]) -> None:
    """Mark many pending rows done, each with its own values (row number -> values), in one
    statement executed for all of them."""
    if not rows:
        return
    columns = sorted({name for values in rows.values() for name in values})
    statement = (
        update(BatchRow)
        .where(
            col(BatchRow.batch_id) == batch_id,
            col(BatchRow.row_number) == bindparam("row_number_"),
            col(BatchRow.status) == "pending",
        )
        .values(status="done", **{name: bindparam(f"{name}_") for name in columns})
    )
    params = [
        {"row_number_": number, **{f"{name}_": values.get(name) for name in columns}}
        for number, values in rows.items()
    ]
    session.connection().execute(statement, params)


def finish_pending_rows(session: Session, batch_id: str, values: dict[str, Any]) -> int:
    """Mark every row still pending done with the same outcome; returns how many."""
    result = session.execute(
        update(BatchRow)
        .where(col(BatchRow.batch_id) == batch_id, col(BatchRow.status) == "pending")
        .values(status="done", **values)
    )
    return _rowcount(result)


def advance_under_lease(
    session: Session, batch_id: str, owner: str, lease_until: datetime, done_increment: int
) -> bool:
    """Count finished rows and extend the lease, only while ``owner`` still holds it."""
    result = session.execute(
        update(Batch)
        .where(col(Batch.id) == batch_id, col(Batch.lease_owner) == owner)
        .values(done_rows=col(Batch.done_rows) + done_increment, lease_until=lease_until)
    )
    return _rowcount(result) == 1


def release(
    session: Session, batch_id: str, owner: str, *, status: str, finished_at: datetime | None
) -> bool:
    result = session.execute(
        update(Batch)
        .where(col(Batch.id) == batch_id, col(Batch.lease_owner) == owner)
        .values(status=status, lease_owner=None, lease_until=None, finished_at=finished_at)
    )
    return _rowcount(result) == 1


# --- the collection workflow --------------------------------------------------------------------


def add_review(session: Session, review: BatchReview) -> None:
    session.add(review)
    session.flush()


def reviews_of(session: Session, batch_ids: Sequence[str]) -> Sequence[BatchReview]:
    """The reviews of these submissions, oldest first."""
    if not batch_ids:
        return []
    query = (
        select(BatchReview)
        .where(col(BatchReview.batch_id).in_(list(batch_ids)))
        .order_by(col(BatchReview.decided_at), col(BatchReview.id))
    )
    return session.exec(query).all()


def existing_row_numbers(session: Session, batch_id: str, numbers: Sequence[int]) -> set[int]:
    if not numbers:
        return set()
    query = select(BatchRow.row_number).where(
        BatchRow.batch_id == batch_id, col(BatchRow.row_number).in_(list(numbers))
    )
    return set(session.exec(query).all())


def submissions_at(
    session: Session, *, region_prefix: str | None, school_code: str | None, steps: Sequence[str]
) -> Sequence[Batch]:
    """Submissions resting at one of ``steps``, under a region prefix ('' for all) or of one school,
    the longest waiting first."""
    query = select(Batch).where(col(Batch.review_step).in_(list(steps)))
    if school_code is not None:
        query = query.where(Batch.school_code == school_code)
    elif region_prefix:
        query = query.where(col(Batch.school_region).startswith(region_prefix))
    return session.exec(query.order_by(col(Batch.step_at), col(Batch.id))).all()


def plan_steps(session: Session, regions: Sequence[str]) -> Sequence[CollectionPlanStep]:
    """The collection plan's entries for these region prefixes."""
    if not regions:
        return []
    query = select(CollectionPlanStep).where(col(CollectionPlanStep.region).in_(list(regions)))
    return session.exec(query).all()


def plan_step(session: Session, region: str, step: str) -> CollectionPlanStep | None:
    return session.get(CollectionPlanStep, (region, step))


def save_plan_step(session: Session, entry: CollectionPlanStep) -> None:
    session.add(entry)
    session.flush()
