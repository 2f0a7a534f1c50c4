"""Wire shapes of the handoff endpoints: claims, transfer applications and decisions.

Handoff responses are sent as signed JSON bytes (gateway.handoff.signing), so only requests are
modelled here; the shape of a handoff record is documented in ``service.build_record``.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from gateway.schemas import PlainText
from gateway.students.schemas import IsoDate


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: PlainText | None = Field(
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
    student_number: PlainText | None = Field(
        default=None, max_length=128, description="The claimant's own number for the student."
    )
    exam_candidate_number: PlainText | None = Field(
        default=None, max_length=60, description="Higher education: the exam candidate number (考生号)."
    )
    school_region: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="Schools: the GB/T 2260 region of the claiming school."
    )
    effective_date: IsoDate | None = Field(default=None, description="Schools: the enrolment date.")


class TransferApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: PlainText = Field(max_length=64, description="The student's national code.")
    name: PlainText = Field(max_length=100, description="The student's name, checked against the record.")
    birth_date: PlainText = Field(
        max_length=64, description="The student's birth date, checked against the record."
    )
    school_region: str = Field(
        pattern=r"^\d{6}$", description="The GB/T 2260 region of the receiving school."
    )
    note: PlainText | None = Field(default=None, max_length=500)


class TransferDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    note: PlainText | None = Field(default=None, max_length=500)


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: PlainText = Field(
        max_length=500,
        description="Where to POST notifications (https).",
        json_schema_extra={"format": "uri"},
    )

    @field_validator("url")
    @classmethod
    def _parseable(cls, url: str) -> str:
        # Which URLs are allowed is the subscription's rule (gateway.handoff.webhooks); this only
        # refuses what is no URL at all (a bad host name or port), which no rule could judge.
        try:
            parsed = httpx.URL(url)
            # The host is decoded (IDNA) only when read, and may fail only then.
            _ = parsed.host, str(parsed)
        except Exception:
            raise PydanticCustomError("invalid_url", "must be a well-formed URL") from None
        return url
