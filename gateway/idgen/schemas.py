"""Wire shapes of the code endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.clock import UtcDateTime


class ValidateCodeRequest(BaseModel):
    code: str = Field(max_length=64, description="A national student code (case and spaces ignored).")


class ValidateCodeResponse(BaseModel):
    valid: bool
    type: str | None
    errors: list[str]


class LineageEntry(BaseModel):
    old_code: str = Field(
        description="A G code masked (it carries an ID number) unless it is the code asked."
    )
    new_code: str = Field(description="Masked like old_code.")
    reason: str
    detail: str | None
    actor: str
    occurred_at: UtcDateTime


class CodeResolution(BaseModel):
    code: str = Field(description="The code asked about.")
    code_status: str = Field(description="current, superseded (promoted) or alias (merged away).")
    current_code: str = Field(
        description="The holder's code now; a G code masked unless it is the code asked."
    )
    current_type: str
    person_status: str
    lineage: list[LineageEntry]
