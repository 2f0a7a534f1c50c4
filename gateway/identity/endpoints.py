"""HTTP edge of the identity domain: ``POST /v1/identity/normalize`` turns one record into its
canonical form so a school can clean a batch before registering it. A record that cannot be
normalised is a 422 problem naming each field; nothing here is a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from gateway.auth.caller import Caller
from gateway.auth.dependencies import require_scope
from gateway.errors import InvalidInput
from gateway.identity.records import normalise_record
from gateway.identity.schemas import NormalizeRequest, NormalizeResponse

router = APIRouter(prefix="/v1/identity", tags=["identity"])


@router.post("/normalize", response_model=NormalizeResponse)
def normalize_record_endpoint(
    body: NormalizeRequest,
    caller: Annotated[Caller, Depends(require_scope("identity:normalize"))],
) -> NormalizeResponse:
    result = normalise_record(body.model_dump())
    if result.record is None:
        raise InvalidInput(errors=[issue.as_dict() for issue in result.errors])
    return NormalizeResponse.of(result)
