"""Concurrency guarantees of code allocation, proven on real PostgreSQL with committed transactions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from gateway.db import session_scope
from gateway.idgen import formats, service
from gateway.idgen.models import CodeLineage, IssuedCode
from gateway.keyring import KeyRing
from gateway.persons import identifiers
from gateway.persons.models import Person
from gateway.registry.service import new_person
from tests.fixtures.registrations import citizen

pytestmark = pytest.mark.postgres
T = TypeVar("T")
BORN = date(2017, 3, 7)


def _all_at_once(workers: int, job: Callable[[int], T]) -> list[T | BaseException]:
    """Start ``workers`` threads behind a barrier so their transactions really overlap."""
    barrier = threading.Barrier(workers)

    def run(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return job(i)
        except BaseException as exc:  # collected and asserted on by the test
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(workers)))


def test_32_workers_get_32_distinct_j_codes(fresh_engine: Engine) -> None:
    def allocate(_: int) -> str:
        with session_scope(fresh_engine) as session:
            return service.allocate_j_code(session, "410102", BORN, "worker").code

    codes = _all_at_once(32, allocate)
    assert all(isinstance(c, str) for c in codes), [c for c in codes if not isinstance(c, str)]
    assert len(set(codes)) == 32
    assert all(formats.validate_code(str(c)).valid for c in codes)
    assert sorted(int(str(c)[15:18]) for c in codes) == list(range(1, 33))
    print(f"\n32 concurrent J allocations -> {len(set(codes))} distinct valid codes")


def test_32_workers_get_32_distinct_l_codes(fresh_engine: Engine) -> None:
    def create(_: int) -> str:
        with session_scope(fresh_engine) as session:
            return new_person(session, region="410102", school_code=None, birth_date=BORN, actor="worker")[
                0
            ].current_code

    codes = _all_at_once(32, create)
    assert all(isinstance(c, str) for c in codes)
    assert len(set(codes)) == 32


def test_two_concurrent_promotions_produce_one_formal_code(fresh_engine: Engine) -> None:
    with session_scope(fresh_engine) as session:
        l_code = new_person(session, region="410102", school_code=None, birth_date=BORN, actor="t")[
            0
        ].current_code
    number = citizen("41010220170307002")

    def promote(i: int) -> service.Promotion:
        with session_scope(fresh_engine) as session:
            return service.promote_code(
                session, l_code, target="G", resident_id=number, actor=f"worker{i}", reason="verified"
            )

    results = _all_at_once(2, promote)
    assert all(isinstance(r, service.Promotion) for r in results), results
    promotions = [r for r in results if isinstance(r, service.Promotion)]
    assert {p.new_code for p in promotions} == {"G" + number}
    assert sorted(p.promoted for p in promotions) == [False, True]
    with Session(fresh_engine) as session:
        formal = session.execute(
            select(func.count()).select_from(IssuedCode).where(IssuedCode.type != "L")
        ).scalar_one()
        lineage = session.execute(select(func.count()).select_from(CodeLineage)).scalar_one()
        persons = session.execute(select(func.count()).select_from(Person)).scalar_one()
    assert (formal, lineage, persons) == (1, 1, 1)


def test_concurrent_attach_of_one_number_leaves_one_holder(fresh_engine: Engine, keyring: KeyRing) -> None:
    person_ids = []
    for _ in range(8):
        with session_scope(fresh_engine) as session:
            p = new_person(session, region="410102", school_code=None, birth_date=BORN, actor="t")[0]
            person_ids.append(p.id)

    def attach(i: int) -> int:
        with session_scope(fresh_engine) as session:
            row = identifiers.attach_identifier(
                session, keyring, person_id=int(person_ids[i] or 0), scheme="passport", value="E99887766"
            )
            return row.person_id

    results = _all_at_once(8, attach)
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, identifiers.IdentifierConflict)]
    assert len(winners) == 1 and len(losers) == 7
    with Session(fresh_engine) as session:
        assert identifiers.find_holders(session, keyring, "passport", "E99887766") == winners
