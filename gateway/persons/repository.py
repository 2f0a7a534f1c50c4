"""SQL for persons, their identifiers and blocking keys, and the one place that follows merges: who
holds a code now, and which persons a merge links (used by students and handoff)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, String, Table, any_, bindparam, false, insert, text, union, update
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col, or_, select

from gateway.db import is_postgres, write_rows
from gateway.persons.models import BlockingKey, Person, PersonIdentifier, PersonSummary


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


@cache
def _insert_returning_id(model: type[SQLModel]) -> Any:
    table = _table(model)
    return insert(table).returning(table.c.id)


def insert_returning_id(session: Session, model: type[SQLModel], values: dict[str, Any]) -> int:
    """Insert one row of ``model`` (one prepared-once statement, no unit of work); its new id."""
    new_id: int = session.connection().execute(_insert_returning_id(model), values).scalar_one()
    return new_id


@cache
def _identifier_upsert(postgres: bool) -> Any:
    table = _table(PersonIdentifier)
    upsert = pg_insert if postgres else sqlite_insert
    return upsert(table).on_conflict_do_nothing().returning(table.c.id)


def insert_person(session: Session, person: Person) -> int:
    """Write a new person (one INSERT, no unit of work) and set its id; the object stays outside the
    session: read the person again (``get_person``) to change it through the ORM."""
    values = {c.name: getattr(person, c.name) for c in _table(Person).columns if c.name != "id"}
    person.id = insert_returning_id(session, Person, values)
    return person.id


@cache
def _insert_many_returning_id(model: type[SQLModel]) -> Any:
    table = _table(model)
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


def insert_many_returning_ids(
    session: Session, model: type[SQLModel], rows: list[dict[str, Any]]
) -> list[int]:
    """Insert many rows of ``model`` in few statements; their new ids, in the order given."""
    if not rows:
        return []
    result = session.connection().execute(_insert_many_returning_id(model), rows)
    return [int(i) for i in result.scalars()]


def _python_defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The values the model's columns take when none is given (SQLModel sets them in Python, so a
    COPY must carry them)."""
    defaults: dict[str, Any] = {}
    for column in _table(model).columns:
        if column.name == "id":
            continue
        default = column.default
        defaults[column.name] = (
            getattr(default, "arg", None) if default is not None and default.is_scalar else None
        )
    return defaults


def insert_new_persons(session: Session, rows: list[dict[str, Any]]) -> list[PersonSummary]:
    """Write many new persons at once (each a mapping of ``Person`` columns; those left out take
    their defaults); the persons as written, ids set, in the order given."""
    if not rows:
        return []
    values = [{**_python_defaults(Person), **row} for row in rows]
    if is_postgres(session):
        ids = [
            int(i)
            for i in session.connection()
            .execute(
                text("SELECT nextval(pg_get_serial_sequence('person', 'id')) FROM generate_series(1, :n)"),
                {"n": len(values)},
            )
            .scalars()
        ]
        for row, new_id in zip(values, ids, strict=True):
            row["id"] = new_id
        write_rows(session, _table(Person), values)
    else:
        ids = insert_many_returning_ids(session, Person, values)
        for row, new_id in zip(values, ids, strict=True):
            row["id"] = new_id
    return [PersonSummary(**{name: row[name] for name in _SUMMARY}) for row in values]


def new_rows_of(model: type[SQLModel], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``model`` with every column but the id, those left out at their defaults."""
    defaults = _python_defaults(model)
    return [{**defaults, **row} for row in rows]


def add_new_identifiers(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write the identifiers of persons written in this transaction (``PersonIdentifier`` columns).
    An active national number held already breaks the unique index: the transaction fails."""
    write_rows(session, _table(PersonIdentifier), new_rows_of(PersonIdentifier, rows))


def add_new_blocking_keys(session: Session, keys: list[tuple[int, list[str]]]) -> None:
    """The blocking keys of many new persons: (person id, digests)."""
    rows = [{"digest": d, "person_id": pid} for pid, digests in keys for d in sorted(set(digests))]
    write_rows(session, _table(BlockingKey), rows)


def get_person(session: Session, person_id: int, *, for_update: bool = False) -> Person | None:
    query = select(Person).where(Person.id == person_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def active_identifiers(session: Session, person_id: int) -> Sequence[PersonIdentifier]:
    return session.exec(
        select(PersonIdentifier)
        .where(PersonIdentifier.person_id == person_id, col(PersonIdentifier.valid_to).is_(None))
        .order_by(col(PersonIdentifier.id))
    ).all()


def all_identifiers(session: Session, person_id: int) -> Sequence[PersonIdentifier]:
    return session.exec(
        select(PersonIdentifier)
        .where(PersonIdentifier.person_id == person_id)
        .order_by(col(PersonIdentifier.id))
    ).all()


def find_active_identifier(session: Session, scheme: str, value_hash: str) -> Sequence[PersonIdentifier]:
    return session.exec(
        select(PersonIdentifier).where(
            PersonIdentifier.scheme == scheme,
            PersonIdentifier.value_hash == value_hash,
            col(PersonIdentifier.valid_to).is_(None),
        )
    ).all()


def add_identifier(session: Session, identifier: PersonIdentifier) -> bool:
    """Insert an identifier and set its id; False (nothing written, the transaction goes on) when an
    active national number of the same scheme is already held (the only unique index it can break)."""
    values = identifier.model_dump(exclude={"id"})
    new_id = (
        session.connection().execute(_identifier_upsert(is_postgres(session)), values).scalar_one_or_none()
    )
    if new_id is None:
        return False
    identifier.id = new_id
    return True


def end_identifier(session: Session, identifier_id: int, at: datetime) -> None:
    """Close an identifier's validity (never delete it)."""
    table = _table(PersonIdentifier)
    session.connection().execute(update(table).where(table.c.id == identifier_id).values(valid_to=at))


def add_blocking_keys(
    session: Session, person_id: int, digests: list[str], *, new_person: bool = False
) -> None:
    existing: set[str] = (
        set()
        if new_person
        else set(session.exec(select(BlockingKey.digest).where(BlockingKey.person_id == person_id)).all())
    )
    new = sorted(set(digests) - existing)
    if new:  # one multi-row INSERT, not one statement per key
        session.connection().execute(
            insert(_table(BlockingKey)).values([{"digest": d, "person_id": person_id} for d in new])
        )


_SUMMARY = tuple(f.name for f in fields(PersonSummary))


@cache
def _search_query(by_keys: bool, by_document: bool) -> Any:
    """The search statement, built once per shape (its cache key is then computed once, too)."""
    person, keys, held = _table(Person), _table(BlockingKey), _table(PersonIdentifier)
    wanted: list[Any] = []
    if by_keys:
        wanted.append(
            sql_select(keys.c.person_id)
            .where(keys.c.digest.in_(bindparam("digests", expanding=True)))
            .distinct()
            .limit(bindparam("limit"))
        )
    holds: Any = false()
    if by_document:
        holders = sql_select(held.c.person_id).where(
            held.c.scheme == bindparam("scheme"),
            held.c.value_hash == bindparam("value_hash"),
            held.c.valid_to.is_(None),
        )
        wanted.append(holders)
        holds = person.c.id.in_(holders.scalar_subquery())
    # One id list, so the person table is read by its primary key (an OR of two IN lists is not).
    ids: Any = wanted[0]
    if len(wanted) > 1:
        ids = union(*(w.subquery().select() for w in wanted))
    return (
        sql_select(*(person.c[name] for name in _SUMMARY), holds.label("holds"))
        .where(person.c.id.in_(ids))
        .order_by(person.c.id)
    )


def search_candidates(
    session: Session, digests: list[str], limit: int, document: tuple[str, str] | None = None
) -> tuple[list[PersonSummary], list[int]]:
    """One query for a search: the persons sharing any blocking key (at most ``limit`` of them) and
    the persons actively holding ``document`` (scheme, value hash), whatever their status (the
    caller keeps the active ones as candidates). Returns the persons, in id order, and the ids of
    the document's holders."""
    if not digests and document is None:
        return [], []
    params: dict[str, Any] = {"digests": digests, "limit": limit}
    if document is not None:
        params["scheme"], params["value_hash"] = document
    query = _search_query(bool(digests), document is not None)
    found, holder_ids = [], []
    for row in session.connection().execute(query, params):
        values = row._mapping
        found.append(PersonSummary(**{name: values[name] for name in _SUMMARY}))
        if values["holds"]:
            holder_ids.append(int(values["id"]))
    return found, holder_ids


@dataclass(frozen=True)
class ManyFound:
    """What one query found for many searches at once: each person read (by id), the persons
    holding each blocking key, and the active holders of each document (scheme, value hash)."""

    persons: dict[int, PersonSummary]
    by_digest: dict[str, list[int]]
    holders: dict[tuple[str, str], list[int]]

    def search(
        self, digests: list[str], document: tuple[str, str] | None, limit: int
    ) -> tuple[list[PersonSummary], list[int]]:
        """One record's share, as ``search_candidates`` would return it: the persons sharing any of
        its keys (at most ``limit``) and its document's holders, in id order, and the holders' ids."""
        keyed = sorted({pid for d in digests for pid in self.by_digest.get(d, ())})[:limit]
        holders = sorted(self.holders.get(document, ())) if document is not None else []
        ids = sorted(set(keyed) | set(holders))
        return [self.persons[i] for i in ids], holders


def _any_of(column: Any, name: str, postgres: bool) -> Any:
    # PostgreSQL takes one array parameter (its protocol caps the parameters of a statement at
    # 65,535); SQLite an expanded IN list.
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(bindparam(name, expanding=True))


@cache
def _many_queries(postgres: bool) -> tuple[Any, Any, Any]:
    person, keys, held = _table(Person), _table(BlockingKey), _table(PersonIdentifier)
    by_keys = (
        sql_select(keys.c.digest, *(person.c[name] for name in _SUMMARY))
        .join(person, person.c.id == keys.c.person_id)
        .where(_any_of(keys.c.digest, "digests", postgres))
    )
    # The scheme first: the look-up index is (scheme, value_hash).
    holding = sql_select(held.c.scheme, held.c.value_hash, held.c.person_id).where(
        _any_of(held.c.scheme, "schemes", postgres),
        _any_of(held.c.value_hash, "hashes", postgres),
        held.c.valid_to.is_(None),
    )
    by_ids = sql_select(*(person.c[name] for name in _SUMMARY)).where(
        person.c.id.in_(bindparam("ids", expanding=True))
    )
    return by_keys, holding, by_ids


def search_candidates_many(
    session: Session, digests: list[str], documents: list[tuple[str, str]]
) -> ManyFound:
    """The reads of many searches in three queries: every person holding any of the blocking keys,
    the active holders of any of the documents, and those holders' persons not read yet."""
    by_keys, holding, by_ids = _many_queries(is_postgres(session))
    conn = session.connection()
    persons: dict[int, PersonSummary] = {}
    by_digest: dict[str, list[int]] = {}
    if digests:
        for row in conn.execute(by_keys, {"digests": sorted(set(digests))}):
            values = row._mapping
            pid = int(values["id"])
            if pid not in persons:
                persons[pid] = PersonSummary(**{name: values[name] for name in _SUMMARY})
            by_digest.setdefault(values["digest"], []).append(pid)
    holders: dict[tuple[str, str], list[int]] = {}
    if documents:
        wanted = set(documents)
        wanted_values = {
            "schemes": sorted({s for s, _ in documents}),
            "hashes": sorted({h for _, h in documents}),
        }
        for scheme, value_hash, person_id in conn.execute(holding, wanted_values):
            if (scheme, value_hash) in wanted:
                holders.setdefault((scheme, value_hash), []).append(int(person_id))
        missing = sorted({pid for ids in holders.values() for pid in ids} - set(persons))
        if missing:
            for row in conn.execute(by_ids, {"ids": missing}):
                values = row._mapping
                persons[int(values["id"])] = PersonSummary(**{name: values[name] for name in _SUMMARY})
    return ManyFound(persons, by_digest, holders)


def persons_by_ids(session: Session, ids: list[int]) -> Sequence[Person]:
    if not ids:
        return []
    return session.exec(select(Person).where(col(Person.id).in_(ids)).order_by(col(Person.id))).all()


def merge_chain(session: Session, person_id: int) -> list[Person]:
    """The person and, if merged away, each survivor in turn: the last is who holds the code now."""
    person = get_person(session, person_id)
    if person is None:
        return []
    chain = [person]
    seen = {person_id}
    while person.merged_into_id is not None and person.merged_into_id not in seen:
        survivor = get_person(session, person.merged_into_id)
        if survivor is None:
            break
        person = survivor
        chain.append(person)
        seen.add(int(person.id or 0))
    return chain


def current_holder(session: Session, person_id: int) -> Person:
    """The person a (possibly merged-away) person id stands for now."""
    chain = merge_chain(session, person_id)
    assert chain, f"person {person_id} does not exist"
    return chain[-1]


# Merge chains are short (a merge of a merge is rare); the cap only guards against a cycle.
_MAX_MERGE_DEPTH = 16


def merged_person_ids(session: Session, survivor_id: int) -> list[int]:
    """The survivor and every person merged into it, directly or through another merge."""
    found = [survivor_id]
    frontier = [survivor_id]
    for _ in range(_MAX_MERGE_DEPTH):
        if not frontier:
            break
        rows = session.exec(
            select(Person.id).where(col(Person.merged_into_id).in_(frontier), Person.status == "merged")
        ).all()
        frontier = [pid for pid in rows if pid is not None and pid not in found]
        found.extend(frontier)
    return found


def merge_family(session: Session, person_ids: list[int]) -> set[int]:
    """The persons, the survivors they were merged into, and everyone merged into those (to a fixpoint).

    A registry that admitted one side of a merge follows the other: its events name either.
    """
    found = set(person_ids)
    frontier = set(person_ids)
    while frontier:
        rows = session.exec(
            select(Person.id, Person.merged_into_id).where(
                or_(col(Person.id).in_(frontier), col(Person.merged_into_id).in_(frontier))
            )
        ).all()
        linked = {pid for pid, _ in rows if pid is not None} | {m for _, m in rows if m is not None}
        frontier = linked - found
        found |= frontier
    return found


def active_persons_page(
    session: Session, *, region_prefix: str | None, after_id: int, limit: int
) -> Sequence[Person]:
    """Active (not merged) persons with an id above ``after_id``, in id order, whose school's region
    starts with ``region_prefix`` (every region when None): one page of a registry-wide read."""
    query = select(Person).where(Person.status == "active", col(Person.id) > after_id)
    if region_prefix:
        query = query.where(col(Person.region).startswith(region_prefix))
    return session.exec(query.order_by(col(Person.id)).limit(limit)).all()
