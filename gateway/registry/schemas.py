"""Wire shapes of registrations, searches, problem records, decisions and corrections."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.clock import UtcDateTime


class FieldScore(BaseModel):
    field: str
    level: str
    weight: float


class SearchCandidate(BaseModel):
    code: str = Field(
        description="The current code; a G code masked unless it carries the ID number searched with."
    )
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
    """A person as a reviewer sees them: the ID number masked."""

    person_id: int
    code: str = Field(description="The current code; a G code masked like the ID number it carries.")
    status: str
    name: str
    gender: str
    birth_date: str
    id_type: str
    id_number_masked: str | None
    household_region: str | None
    guardian_name: str | None
    school_code: str | None
    region: str
    verification_status: str


class ProblemDetail(ProblemSummary):
    subject: PersonView | None
    submitted: dict[str, str | None] | None
    candidates: list[PersonView]
    explanation: list[dict[str, object]] | dict[str, object] | None
    decision_note: str | None
    result_code: str | None
    merge_id: int | None


class DuplicateReport(BaseModel):
    codes: list[str] = Field(min_length=2, max_length=10, description="codes believed to be one person")
    note: str | None = Field(default=None, max_length=500)


class DecisionRequest(BaseModel):
    decision: Literal["same_person", "different_persons", "needs_evidence"]
    survivor_id: int | None = Field(default=None, description="for same_person: the person who survives")
    note: str | None = Field(default=None, max_length=500)


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
    reason: str = Field(min_length=1, max_length=200, description="why the record was wrong")
    evidence_ref: str = Field(
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
