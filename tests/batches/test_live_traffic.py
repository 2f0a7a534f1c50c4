"""Registrations arriving one by one while a bulk load of the same children runs: still one code per
person. The load's units of work take the registration gate exclusively, single registrations take it
shared (then their own keys' locks), so neither decides while the other writes. On PostgreSQL, with
the load and four registering threads at once."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from gateway.auth.caller import Caller, ClientFields
from gateway.auth.scopes import Role
from gateway.batches import service as batches
from gateway.batches.models import Batch, BatchRow
from gateway.batches.parsing import BatchFormat
from gateway.context import AppContext
from gateway.matching import generate_population
from gateway.persons.models import Person, PersonIdentifier
from gateway.registry import service as registry
from tests.fixtures.batches import COLUMNS, add_submitter, to_csv

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROVINCE = Caller.of_client(ClientFields("cl_henan", "Henan", Role.PROVINCE, "41"), scopes="batches:write")
SCHOOLS = ("4101020001", "4101050002", "4103030004")


def _children(n: int) -> list[dict[str, str]]:
    rng = random.Random(5)
    out = []
    for person in generate_population(n, seed=55):
        values = {k: ("" if v is None else str(v)) for k, v in person.to_dict().items()}
        school = rng.choice(SCHOOLS)
        out.append(
            {**{k: values.get(k, "") for k in COLUMNS}, "school_code": school, "school_region": school[:6]}
        )
    return out


def test_live_registrations_during_a_bulk_load_give_one_code_per_child(committed_context: AppContext) -> None:
    ctx = committed_context
    deps = ctx.services.registry
    add_submitter(ctx.engine, PROVINCE)
    children = _children(1500)
    accepted = batches.submit_batch(ctx.engine, ctx.keyring, PROVINCE, to_csv(children), BatchFormat.CSV)
    # The same children arrive one by one meanwhile, in another order, from four clients' threads.
    live = random.Random(9).sample(range(len(children)), 600)
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def load() -> None:
        try:
            batches.run_batch(ctx.engine, deps, accepted.id, chunk_size=150)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    def register(part: list[int]) -> None:
        try:
            for i in part:
                body = {k: v for k, v in children[i].items() if v and k != "record_id"}
                answers[i] = registry.register(ctx.engine, deps, PROVINCE, body, f"live:{i}").kind
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    loader = threading.Thread(target=load)
    loader.start()
    while loader.is_alive():  # the load is under way before the first single registration
        with Session(ctx.engine) as s:
            batch = s.get(Batch, accepted.id)
            if batch is not None and batch.done_rows > 0:
                break
        time.sleep(0.01)
    threads = [threading.Thread(target=register, args=(live[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in [loader, *threads]:
        t.join()
    assert not errors, errors

    with Session(ctx.engine) as s:
        rows = {
            r.row_number: r
            for r in s.exec(select(BatchRow).where(col(BatchRow.batch_id) == accepted.id)).all()
        }
        persons = int(s.execute(sql_select(func.count()).select_from(Person)).scalar_one())
        holders = Counter(
            s.exec(select(PersonIdentifier.value_hash).where(col(PersonIdentifier.valid_to).is_(None))).all()
        )
    # Row numbers are file lines: the header is line 1, child i is on line i + 2.
    batch_answers = {number - 2: row.outcome for number, row in rows.items()}
    ways = {i: [batch_answers[i]] + ([answers[i]] if i in answers else []) for i in range(len(children))}
    # Never two codes for one child: at most one of the ways a child came issued a code, and every
    # person written is one such code. (Twins and namesakes born the same day may go to review.)
    assert max(w.count("issued") for w in ways.values()) == 1
    assert persons == sum(w.count("issued") for w in ways.values())
    assert set(holders.values()) == {1}
    # A child whom one way registered is found by the other.
    assert all(
        sorted(w) == ["existing", "issued"]
        for i, w in ways.items()
        if i in answers and "review_required" not in w
    )
    # Both ways issued codes: the load did not simply run before or after the single registrations.
    assert Counter(answers.values())["issued"] > 0
    assert Counter(batch_answers[i] for i in live)["issued"] > 0
