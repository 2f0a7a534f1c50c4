"""SQL for API clients, their staff accounts and the counters of failed sign-ins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import case, delete, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select, update

from gateway.auth.models import ApiClient, AuthThrottle, StaffAccount
from gateway.auth.throttle import FailureCount, KeyKind
from gateway.db import is_postgres


def add_client(session: Session, client: ApiClient) -> None:
    session.add(client)
    session.flush()


def get_client(session: Session, client_id: str) -> ApiClient | None:
    return session.get(ApiClient, client_id)


def list_clients(session: Session) -> Sequence[ApiClient]:
    return session.exec(select(ApiClient).order_by(ApiClient.created_at)).all()  # type: ignore[arg-type]


def touch_client(session: Session, client_id: str, when: datetime) -> None:
    session.execute(update(ApiClient).where(ApiClient.id == client_id).values(last_used_at=when))  # type: ignore[arg-type]


def failure_counts(session: Session, keys: Mapping[KeyKind, str]) -> list[FailureCount]:
    """The stored failures of each key (absent keys have none)."""
    wanted = [(kind.value, key) for kind, key in keys.items()]
    rows = session.exec(
        select(AuthThrottle).where(tuple_(col(AuthThrottle.kind), col(AuthThrottle.key)).in_(wanted))
    ).all()
    return [FailureCount(KeyKind(r.kind), r.key, r.failures, r.last_failure_at) for r in rows]


def record_failure(
    session: Session, keys: Mapping[KeyKind, str], now: datetime, forget_before: datetime
) -> None:
    """Count one failure against every key, in one atomic upsert.

    Concurrent processes queue on each row's lock and increment the latest value, so no failure is
    lost; a key whose last failure is older than ``forget_before`` starts again at one. Rows are
    written in the order given, the same in every caller, so two upserts cannot deadlock.
    """
    table = AuthThrottle.__table__  # type: ignore[attr-defined]
    insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = insert(AuthThrottle).values(
        [
            {"kind": kind.value, "key": key, "failures": 1, "last_failure_at": now}
            for kind, key in keys.items()
        ]
    )
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "key"],
        set_={
            "failures": case((table.c.last_failure_at < forget_before, 1), else_=table.c.failures + 1),
            "last_failure_at": statement.excluded.last_failure_at,
        },
    )
    session.execute(statement)


def reset_failures(session: Session, kind: KeyKind, key: str) -> None:
    session.execute(
        delete(AuthThrottle).where(col(AuthThrottle.kind) == kind.value, col(AuthThrottle.key) == key)
    )


def prune_failures(session: Session, before: datetime, batch: int = 100) -> None:
    """Delete up to ``batch`` counters whose last failure is older than ``before`` (they count nothing).

    Rows another transaction holds are skipped (PostgreSQL), so pruning never waits and can run in a
    transaction that already holds counter rows without risking a deadlock.
    """
    stale = (
        select(col(AuthThrottle.kind), col(AuthThrottle.key))
        .where(col(AuthThrottle.last_failure_at) < before)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        delete(AuthThrottle).where(tuple_(col(AuthThrottle.kind), col(AuthThrottle.key)).in_(stale))
    )


def add_staff(session: Session, staff: StaffAccount) -> None:
    session.add(staff)
    session.flush()


def get_staff(session: Session, staff_id: str) -> StaffAccount | None:
    return session.get(StaffAccount, staff_id)


def staff_by_login(session: Session, login: str) -> StaffAccount | None:
    return session.exec(select(StaffAccount).where(StaffAccount.login == login)).first()


def list_staff(session: Session, client_id: str | None = None) -> Sequence[StaffAccount]:
    query = select(StaffAccount).order_by(col(StaffAccount.client_id), col(StaffAccount.login))
    if client_id is not None:
        query = query.where(StaffAccount.client_id == client_id)
    return session.exec(query).all()


def touch_staff(session: Session, staff_id: str, when: datetime) -> None:
    session.execute(update(StaffAccount).where(col(StaffAccount.id) == staff_id).values(last_sign_in_at=when))
