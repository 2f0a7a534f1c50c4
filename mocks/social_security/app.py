"""Mock of the social security enrolment lookup (gateway/contracts/social_security/openapi.json).

Every citizen in the population is taken as enrolled (children in resident medical insurance, adults
in employee medical insurance), so an answer corroborates existence, name and birth date.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import FastAPI, Request, Response

from gateway.adapters.contracts import json_contract
from mocks.faults import FaultInjector, FaultPlan, new_mock_app
from mocks.population import Population
from mocks.rest import serve_json, serve_json_batch

PATH = "/v1/insured/verify"
BATCH_PATH = "/v1/insured/verifications"


def create_app(
    population: Population,
    faults: FaultPlan | FaultInjector | None = None,
    *,
    licences: frozenset[str] | None = None,
    admin_token: str | None = None,
) -> FastAPI:
    """The mock service: `POST /v1/insured/verify` (one query), `POST /v1/insured/verifications`
    (several in one call), plus the `/_admin` fault endpoints."""
    mock = new_mock_app("Mock social security enrolment", faults, licences, admin_token)
    app, injector, accepted = mock.app, mock.injector, mock.licences
    contract = json_contract("social_security")

    def verify(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        person = population.by_id_number(body["id_number"])
        if person is None:
            return 200, {"enrolled": False}
        claimed_birth = body.get("birth_date")
        adult = (date.today() - person.birth_date).days >= 18 * 365
        return 200, {
            "enrolled": True,
            "scheme": "employee_medical" if adult else "resident_medical",
            "enrolment_region": person.household_region or (person.id_number or "000000")[:6],
            "name_result": "consistent" if body["name"] == person.name else "inconsistent",
            "birth_date_result": (
                "not_checked"
                if claimed_birth is None
                else "consistent"
                if date.fromisoformat(claimed_birth) == person.birth_date
                else "inconsistent"
            ),
        }

    def break_reply(reply: dict[str, Any]) -> None:
        reply.pop("enrolled", None)

    def break_result(result: dict[str, Any]) -> None:
        if "answer" in result:
            break_reply(result["answer"])
        else:
            result["status"] = "maybe"

    @app.post(PATH)
    async def verify_insured(request: Request) -> Response:
        return await serve_json(
            request,
            injector=injector,
            contract=contract,
            request_schema="InsuredQuery",
            reply_schema="InsuredAnswer",
            licences=accepted,
            handler=verify,
            break_reply=break_reply,
        )

    @app.post(BATCH_PATH)
    async def verify_insured_many(request: Request) -> Response:
        return await serve_json_batch(
            request,
            injector=injector,
            contract=contract,
            schemas=("InsuredQueryBatch", "InsuredQuery", "InsuredAnswerBatch", "InsuredOutcome"),
            key="queries",
            licences=accepted,
            answer=lambda body: {"status": "answered", "answer": verify(body)[1]},
            break_result=break_result,
        )

    return app
