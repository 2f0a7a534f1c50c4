"""The request/response cycle shared by the REST mocks: faults, licence, JSON body validated both ways.

Every request body is validated against the OpenAPI contract's schema before the mock looks at it and
every reply before it is sent, so a mock breaks its contract only when a fault asks it to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request, Response

from gateway.adapters.contracts import ContractError, JsonContract
from mocks.faults import FaultInjector, FaultKind
from mocks.wire import problem_response, transport_fault

# The handler returns (status, body); 200 bodies are validated against `reply_schema`.
Handler = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


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
    early = await transport_fault(decision, injector.plan, rest=True)
    if early is not None:
        return early
    if request.headers.get("X-Licence") not in licences:
        return problem_response(401, "unauthorised", "licence missing or rejected")
    if decision.quota_exhausted or decision.fault is FaultKind.QUOTA_EXHAUSTED:
        return problem_response(429, "quota_exhausted", "daily quota exhausted")
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
