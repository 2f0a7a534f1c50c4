"""Wire shapes of the handoff endpoints: claims, transfer applications and decisions.

Handoff responses are sent as signed JSON bytes (gateway.handoff.signing), so only requests are
modelled here; the shape of a handoff record is documented in ``service.build_record``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.students.schemas import IsoDate


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(
        default=None,
        max_length=64,
        description="The student's national code (any code they held); without it the identity is searched.",
    )
    identity: dict[str, Any] = Field(
        description=(
            "The student's identity in record-schema.md fields (name, gender, birth_date, id_type, "
            "id_number...). Always required: with a code it must agree with the code's holder."
        ),
    )
    student_number: str | None = Field(
        default=None, max_length=128, description="The claimant's own number for the student."
    )
    exam_candidate_number: str | None = Field(
        default=None, max_length=60, description="Higher education: the exam candidate number (考生号)."
    )
    school_region: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="Schools: the GB/T 2260 region of the claiming school."
    )
    effective_date: IsoDate | None = Field(default=None, description="Schools: the enrolment date.")


class TransferApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=64, description="The student's national code.")
    name: str = Field(max_length=100, description="The student's name, checked against the record.")
    birth_date: str = Field(
        max_length=64, description="The student's birth date, checked against the record."
    )
    school_region: str = Field(
        pattern=r"^\d{6}$", description="The GB/T 2260 region of the receiving school."
    )
    note: str | None = Field(default=None, max_length=500)


class TransferDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=500)


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=500, description="Where to POST notifications (https).")
