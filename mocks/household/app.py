"""Mock of the household registration (户籍) lookup (gateway/contracts/household/openapi.json).

Finds a household by a member's citizen ID number, or a child without an ID document by the
guardian's ID number + the child's name and birth date, and answers with the household's region,
nature and members (never their ID numbers: only whether they hold one).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import FastAPI, Request, Response

from gateway.adapters.contracts import json_contract
from mocks.faults import FaultInjector, FaultPlan, new_mock_app
from mocks.population import Household, Population
from mocks.rest import serve_json, serve_json_batch

PATH = "/v1/households/lookup"
BATCH_PATH = "/v1/households/lookups"


def household_body(household: Household, index: int) -> dict[str, Any]:
    """The contract's HouseholdLookupResult for one household."""
    return {
        "household_id": household.household_id,
        "region_code": household.region_code,
        "nature": household.nature,
        "matched_member": index,
        "members": [
            {
                "name": member.person.name,
                "relation": member.relation,
                "gender": member.person.gender if member.person.gender in ("0", "1", "2", "9") else "0",
                "birth_date": member.person.birth_date.isoformat(),
                "holds_id_number": member.person.id_number is not None,
            }
            for member in household.members
        ],
    }


def create_app(
    population: Population,
    faults: FaultPlan | FaultInjector | None = None,
    *,
    licences: frozenset[str] | None = None,
    admin_token: str | None = None,
) -> FastAPI:
    """The mock service: `POST /v1/households/lookup` (one lookup), `POST /v1/households/lookups`
    (several in one call), plus the `/_admin` fault endpoints."""
    mock = new_mock_app("Mock household registration", faults, licences, admin_token)
    app, injector, accepted = mock.app, mock.injector, mock.licences
    contract = json_contract("household")

    def lookup(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if "member_id_number" in body:
            found = population.household_of(body["member_id_number"])
        else:
            found = population.child_in_household(
                body["guardian_id_number"], body["child_name"], date.fromisoformat(body["child_birth_date"])
            )
        if found is None:
            return 404, {
                "type": "about:blank",
                "title": "no household matches",
                "status": 404,
                "code": "not_found",
            }
        return 200, household_body(*found)

    def break_reply(reply: dict[str, Any]) -> None:
        reply["nature"] = "nomadic"

    def lookup_one(body: dict[str, Any]) -> dict[str, Any]:
        status, reply = lookup(body)
        return {"status": "found", "household": reply} if status == 200 else {"status": "not_found"}

    def break_result(result: dict[str, Any]) -> None:
        if "household" in result:
            break_reply(result["household"])
        else:
            result["status"] = "maybe"

    @app.post(PATH)
    async def lookup_household(request: Request) -> Response:
        return await serve_json(
            request,
            injector=injector,
            contract=contract,
            request_schema="HouseholdLookup",
            reply_schema="HouseholdLookupResult",
            licences=accepted,
            handler=lookup,
            break_reply=break_reply,
        )

    @app.post(BATCH_PATH)
    async def lookup_households(request: Request) -> Response:
        return await serve_json_batch(
            request,
            injector=injector,
            contract=contract,
            schemas=(
                "HouseholdLookupBatch",
                "HouseholdLookup",
                "HouseholdLookupBatchResult",
                "HouseholdLookupOutcome",
            ),
            key="lookups",
            licences=accepted,
            answer=lookup_one,
            break_result=break_result,
        )

    return app
