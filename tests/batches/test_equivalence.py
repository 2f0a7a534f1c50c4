"""The set-based bulk path gives every row the outcome a single registration would.

The same generated province file (messy submissions with every hard case of the generator: the same
child submitted two or three times with homophones, traditional characters, date slips and ID typos,
twins, namesakes born the same day, children without documents), plus children registered before by
this province and by another one, rows from a school outside the province and unreadable rows, is
registered on two fresh databases seeded alike: one row at a time through ``registry.register`` on
one, as a batch on the other. Each row must end the same way on both.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, col, select

from gateway.auth.caller import Caller, ClientFields
from gateway.auth.scopes import Role
from gateway.batches import service as batches
from gateway.batches.models import BatchRow
from gateway.batches.parsing import BatchFormat, parse_batch
from gateway.context import AppContext
from gateway.db import build_engine
from gateway.errors import Forbidden, InvalidInput
from gateway.keyring import load_keyring
from gateway.matching import generate_labelled
from gateway.persons.models import Person
from gateway.registry import outcomes
from gateway.registry import service as registry
from gateway.registry.models import IdempotencyRecord, ProblemRecord
from gateway.settings import Settings
from gateway.wiring import attach_services
from tests.fixtures.batches import COLUMNS, add_submitter, to_csv
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.schools import load_register, register_text

PROVINCE = Caller.of_client(ClientFields("cl_henan", "Henan", Role.PROVINCE, "41"), scopes="batches:write")
ELSEWHERE = Caller.of_client(
    ClientFields("cl_beijing", "Beijing", Role.PROVINCE, "11"), scopes="batches:write"
)
HENAN_SCHOOLS = ("4101020001", "4101050002", "4101810003", "4103030004")
BEIJING_SCHOOL = "1101010005"
SEED = 20261204


FILE_COLUMNS = [*COLUMNS, "grade"]
UNKNOWN_SCHOOL = "4101020099"
REGISTER = register_text(
    "4101020001,郑州市中原区一小,410102,primary,,,",
    "4101050002,郑州市管城区二中,410105,junior,,,",
    "4101810003,巩义市三校,410181,nine_year,,,",
    "4103030004,洛阳市西工区四中,410303,complete_secondary,,,",
    "1101010005,北京市东城区五小,110101,primary,,,",
)


def _with_school(row: dict[str, str], school: str, grade: str = "") -> dict[str, str]:
    values = {k: row.get(k, "") for k in COLUMNS}
    return {**values, "school_code": school, "school_region": school[:6], "grade": grade}


def _province_file(n_persons: int) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """The file, the rows registered by this province before, and those registered by another."""
    data = generate_labelled(n_persons, SEED)
    rng = random.Random(SEED)
    # A third name a grade (some of them one their school does not teach).
    rows = [
        _with_school(r, rng.choice(HENAN_SCHOOLS), str(rng.randint(1, 12)) if rng.random() < 0.33 else "")
        for r in data.rows
    ]
    # Children registered before the collection: by this province, and a few by Beijing.
    first_of: dict[str, dict[str, str]] = {}
    for row in data.rows:
        first_of.setdefault(data.person_of[row["record_id"]], row)
    persons = sorted(first_of)
    before_here = [_with_school(first_of[p], HENAN_SCHOOLS[0]) for p in persons[::12]]
    before_there = [_with_school(first_of[p], BEIJING_SCHOOL) for p in persons[5::40]]
    # A school outside the province, and rows no registration can read.
    for i in range(0, len(rows), 97):
        rows[i] = {**rows[i], "school_code": BEIJING_SCHOOL, "school_region": BEIJING_SCHOOL[:6]}
    for i in range(3, len(rows), 131):
        rows[i] = {**rows[i], "birth_date": "2016-02-30"}
    for i in range(7, len(rows), 89):  # a school the register does not know
        rows[i] = {**rows[i], "school_code": UNKNOWN_SCHOOL, "school_region": UNKNOWN_SCHOOL[:6]}
    return rows, before_here, before_there


Answer = tuple[str, str | None, int | None, tuple[str, ...]]  # kind, code type, problem id, error fields


def _answer(outcome: outcomes.RegistrationOutcome) -> Answer:
    return (outcome.kind, getattr(outcome, "code_type", None), getattr(outcome, "problem_id", None), ())


def _comparable(ctx: AppContext, answers: dict[int, Answer]) -> dict[int, tuple[Any, ...]]:
    """Answers in terms both databases share: a problem record by its type and the persons it names
    (by name and birth date: their ids differ between the databases)."""
    with Session(ctx.engine) as s:
        problems = {int(p.id or 0): p for p in s.exec(select(ProblemRecord)).all()}
        persons = {int(p.id or 0): (p.name, p.birth_date.isoformat()) for p in s.exec(select(Person)).all()}
    out: dict[int, tuple[Any, ...]] = {}
    for number, (kind, code_type, problem_id, errors) in answers.items():
        problem: tuple[Any, ...] | None = None
        if problem_id is not None:
            record = problems[problem_id]
            named = [int(i) for i in record.candidate_person_ids.split()]
            problem = (record.type, tuple(sorted(persons[i] for i in named)))
        out[number] = (kind, code_type, problem, errors)
    return out


def _context(settings: Settings, url: str) -> AppContext:
    ctx = AppContext(settings=settings, engine=build_engine(url, pool_size=5), keyring=load_keyring(settings))
    ctx = attach_services(ctx, verifier=None)
    load_register(ctx.engine, REGISTER)
    for caller in (PROVINCE, ELSEWHERE):
        add_submitter(ctx.engine, caller)
    return ctx


def _seed(ctx: AppContext, before_here: list[dict[str, str]], before_there: list[dict[str, str]]) -> None:
    for caller, rows in ((PROVINCE, before_here), (ELSEWHERE, before_there)):
        for parsed in parse_batch(to_csv(rows, FILE_COLUMNS), BatchFormat.CSV).rows:
            if parsed.body is None:
                continue
            try:
                registry.register(
                    ctx.engine, ctx.services.registry, caller, parsed.body, f"seed:{parsed.row_number}"
                )
            except InvalidInput:
                continue  # the same rows fail on both databases


def _one_by_one(ctx: AppContext, text: str) -> dict[int, Answer]:
    answers: dict[int, Answer] = {}
    for parsed in parse_batch(text, BatchFormat.CSV).rows:
        if parsed.body is None:
            answers[parsed.row_number] = (
                "rejected",
                None,
                None,
                tuple(sorted(e.field for e in parsed.errors)),
            )
            continue
        try:
            outcome = registry.register(
                ctx.engine, ctx.services.registry, PROVINCE, parsed.body, f"row:{parsed.row_number}"
            )
        except InvalidInput as exc:
            answers[parsed.row_number] = ("rejected", None, None, tuple(sorted(e.field for e in exc.errors)))
            continue
        except Forbidden:
            answers[parsed.row_number] = ("forbidden", None, None, ("school_code",))
            continue
        answers[parsed.row_number] = _answer(outcome)
    return answers


def _as_batch(ctx: AppContext, text: str) -> dict[int, Answer]:
    accepted = batches.submit_batch(ctx.engine, ctx.keyring, PROVINCE, text, BatchFormat.CSV)
    report = batches.run_batch(ctx.engine, ctx.services.registry, accepted.id, chunk_size=700)
    assert report.finished
    with Session(ctx.engine) as s:
        rows = s.exec(select(BatchRow).where(col(BatchRow.batch_id) == accepted.id)).all()
        fell_back = s.exec(
            select(IdempotencyRecord).where(col(IdempotencyRecord.key).startswith("batch:"))
        ).all()
    # No wave failed over to the single way (which would hide a set-based mistake behind its answers).
    assert fell_back == []
    answers: dict[int, Answer] = {}
    for row in rows:
        assert row.status == "done" and row.outcome is not None
        errors = tuple(sorted(e["field"] for e in json.loads(row.errors_json or "[]")))
        code_type = row.code[0] if row.code else None
        answers[row.row_number] = (row.outcome, code_type, row.problem_id, errors)
    return answers


@pytest.mark.slow
def test_a_province_file_ends_the_same_row_by_row_and_set_based(
    settings: Settings, database_factory: DatabaseFactory
) -> None:
    rows, before_here, before_there = _province_file(2000)
    text = to_csv(rows, FILE_COLUMNS)
    single, bulk = (
        _context(settings, database_factory.create()),
        _context(settings, database_factory.create()),
    )
    try:
        for ctx in (single, bulk):
            _seed(ctx, before_here, before_there)
        expected = _one_by_one(single, text)
        got = _as_batch(bulk, text)
        assert len(expected) == len(rows)
        one_by_one, set_based = _comparable(single, expected), _comparable(bulk, got)
    finally:
        for ctx in (single, bulk):
            ctx.engine.dispose()
    differing = {
        n: (one_by_one[n], set_based.get(n)) for n in one_by_one if one_by_one[n] != set_based.get(n)
    }
    assert not differing, f"{len(differing)} rows differ, e.g. {list(differing.items())[:5]}"
    # The file exercises every outcome, so the comparison above means something.
    kinds = Counter(answer[0] for answer in one_by_one.values())
    assert {"issued", "existing", "review_required", "held_elsewhere", "rejected", "forbidden"} <= set(
        kinds
    ), kinds
    refusals = Counter(e for answer in one_by_one.values() if answer[0] == "rejected" for e in answer[3])
    assert refusals["school_code"] and refusals["grade"], refusals
