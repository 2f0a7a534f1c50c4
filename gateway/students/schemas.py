"""Wire shapes of the student endpoints: status events, student reads and partner verification."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway.clock import UtcDateTime
from gateway.schemas import PlainText
from gateway.students.statemachine import StatusEventType
from gateway.students.verification import FieldFlag, Outcome

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_text(value: Any) -> Any:
    # Pydantic's lax date parsing would also take a number as a Unix timestamp; an event date is an
    # ISO calendar date and nothing else.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be an ISO date, YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]


class StatusEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: StatusEventType = Field(description="The status change (学籍异动).")
    effective_date: IsoDate = Field(description="The day the change took effect (YYYY-MM-DD).")
    school_code: str | None = Field(
        default=None,
        pattern=r"^\d{10}$",
        description="The receiving school (transferred_in; optionally enrolled at a new school).",
    )
    school_region: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="The GB/T 2260 region of the receiving school."
    )
    to_school_code: str | None = Field(
        default=None,
        pattern=r"^\d{10}$",
        description="transferred_out (required): the school the student leaves for, the only one that "
        "may then record transferred_in.",
    )
    grade: int | None = Field(
        default=None,
        ge=1,
        le=12,
        description="enrolled or transferred_in: the grade the student enters (1-12; 1-6 primary, 7-9 "
        "junior, 10-12 senior), which the school must teach. Without it the student keeps their grade.",
    )
    note: PlainText | None = Field(default=None, max_length=500)


class StatusEventOut(BaseModel):
    event: str
    from_status: str
    to_status: str
    effective_date: date
    school_code: str | None
    region: str
    to_school_code: str | None = Field(
        default=None, description="transferred_out: the school the student left for."
    )
    recorded_by: str
    recorded_at: UtcDateTime
    note: str | None
    grade: int | None = Field(default=None, description="The student's grade after the event.")
    school_year: int | None = Field(
        default=None, description="Set when the close of that school year recorded the event."
    )


class StudentOut(BaseModel):
    """A student as a reader inside its jurisdiction sees them; the ID number only masked."""

    code: str = Field(description="The student's current code.")
    code_type: str = Field(description="G, J or L.")
    requested_code: str = Field(description="The code asked about (an old or merged-away code resolves).")
    requested_code_status: str = Field(description="current, superseded or alias.")
    name: str
    gender: str
    birth_date: date
    school_code: str | None
    region: str
    school_status: str
    grade: int | None = Field(default=None, description="1-12 (1-6 primary, 7-9 junior, 10-12 senior).")
    verification_status: str
    id_type: str
    id_number_masked: str | None


class StudentEventsOut(BaseModel):
    code: str
    events: list[StatusEventOut]


class VerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: PlainText = Field(max_length=64, description="The national student code to check.")
    name: str = Field(max_length=100)
    birth_date: str = Field(max_length=64, description="Any accepted spelling of a date.")
    gender: str | None = Field(default=None, max_length=10, description="1/2/0/9, 男/女, M/F...")
    id_number: str | None = Field(default=None, max_length=40)
    purpose: PlainText | None = Field(
        default=None, max_length=200, description="Recorded in the audit trail."
    )


class VerificationFlags(BaseModel):
    name: FieldFlag
    birth_date: FieldFlag
    gender: FieldFlag
    id_number: FieldFlag


class VerificationResponse(BaseModel):
    """An outcome and per-field flags; nothing of the record itself."""

    code: str = Field(description="The code as asked, echoed.")
    outcome: Outcome
    flags: VerificationFlags | None = Field(description="Absent when the code was not found.")
