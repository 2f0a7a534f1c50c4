"""SQL for issued codes, J sequences and lineage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from gateway.db import is_postgres, write_rows
from gateway.idgen.models import CodeLineage, CodeSequence, IssuedCode
from gateway.persons.repository import insert_returning_id

_TABLE = IssuedCode.__table__  # type: ignore[attr-defined]


def get_code(session: Session, code: str, *, for_update: bool = False) -> IssuedCode | None:
    query = select(IssuedCode).where(IssuedCode.code == code).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def suffixes_in_use(session: Session, prefix: str) -> set[int]:
    rows = session.exec(select(IssuedCode.code).where(col(IssuedCode.code).startswith(prefix))).all()
    return {int(code[len(prefix) :]) for code in rows}


def insert_code(session: Session, code: IssuedCode) -> bool:
    """Insert a code unless it was ever issued; False when it was (the caller's transaction goes on)."""
    values = {
        "code": code.code,
        "type": code.type,
        "person_id": code.person_id,
        "status": code.status,
        "issued_at": code.issued_at,
        "issued_by": code.issued_by,
    }
    return session.connection().execute(_code_insert(is_postgres(session)), values).first() is not None


@cache
def _code_insert(postgres: bool) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING code, built once per dialect."""
    table = _TABLE
    insert_ = pg_insert if postgres else sqlite_insert
    return insert_(table).on_conflict_do_nothing(index_elements=["code"]).returning(table.c.code)


def issued_among(session: Session, codes: list[str]) -> set[str]:
    """Which of these codes were ever issued."""
    if not codes:
        return set()
    query = select(IssuedCode.code).where(col(IssuedCode.code).in_(codes))
    return set(session.exec(query).all())


def write_codes(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write many codes issued in this transaction (``issued_code`` columns) with one COPY (or
    INSERT); a code issued before breaks the primary key and the transaction fails."""
    write_rows(session, _TABLE, rows)


@cache
def _bind_codes() -> Any:
    return (
        update(_TABLE)
        .where(_TABLE.c.code.in_(bindparam("codes", expanding=True)))
        .values(person_id=bindparam("owner"))
    )


def bind_codes(session: Session, codes: list[str], person_id: int) -> None:
    """Give codes issued moments ago (with no person yet) to the person just written."""
    session.connection().execute(_bind_codes(), {"codes": codes, "owner": person_id})


def next_j_sequence(session: Session, region: str, birth_date: date) -> int:
    """Take the next J sequence number for (region, date); concurrent callers queue on the row lock."""
    values = {"region": region, "birth_date": birth_date, "next_value": 1}
    insert = pg_insert if is_postgres(session) else sqlite_insert
    session.execute(
        insert(CodeSequence).values(**values).on_conflict_do_nothing(index_elements=["region", "birth_date"])
    )
    taken = session.execute(
        update(CodeSequence)
        .where(col(CodeSequence.region) == region, col(CodeSequence.birth_date) == birth_date)
        .values(next_value=CodeSequence.next_value + 1)
        .returning(col(CodeSequence.next_value))
    ).scalar_one()
    return int(taken) - 1


def add_lineage(session: Session, entry: CodeLineage) -> None:
    entry.id = insert_returning_id(session, CodeLineage, entry.model_dump(exclude={"id"}))


def lineage_for_persons(session: Session, person_ids: Sequence[int]) -> Sequence[CodeLineage]:
    return session.exec(
        select(CodeLineage)
        .where(col(CodeLineage.person_id).in_(person_ids))
        .order_by(col(CodeLineage.occurred_at), col(CodeLineage.id))
    ).all()
