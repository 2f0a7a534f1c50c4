"""All SQL of the batches domain: storing a batch with its rows, leasing it, and reading rows back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gateway.batches.models import Batch, BatchRow
from gateway.db import write_rows

# Rows go to the database in slices: one INSERT per slice keeps 100,000 rows to a few statements
# without building one giant parameter list.
_INSERT_SLICE = 2000


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
    """Batches not done whose lease is free or has expired, oldest first."""
    query = (
        select(Batch.id)
        .where(Batch.status != "done")
        .where(or_(col(Batch.lease_until).is_(None), col(Batch.lease_until) < now))
        .order_by(col(Batch.created_at))
    )
    return list(session.exec(query).all())


def unfinished_batch_from(session: Session, client_id: str, digest: str) -> Batch | None:
    query = (
        select(Batch)
        .where(Batch.client_id == client_id, Batch.source_digest == digest, Batch.status != "done")
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
        .where(col(BatchRow.batch_id) == batch_id)
        .order_by(col(BatchRow.row_number))
    )
    return session.execute(query).all()


def iter_result_rows(session: Session, batch_id: str, slice_rows: int = 5000) -> Iterator[ResultRow]:
    """``result_rows`` read a slice at a time by row number (never all in memory)."""
    after = -1
    while True:
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
