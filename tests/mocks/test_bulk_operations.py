"""The bulk operations of the mocks: several queries per call up to the contract's maximum, refused
whole above it, each query answered (or refused) on its own, and the row faults they inject."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.adapters.contracts import NCIIC_NS, ContractError, declared_limit, json_contract, parse_xml
from mocks.faults import FaultKind, FaultPlan
from mocks.population import Population
from mocks.server import RunningMocks
from tests.mocks.test_mock_servers import (
    LICENCE,
    REPLY_CONTRACT,
    citizens,
    conditions,
    nciic,
    out_document,
)

ROWS_PER_CALL = declared_limit("public_security", "conditions-request.xsd", "rowsPerCall")
BULK = {
    "household": ("/v1/households/lookups", "lookups", "HouseholdLookupOutcome"),
    "social_security": ("/v1/insured/verifications", "queries", "InsuredOutcome"),
}


def rows_of(population: Population, count: int) -> list[str]:
    people = citizens(population)
    return [
        f"<GMSFHM>{people[n % len(people)].id_number}</GMSFHM><XM>{people[n % len(people)].name}</XM>"
        for n in range(count)
    ]


def query_of(system: str, population: Population, n: int) -> dict[str, Any]:
    person = citizens(population)[n % len(citizens(population))]
    if system == "household":
        return {"member_id_number": person.id_number}
    return {"id_number": person.id_number, "name": person.name}


def bulk(mocks: RunningMocks, system: str, queries: list[Any]) -> httpx.Response:
    path, key, _ = BULK[system]
    return httpx.post(f"{mocks.base_urls[system]}{path}", json={key: queries}, headers=LICENCE)


def test_the_population_register_answers_up_to_its_limit_in_one_call(
    mocks: RunningMocks, population: Population
) -> None:
    assert ROWS_PER_CALL == 100
    document = out_document(nciic(mocks, conditions(*rows_of(population, ROWS_PER_CALL))))
    answers = document.findall("ROW")
    assert [row.get("no") for row in answers] == [str(n) for n in range(1, ROWS_PER_CALL + 1)]
    assert all(row.findtext("OUTPUT/ITEM/result_xm") == "一致" for row in answers)


def test_more_rows_than_one_call_may_carry_are_refused_whole(
    mocks: RunningMocks, population: Population
) -> None:
    document = out_document(nciic(mocks, conditions(*rows_of(population, ROWS_PER_CALL + 1))))
    assert document.tag == "RESPONSE" and document.get("errorcode") == "-60"
    assert document.find("ROWS/ROW/ErrorMsg") is not None


@pytest.mark.parametrize("system", sorted(BULK))
def test_rest_bulk_answers_each_query_and_refuses_more_than_the_contract_allows(
    mocks: RunningMocks, population: Population, system: str
) -> None:
    _, key, result_schema = BULK[system]
    schema = "HouseholdLookupBatch" if system == "household" else "InsuredQueryBatch"
    limit = json_contract(system).document["components"]["schemas"][schema]["properties"][key]["maxItems"]
    assert limit == 100
    queries = [query_of(system, population, n) for n in range(limit)]
    queries[7] = {"nonsense": True}  # one query out of contract: refused alone
    reply = bulk(mocks, system, queries)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert len(results) == limit
    for result in results:
        json_contract(system).validate(result_schema, result)
    assert results[7] == {"status": "error", "code": "bad_request"}
    assert all(r["status"] in ("found", "answered") for n, r in enumerate(results) if n != 7)

    over = bulk(mocks, system, [query_of(system, population, n) for n in range(limit + 1)])
    assert over.status_code == 400 and over.json()["code"] == "too_many_items"


def test_partial_failure_leaves_some_rows_unanswered_and_answers_the_others(
    mocks: RunningMocks, population: Population
) -> None:
    mocks.injectors["public_security"].set_plan(
        FaultPlan(seed=4, error_rate=1.0, error_kinds=[FaultKind.PARTIAL_FAILURE])
    )
    document = out_document(nciic(mocks, conditions(*rows_of(population, 30))))
    messages = [row.findtext("OUTPUT/ITEM/errormesage") for row in document.findall("ROW")]
    busy = [m for m in messages if m == "服务结果:系统繁忙，请稍后重试"]
    assert 0 < len(busy) < 30
    assert messages.count(None) == 30 - len(busy)  # the others carry their verdicts

    mocks.injectors["social_security"].set_plan(
        FaultPlan(seed=4, error_rate=1.0, error_kinds=[FaultKind.PARTIAL_FAILURE])
    )
    results = bulk(mocks, "social_security", [query_of("social_security", population, n) for n in range(30)])
    statuses = [r["status"] for r in results.json()["results"]]
    assert 0 < statuses.count("error") < 30 and statuses.count("answered") == 30 - statuses.count("error")


@pytest.mark.parametrize("system", ["public_security", *sorted(BULK)])
def test_a_malformed_row_breaks_exactly_one_row_of_the_reply(
    mocks: RunningMocks, population: Population, system: str
) -> None:
    mocks.injectors[system].set_plan(FaultPlan(seed=2, error_rate=1.0, error_kinds=[FaultKind.MALFORMED_ROW]))
    broken = 0
    if system == "public_security":
        reply = nciic(mocks, conditions(*rows_of(population, 20)))
        document = parse_xml(parse_xml(reply.content).findtext(f".//{{{NCIIC_NS}}}out") or "")
        with pytest.raises(ContractError):
            REPLY_CONTRACT.validate(document)
        for row in document.findall("ROW"):
            alone = document.makeelement("ROWS", {})
            alone.append(row)
            try:
                REPLY_CONTRACT.validate(alone)
            except ContractError:
                broken += 1
    else:
        results = bulk(mocks, system, [query_of(system, population, n) for n in range(20)]).json()["results"]
        assert len(results) == 20
        for result in results:
            try:
                json_contract(system).validate(BULK[system][2], result)
            except ContractError:
                broken += 1
    assert broken == 1
