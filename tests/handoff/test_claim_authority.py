"""Claims across jurisdictions (issue 12, case 4): knowing a graduate's name and birthday is not
authority. A registry admits a student held in another province only with the code the student gave
it and a matching identity; by identity alone it finds only students its own jurisdiction holds,
and every refusal answers exactly like a claim of a child who was never registered."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from gateway.context import AppContext
from tests.fixtures.api import ApiCaller
from tests.fixtures.handoff import BASIS, MakeParty, cohort, graduate, promote_verified, verified

SHAANXI_SCHOOL = ("6101020001", "610102")
REGISTRY_SCOPES = "handoff:write handoff:read"
# One request id for every probe, so that two refusals can be compared byte for byte.
PROBE = {"X-Request-ID": "claim-probe"}


def _claim(api: TestClient, registry: ApiCaller, body: dict[str, Any]) -> httpx.Response:
    return api.post("/v1/handoff/claims", json=body, headers={**registry.headers, **BASIS, **PROBE})


def _without_id_number(identity: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in identity.items() if k != "id_number"} | {"id_type": "none"}


def test_a_registry_claims_another_provinces_graduate_only_with_the_code(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext
) -> None:
    student, classmate, stranger = cohort(3, region="610102")
    shaanxi = party("province", "61", "registrations:write students:write")
    code = graduate(handoff_api, shaanxi, student, SHAANXI_SCHOOL)
    graduate(handoff_api, shaanxi, classmate, SHAANXI_SCHOOL)
    promote_verified(committed_context)
    beijing = party("registry", "11", REGISTRY_SCOPES, stage="higher_education")

    # The answer about a child nobody ever registered ...
    nobody = _claim(handoff_api, beijing, {"identity": stranger.identity()})
    assert nobody.status_code == 404 and nobody.json()["type"].endswith("claim-no-match")
    # ... is the answer to a claim by demographics alone, with or without the ID number, and to the
    # student's code with somebody else's identity: nothing tells Beijing the student exists.
    for body in (
        {"identity": _without_id_number(student.identity())},
        {"identity": student.identity()},
        {"code": code, "identity": classmate.identity()},
    ):
        refused = _claim(handoff_api, beijing, body)
        assert (refused.status_code, refused.content) == (nobody.status_code, nobody.content), body

    # With the code the student gave (the one on the admission letter) and their identity: admitted.
    admitted = _claim(
        handoff_api, beijing, {"code": code, "identity": _without_id_number(student.identity())}
    )
    assert admitted.status_code == 201, admitted.text
    record = verified(handoff_api, admitted)
    assert record["identity"]["name"] == student.name
    assert record["school"] == {"region": "610102", "school_code": "6101020001"}
    assert [e["event"] for e in record["status_events"]] == ["enrolled", "graduated"]
    assert record["graduation"] == {"graduated": True, "date": "2025-07-01"}
    # Without handoff:identity neither the ID number nor the G code that carries it is given.
    assert student.id_number not in admitted.text
    assert record["code"] == "G" + student.id_number[:6] + "********" + student.id_number[-4:]

    # The refusals admitted nobody: Beijing's cohort is the one student it claimed with the code.
    pulled = handoff_api.get("/v1/handoff/records", headers={**beijing.headers, **BASIS})
    assert [r["subject_id"] for r in verified(handoff_api, pulled)["records"]] == [record["subject_id"]]


def test_inside_its_own_jurisdiction_a_registry_claims_by_identity_alone(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext
) -> None:
    student, _other = cohort(2, region="610102")
    shaanxi = party("province", "61", "registrations:write students:write")
    graduate(handoff_api, shaanxi, student, SHAANXI_SCHOOL)
    promote_verified(committed_context)
    xian = party("registry", "6101", REGISTRY_SCOPES, stage="higher_education")
    admitted = _claim(handoff_api, xian, {"identity": student.identity()})
    assert admitted.status_code == 201, admitted.text
    assert verified(handoff_api, admitted)["identity"]["name"] == student.name
    # A registry of a neighbouring city of the same province does not hold the student.
    baoji = party("registry", "6103", REGISTRY_SCOPES, stage="higher_education")
    outside = _claim(handoff_api, baoji, {"identity": student.identity()})
    assert outside.status_code == 404 and outside.json()["type"].endswith("claim-no-match")
