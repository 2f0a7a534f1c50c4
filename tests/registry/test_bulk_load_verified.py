"""A bulk load verified as it goes (``gateway import --verify``): each chunk's new persons are asked
about in bulk through the contracts once the chunk is written; verified citizens hold their G code,
a wrong name opens a wrong-ID problem record, and nothing is asked twice."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session, col, select

from gateway.auth.caller import Caller, ClientFields
from gateway.auth.scopes import Role
from gateway.batches import service as batches
from gateway.batches.models import BatchRow
from gateway.batches.parsing import BatchFormat
from gateway.context import AppContext
from gateway.persons.models import Person
from gateway.registry.models import ProblemRecord, VerificationJob
from mocks.population import Population
from tests.fixtures.batches import COLUMNS, add_submitter, to_csv
from tests.registry.people import citizens, registration_body

CENTRAL = Caller.of_client(
    ClientFields("cl_ministry", "Ministry", Role.CENTRAL, "CN"), scopes="batches:write"
)


def test_a_load_verified_as_it_goes_promotes_in_bulk(
    verified_context: AppContext, population: Population
) -> None:
    add_submitter(verified_context.engine, CENTRAL)
    people = citizens(population)[:40]
    wrong = {3, 17}
    bodies = [
        registration_body(replace(p, name=p.name + "一") if i in wrong else p) for i, p in enumerate(people)
    ]
    text = to_csv([{k: str(b.get(k, "")) for k in COLUMNS} for b in bodies])
    accepted = batches.submit_batch(
        verified_context.engine, verified_context.keyring, CENTRAL, text, BatchFormat.CSV
    )
    asked: list[int] = []
    verifier = verified_context.services.registry.verifier
    assert verifier is not None
    real = verifier.verify_identities

    def counting(items, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(len(items))
        return real(items, **kwargs)

    verifier.verify_identities = counting  # type: ignore[method-assign]
    try:
        report = batches.run_batch(
            verified_context.engine,
            verified_context.services.registry,
            accepted.id,
            chunk_size=25,
            verify_inline=True,
        )
    finally:
        verifier.verify_identities = real  # type: ignore[method-assign]
    assert report.finished
    with Session(verified_context.engine) as s:
        rows = s.exec(select(BatchRow).where(col(BatchRow.batch_id) == accepted.id)).all()
        persons = s.exec(select(Person).order_by(col(Person.id))).all()
        jobs = s.exec(select(VerificationJob)).all()
        problems = s.exec(select(ProblemRecord)).all()
    assert {r.outcome for r in rows} == {"issued"}
    # Asked chunk by chunk (two chunks of the file), in bulk, never one person per call.
    assert asked == [25, 15]
    by_status = {p.verification_status for p in persons}
    assert by_status == {"verified", "failed"}
    assert sorted(p.current_code[0] for p in persons if p.verification_status == "verified") == ["G"] * 38
    assert len([p for p in persons if p.verification_status == "failed"]) == len(wrong)
    assert {j.status for j in jobs} == {"done"} and len(jobs) == len(people)
    assert sorted(p.type for p in problems) == ["wrong_id"] * len(wrong)
