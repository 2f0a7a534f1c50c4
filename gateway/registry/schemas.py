"""Wire shapes of registrations, searches, problem records, decisions and corrections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from gateway.clock import UtcDateTime
from gateway.identity.records import MAX_FIELD_INPUT
from gateway.schemas import PlainText, RowId


def _raw_field(value: object) -> str | int | None:
    # One check for the one rule the normaliser applies before reading a value (text or a number,
    # of bounded length), with its codes, so a refusal names the field and nothing else.
    if isinstance(value, bool) or not (value is None or isinstance(value, str | int)):
        raise PydanticCustomError("bad_type", "must be text")
    if isinstance(value, str) and len(value) > MAX_FIELD_INPUT:
        raise PydanticCustomError("too_long", f"is longer than {MAX_FIELD_INPUT} characters")
    return value


RawField = Annotated[
    str | int | None,
    PlainValidator(_raw_field),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "maxLength": MAX_FIELD_INPUT}, {"type": "integer"}, {"type": "null"}]}
    ),
]
"""A record field as senders produce it (text, or a number such as 20160901); the normaliser judges it."""


# The README's demo: the docs show it, and the API fuzz test's explicit phase sends it.
_EXAMPLE_PERSON: dict[str, JsonValue] = {
    "name": "王子涵",
    "gender": "男",
    "birth_date": "2016年9月1日",
    "id_type": "none",
    "household_region": "410102",
    "guardian_name": "王建国",
}


class SearchRequest(BaseModel):
    """One person in record-schema.md field names, values as typed at the school; each is normalised
    (``2016年9月1日`` is a birth date, ``男`` a gender) and refused with its field named. Other fields
    are ignored, as they are in a batch file."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_EXAMPLE_PERSON]})

    record_id: RawField = Field(default=None, description="The sender's own id of the row.")
    name: RawField = Field(default=None, description="Required.")
    gender: RawField = Field(default=None, description="Required: 1/2/0/9, 男/女, M/F...")
    birth_date: RawField = Field(default=None, description="Required: any accepted spelling of a date.")
    ethnicity: RawField = Field(default=None, description="GB 3304 code or name.")
    id_type: RawField = Field(default=None, description="resident_id, passport, none...")
    id_number: RawField = None
    nationality: RawField = Field(default=None, description="ISO 3166-1 code or name; default CHN.")
    household_region: RawField = Field(default=None, description="GB/T 2260 code or place name.")
    guardian_name: RawField = None
    school_code: RawField = Field(default=None, description="The 10-digit school identifier.")


class RegistrationRequest(SearchRequest):
    """A person to register at a school: the record's fields, the school's region, and optionally the
    guardian's ID number (used for verification only)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{**_EXAMPLE_PERSON, "school_code": "4101020001", "school_region": "410102"}]
        },
    )

    school_code: str | None = Field(
        default=None, max_length=MAX_FIELD_INPUT, description="Required: the 10-digit school identifier."
    )
    school_region: str | None = Field(
        default=None, max_length=MAX_FIELD_INPUT, description="Required: the school's 6-digit GB/T 2260 code."
    )
    guardian_id_number: str | None = Field(
        default=None, max_length=MAX_FIELD_INPUT, description="A guardian's resident ID number."
    )
    grade: RawField = Field(
        default=None,
        description="The grade the child enters, 1-12 (1-6 primary, 7-9 junior, 10-12 senior); "
        "the school must teach it (the school register).",
    )

    def submitted(self) -> dict[str, object]:
        """The body as sent (fields given, in any spelling the normaliser reads), for the workflow."""
        return self.model_dump(exclude_unset=True)


class FieldScore(BaseModel):
    field: str
    level: str
    weight: float


class SearchCandidate(BaseModel):
    code: str
    score: float = Field(description="match probability, 0..1")
    band: str
    grade: str
    explanation: list[FieldScore]
    rules_fired: list[str]


class SearchResponse(BaseModel):
    outcome: str
    config: str
    candidates: list[SearchCandidate]


class ProblemSummary(BaseModel):
    id: int
    type: str
    status: str
    region: str
    school_code: str | None
    candidate_count: int
    opened_at: UtcDateTime
    decided_at: UtcDateTime | None
    decision: str | None


class ProblemPage(BaseModel):
    items: list[ProblemSummary]
    next_after_id: int | None
    counts: dict[str, int]


class PersonView(BaseModel):
    """A person as a reviewer sees them: the ID number (and a G code, which carries it) masked.

    A person outside the reviewer's jurisdiction is shown ``masked``: only the province (the region's
    first two digits), the type of their code and how well they match; everything else is null.
    """

    masked: bool = Field(default=False, description="outside your jurisdiction: identity withheld")
    person_id: int | None
    code: str | None = Field(description="the current code; a G code masked like the ID number it carries")
    code_type: str = Field(description="G, J or L")
    match_grade: str | None = Field(default=None, description="certain, probable or possible")
    status: str | None
    name: str | None
    gender: str | None
    birth_date: str | None
    id_type: str | None
    id_number_masked: str | None
    household_region: str | None
    guardian_name: str | None
    school_code: str | None
    region: str
    verification_status: str | None


class ProblemDetail(ProblemSummary):
    subject: PersonView | None
    submitted: dict[str, str | None] | None
    candidates: list[PersonView]
    explanation: list[dict[str, object]] | dict[str, object] | None
    decision_note: str | None
    result_code: str | None
    merge_id: int | None


class DuplicateReport(BaseModel):
    codes: list[Annotated[PlainText, Field(max_length=64)]] = Field(
        min_length=2, max_length=10, description="codes believed to be one person"
    )
    note: PlainText | None = Field(default=None, max_length=500)


class DecisionRequest(BaseModel):
    decision: Literal["same_person", "different_persons", "needs_evidence"]
    survivor_id: RowId | None = Field(default=None, description="for same_person: the person who survives")
    note: PlainText | None = Field(default=None, max_length=500)


class DecisionResponse(BaseModel):
    problem_id: int
    status: str
    decision: str
    code: str | None
    merge_id: int | None


class MergeResponse(BaseModel):
    merge_id: int
    survivor_code: str
    restored_code: str
    undone_at: UtcDateTime


class CorrectedFields(BaseModel):
    """The fields of the canonical record being corrected (record-schema.md names); each is
    normalised exactly as at registration. A field given as null is cleared (optional fields only)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    gender: str | None = Field(default=None, max_length=20)
    birth_date: str | None = Field(default=None, max_length=40)
    ethnicity: str | None = Field(default=None, max_length=40)
    id_type: str | None = Field(default=None, max_length=40)
    id_number: str | None = Field(default=None, max_length=40)
    nationality: str | None = Field(default=None, max_length=40)
    household_region: str | None = Field(default=None, max_length=40)
    guardian_name: str | None = Field(default=None, max_length=200)


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: CorrectedFields
    reason: PlainText = Field(min_length=1, max_length=200, description="why the record was wrong")
    evidence_ref: PlainText = Field(
        min_length=1, max_length=100, description="the document the correction rests on (its reference)"
    )


class CorrectionOut(BaseModel):
    changed_fields: list[str]
    reason: str
    evidence_ref: str
    code: str
    corrected_by: str
    corrected_at: UtcDateTime


class CorrectionHistory(BaseModel):
    code: str
    corrections: list[CorrectionOut]
