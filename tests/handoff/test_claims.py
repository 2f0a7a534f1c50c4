"""Preschool intake and claims over HTTP: the handover, a school's claim at enrolment with the code
on the slip, claims that find nobody or several people, and who may claim at all."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from gateway.auth.caller import Caller, ClientFields
from gateway.auth.scopes import Role
from gateway.batches.parsing import BatchFormat
from gateway.context import AppContext
from gateway.handoff import intakes
from gateway.handoff.disclosure import Disclosure
from gateway.handoff.models import Admission
from gateway.persons.models import Person
from tests.fixtures.api import ApiCaller
from tests.fixtures.handoff import BASIS, Child, MakeParty, cohort, hand_over, ndjson, verified
from tests.fixtures.registrations import post_registration
from tests.fixtures.students import resident_id

SCHOOL_SCOPES = "handoff:write handoff:read students:write students:read feed:read"


def test_handover_then_a_school_claims_with_the_code_on_the_slip(
    handoff_api: TestClient, party: MakeParty
) -> None:
    children = cohort(4)
    preschool = party("registry", "41", "handoff:write handoff:read feed:read", stage="preschool")
    status = hand_over(handoff_api, preschool, children)
    assert status["handed_over"] == 4 and status["counts"] == {"issued": 4}
    slip = _codes_of(handoff_api, preschool)[children[0].number]
    school = party("school", "4101020001", SCHOOL_SCOPES)
    claimed = handoff_api.post(
        "/v1/handoff/claims",
        json={
            "code": slip,
            "identity": children[0].identity(),
            "school_region": "410102",
            "effective_date": "2013-09-01",
        },
        headers={**school.headers, **BASIS},
    )
    assert claimed.status_code == 201, claimed.text
    record = verified(handoff_api, claimed)
    assert record["identity"]["name"] == children[0].name
    assert record["school"] == {"region": "410102", "school_code": "4101020001"}
    assert [e["event"] for e in record["status_events"]] == ["enrolled"]
    # Now the school holds the child: its own student, found by the identity alone.
    again = handoff_api.post(
        "/v1/handoff/claims",
        json={"identity": children[0].identity(), "school_region": "410102"},
        headers={**school.headers, **BASIS},
    )
    assert again.status_code == 200 and again.json()["subject_id"] == record["subject_id"]


def test_claims_that_find_nobody_or_several_people_say_so(handoff_api: TestClient, party: MakeParty) -> None:
    first, second = cohort(2)
    # Two children whose records agree on everything a claim without an ID number can offer.
    # Its own valid number, born the same day (a number carrying another birth date than its record's
    # reads as copied from someone else, and would not tell two children apart).
    twin_number = resident_id("410102", first.birth_date, 103)
    twin = Child(second.number, first.name, first.gender, first.birth_date, twin_number, first.guardian)
    preschool = party("registry", "41", "handoff:write", stage="preschool")
    status = hand_over(handoff_api, preschool, [first, twin])
    assert status["counts"] == {"issued": 1, "review_required": 1}
    # A reviewer finds they are two children (as twins are) and registers the second.
    reviewer = party("province", "41", "reviews:read reviews:write")
    problems = handoff_api.get("/v1/reviews", headers=reviewer.headers).json()["items"]
    decided = handoff_api.post(
        f"/v1/reviews/{problems[0]['id']}/decision",
        json={"decision": "different_persons"},
        headers=reviewer.headers,
    )
    assert decided.status_code == 200, decided.text
    # A registry whose jurisdiction holds both: by identity alone it is told there are two.
    vocational = party("registry", "41", "handoff:write", stage="vocational")
    without_id = {**first.identity(), "id_type": "none"}
    without_id.pop("id_number")
    several = handoff_api.post(
        "/v1/handoff/claims",
        json={"identity": without_id},
        headers={**vocational.headers, **BASIS},
    )
    assert several.status_code == 409, several.text
    assert several.json()["type"].endswith("claim-ambiguous") and several.json()["candidate_count"] == 2
    school = party("school", "4101020001", SCHOOL_SCOPES)
    stranger = cohort(3, born_from=date(2008, 5, 1))[2]
    nobody = handoff_api.post(
        "/v1/handoff/claims",
        json={"identity": stranger.identity(), "school_region": "410102"},
        headers={**school.headers, **BASIS},
    )
    assert nobody.status_code == 404 and nobody.json()["type"].endswith("claim-no-match")
    unknown_code = handoff_api.post(
        "/v1/handoff/claims",
        json={"code": "L41010220070103" + "9999", "identity": first.identity(), "school_region": "410102"},
        headers={**school.headers, **BASIS},
    )
    assert unknown_code.status_code == 404


def test_every_claim_states_its_lawful_basis(handoff_api: TestClient, party: MakeParty) -> None:
    school = party("school", "4101020001", SCHOOL_SCOPES)
    reply = handoff_api.post(
        "/v1/handoff/claims",
        json={"identity": cohort(1)[0].identity(), "school_region": "410102"},
        headers={**school.headers, "X-Purpose": "enrolment"},
    )
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["X-Approval-Ref"]


def test_who_may_claim_whom(handoff_api: TestClient, party: MakeParty) -> None:
    children = cohort(2)
    preschool = party("registry", "41", "handoff:write", stage="preschool")
    hand_over(handoff_api, preschool, children[:1])
    # A preschool hands over; it does not claim.
    refused = handoff_api.post(
        "/v1/handoff/claims",
        json={"identity": children[0].identity()},
        headers={**preschool.headers, **BASIS},
    )
    assert refused.status_code == 403
    # A later-stage registry admits graduates only, and claims with the identity.
    vocational = party("registry", "41", "handoff:write handoff:read", stage="vocational")
    not_graduated = handoff_api.post(
        "/v1/handoff/claims",
        json={"identity": children[0].identity()},
        headers={**vocational.headers, **BASIS},
    )
    assert not_graduated.status_code == 409, not_graduated.text
    code_only = handoff_api.post(
        "/v1/handoff/claims", json={"code": "L1"}, headers={**vocational.headers, **BASIS}
    )
    # A code alone is never enough: it is guessable, so the identity always comes with it.
    assert code_only.status_code == 422 and [e["field"] for e in code_only.json()["errors"]] == ["identity"]
    # A school claims only children handed over by a preschool, not any registered child.
    province = party("province", "41", "registrations:write")
    body = {k: v for k, v in children[1].row().items() if k != "record_id"}
    # at a school of the register (a kindergarten is not one: only a preschool registry registers there)
    body.update(school_code="4101020002", school_region="410102")
    registered = post_registration(handoff_api, province, body, "x")
    assert registered.status_code == 201
    school = party("school", "4101020001", SCHOOL_SCOPES)
    direct = handoff_api.post(
        "/v1/handoff/claims",
        json={
            "code": registered.json()["code"],
            "identity": children[1].identity(),
            "school_region": "410102",
        },
        headers={**school.headers, **BASIS},
    )
    assert direct.status_code == 404
    # A code with somebody else's identity finds nobody.
    handed_code = _codes_of(handoff_api, preschool)[children[0].number]
    wrong_identity = handoff_api.post(
        "/v1/handoff/claims",
        json={"code": handed_code, "identity": children[1].identity(), "school_region": "410102"},
        headers={**school.headers, **BASIS},
    )
    assert wrong_identity.status_code == 404


def _codes_of(api: TestClient, registry: ApiCaller) -> dict[str, str]:
    with Session(registry_engine(api)) as session:
        rows = session.exec(select(Admission).where(Admission.client_id == registry.client_id)).all()
        return {str(r.student_number): session.get(Person, r.person_id).current_code for r in rows}  # type: ignore[union-attr]


def registry_engine(api: TestClient) -> Engine:
    engine: Engine = api.app.state.ctx.engine  # type: ignore[attr-defined]
    return engine


def test_an_intake_left_behind_is_finished_on_resume(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext
) -> None:
    preschool = party("registry", "41", "handoff:write", stage="preschool")
    caller = _caller_of(preschool.client_id)
    children = cohort(2)
    intake = intakes.submit_intake(
        committed_context.engine,
        committed_context.keyring,
        caller,
        ndjson(children).decode(),
        BatchFormat.NDJSON,
        Disclosure("handover", "A-1"),
    )
    # Nobody ran it (the process stopped after accepting it); the worker's resume finishes it.
    assert intakes.resume_intakes(committed_context.engine, committed_context.services.registry) == [
        intake.id
    ]
    status = handoff_api.get(f"/v1/handoff/intakes/{intake.id}", headers=preschool.headers).json()
    assert status["status"] == "done" and status["handed_over"] == 2
    assert sorted(_codes_of(handoff_api, preschool)) == sorted(c.number for c in children)


def _caller_of(client_id: str) -> Caller:
    return Caller.of_client(ClientFields(client_id, "preschool", Role.REGISTRY, "41", "preschool"), scopes=())
