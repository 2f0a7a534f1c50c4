"""POST /v1/codes/validate and GET /v1/codes/{code}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.dependencies import SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.errors import NotFound
from gateway.idgen import formats, service
from gateway.idgen.schemas import CodeResolution, LineageEntry, ValidateCodeRequest, ValidateCodeResponse
from gateway.privacy import disclosed_code, mask_id_numbers
from gateway.schemas import PlainText

router = APIRouter(prefix="/v1/codes", tags=["codes"])
CodesReader = Annotated[Caller, Depends(require_scope(Scope.CODES_READ))]
CodesValidator = Annotated[Caller, Depends(require_scope(Scope.CODES_VALIDATE))]


@router.post("/validate", response_model=ValidateCodeResponse)
def validate_code(body: ValidateCodeRequest, _caller: CodesValidator) -> ValidateCodeResponse:
    """Check a code's format and check character; says nothing about whether it was issued."""
    check = formats.validate_code(body.code)
    return ValidateCodeResponse(
        valid=check.valid, type=check.type.value if check.type else None, errors=list(check.errors)
    )


@router.get("/{code}", response_model=CodeResolution)
def resolve_code(
    code: Annotated[PlainText, Path(max_length=64)], caller: CodesReader, session: SessionDep
) -> CodeResolution:
    """The current code of whoever holds ``code``, with the lineage; not found outside jurisdiction.
    A ``G`` code carries an ID number: shown masked, unless it is the code asked with."""
    try:
        found = service.resolve_code(session, code)
    except NotFound:
        raise NotFound("no such code") from None
    if not caller.jurisdiction.covers(found.person.region, found.person.school_code):
        raise NotFound("no such code")
    audit.record(
        session, action="code.resolve", caller=caller, object_type="person", object_ref=found.current_code
    )
    asked = frozenset({found.asked})

    def shown(value: str) -> str:
        return disclosed_code(value, supplied=asked) or value

    return CodeResolution(
        code=found.asked,
        code_status=found.asked_status,
        current_code=shown(found.current_code),
        current_type=found.current_code[0],
        person_status=found.person.status,
        lineage=[
            LineageEntry(
                old_code=shown(e.old_code),
                new_code=shown(e.new_code),
                reason=e.reason,
                detail=None if e.detail is None else mask_id_numbers(e.detail),
                actor=e.actor,
                occurred_at=e.occurred_at,
            )
            for e in found.lineage
        ],
    )
