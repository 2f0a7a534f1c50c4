"""SQL of the shared adapter limits (PostgreSQL only).

Unlike other repositories these functions take a ``Connection`` in autocommit mode, not the caller's
``Session``: a call counted or a slot taken must be visible to every process at once and must not
wait for, or roll back with, the transaction of the registration that asked for the verification.
"""

from __future__ import annotations

import functools
from datetime import date

from sqlalchemy import Connection, Insert, Integer, and_, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col

from gateway.limits.models import AdapterQuota


@functools.cache
def _count_statement(limited: bool) -> Insert:
    table = AdapterQuota.__table__  # type: ignore[attr-defined]
    rows = bindparam("rows", type_=Integer)
    statement = pg_insert(AdapterQuota).values(
        source=bindparam("source"), day=bindparam("day"), used=rows, exhausted_by_source=False
    )
    room = ~table.c.exhausted_by_source
    if limited:
        room = and_(room, table.c.used + rows <= bindparam("limit", type_=Integer))
    return statement.on_conflict_do_update(
        index_elements=["source", "day"], set_={"used": table.c.used + rows}, where=room
    ).returning(table.c.used)


def count_call(conn: Connection, source: str, day: date, limit: int | None, rows: int = 1) -> int | None:
    """Count one call of ``rows`` rows (each a query the source counts) in one atomic upsert and
    return the day's count, or None when they do not all fit in the day's allowance (or the source
    said it is spent). Concurrent processes queue on the row's lock and each sees the count the one
    before it left, so no more than ``limit`` rows are ever counted (``rows`` must be at most
    ``limit``: a first call always counts)."""
    params: dict[str, object] = {"source": source, "day": day, "rows": rows}
    if limit is not None:
        params["limit"] = limit
    row = conn.execute(_count_statement(limit is not None), params).first()
    return None if row is None else int(row[0])


@functools.cache
def _exhausted_statement() -> Insert:
    statement = pg_insert(AdapterQuota).values(
        source=bindparam("source"), day=bindparam("day"), used=0, exhausted_by_source=True
    )
    return statement.on_conflict_do_update(
        index_elements=["source", "day"], set_={"exhausted_by_source": True}
    )


def mark_exhausted(conn: Connection, source: str, day: date) -> None:
    """Record that the source said the day's quota is spent."""
    conn.execute(_exhausted_statement(), {"source": source, "day": day})


def quota_of(conn: Connection, source: str, day: date) -> tuple[int, bool]:
    """(calls counted, exhausted by the source) of the day; (0, False) before the first call."""
    row = conn.execute(
        select(col(AdapterQuota.used), col(AdapterQuota.exhausted_by_source)).where(
            col(AdapterQuota.source) == source, col(AdapterQuota.day) == day
        )
    ).first()
    return (0, False) if row is None else (int(row[0]), bool(row[1]))


_CURRENT_SCHEMA = text("SELECT current_schema()")
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def current_schema(conn: Connection) -> str:
    """The schema the gateway's tables are in (advisory locks are per database, not per schema)."""
    return str(conn.execute(_CURRENT_SCHEMA).scalar_one())


def try_slot(conn: Connection, key: int) -> bool:
    """Take the session-level advisory lock ``key`` on this connection if no session holds it. It is
    held until ``release_slot`` or until the connection closes, however it closes."""
    return bool(conn.execute(_TRY_LOCK, {"key": key}).scalar_one())


def release_slot(conn: Connection, key: int) -> bool:
    """Give back a slot this connection holds; False if it did not hold it."""
    return bool(conn.execute(_UNLOCK, {"key": key}).scalar_one())
