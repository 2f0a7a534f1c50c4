"""The request/response cycle shared by the REST mocks: faults, licence, JSON body validated both ways.

Every request body is validated against the OpenAPI contract's schema before the mock looks at it and
every reply before it is sent, so a mock breaks its contract only when a fault asks it to. A bulk
operation (several queries in one call) checks each query on its own, answers the bad ones with an
error result and the others normally, and refuses whole a call of more queries than its contract's
``maxItems``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request, Response

from gateway.adapters.contracts import ContractError, JsonContract
from mocks.faults import Decision, FaultInjector, FaultKind
from mocks.wire import problem_response, transport_fault

# The handler returns (status, body); 200 bodies are validated against `reply_schema`.
Handler = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
# A bulk operation's handler answers one (valid) query with its result object.
ItemHandler = Callable[[dict[str, Any]], dict[str, Any]]
BAD_ITEM = {"status": "error", "code": "bad_request"}
UNANSWERED_ITEM = {"status": "error", "code": "unavailable"}


async def serve_json(
    request: Request,
    *,
    injector: FaultInjector,
    contract: JsonContract,
    request_schema: str,
    reply_schema: str,
    licences: frozenset[str],
    handler: Handler,
    break_reply: Callable[[dict[str, Any]], None],
) -> Response:
    """Run one REST request through faults, licence check, validation, the handler and reply checks."""
    decision = injector.decide()
    refused = await _admission(request, decision, injector, licences)
    if refused is not None:
        return refused
    try:
        body = json.loads(await request.body())
        contract.validate(request_schema, body)
    except (ValueError, ContractError) as exc:
        return problem_response(400, "bad_request", str(exc))
    status, reply = handler(body)
    if status != 200:
        contract.validate("Problem", reply)
        return Response(json.dumps(reply), status, media_type="application/problem+json")
    contract.validate(reply_schema, reply)
    if decision.fault is FaultKind.SCHEMA_VIOLATION:
        break_reply(reply)
    text = json.dumps(reply, ensure_ascii=False)
    if decision.fault is FaultKind.MALFORMED_REPLY:
        text = text[: len(text) // 2]
    return Response(text.encode("utf-8"), 200, media_type="application/json")


async def _admission(
    request: Request, decision: Decision, injector: FaultInjector, licences: frozenset[str]
) -> Response | None:
    """What a request meets before its body is read: a transport fault, the licence check and the
    daily quota; None when it is let through."""
    early = await transport_fault(decision, injector.plan, rest=True)
    if early is not None:
        return early
    if request.headers.get("X-Licence") not in licences:
        return problem_response(401, "unauthorised", "licence missing or rejected")
    if decision.quota_exhausted or decision.fault is FaultKind.QUOTA_EXHAUSTED:
        return problem_response(429, "quota_exhausted", "daily quota exhausted")
    return None


def max_items(contract: JsonContract, batch_schema: str, key: str) -> int:
    """The most queries one call of a bulk operation may carry, as its contract states."""
    limit = contract.document["components"]["schemas"][batch_schema]["properties"][key]["maxItems"]
    return int(limit)


async def serve_json_batch(
    request: Request,
    *,
    injector: FaultInjector,
    contract: JsonContract,
    schemas: tuple[str, str, str, str],
    key: str,
    licences: frozenset[str],
    answer: ItemHandler,
    break_result: Callable[[dict[str, Any]], None],
) -> Response:
    """Run one bulk REST request: faults, licence, the envelope checked, each query checked and
    answered on its own (`answer`), each result and the reply checked, then any row fault applied.
    ``schemas`` names (request envelope, one query, reply envelope, one result)."""
    batch_schema, item_schema, reply_schema, result_schema = schemas
    decision = injector.decide()
    refused = await _admission(request, decision, injector, licences)
    if refused is not None:
        return refused
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return problem_response(400, "bad_request", str(exc))
    items = body.get(key) if isinstance(body, dict) else None
    if isinstance(items, list) and len(items) > max_items(contract, batch_schema, key):
        return problem_response(400, "too_many_items", f"more {key} than one call may carry")
    try:
        contract.validate(batch_schema, body)
    except ContractError as exc:
        return problem_response(400, "bad_request", str(exc))
    results = []
    for item in items or []:
        try:
            contract.validate(item_schema, item)
        except ContractError:
            results.append(dict(BAD_ITEM))
            continue
        result = answer(item)
        contract.validate(result_schema, result)
        results.append(result)
    reply: dict[str, Any] = {"results": results}
    contract.validate(reply_schema, reply)
    for row in decision.failed_rows(len(results)):
        results[row] = dict(UNANSWERED_ITEM)
    broken = decision.malformed_row(len(results))
    if broken is not None:
        break_result(results[broken])
    if decision.fault is FaultKind.SCHEMA_VIOLATION:
        reply["unexpected"] = True
    text = json.dumps(reply, ensure_ascii=False)
    if decision.fault is FaultKind.MALFORMED_REPLY:
        text = text[: len(text) // 2]
    return Response(text.encode("utf-8"), 200, media_type="application/json")
