"""Request and response bodies of the identity endpoints. The request takes every field as loosely
as JSON senders produce it (strings or numbers, any missing); `normalise_record` does the judging."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.identity.issues import FieldIssue
from gateway.identity.records import NormalisedRecord

RawValue = str | int | None


class NormalizeRequest(BaseModel):
    """One person in record-schema.md field names; values as typed at the school."""

    model_config = ConfigDict(extra="ignore")

    record_id: RawValue = None
    name: RawValue = None
    gender: RawValue = None
    birth_date: RawValue = None
    ethnicity: RawValue = None
    id_type: RawValue = None
    id_number: RawValue = None
    nationality: RawValue = None
    household_region: RawValue = None
    guardian_name: RawValue = None
    school_code: RawValue = None


class IssueOut(BaseModel):
    field: str
    code: str = Field(description="machine-readable reason, e.g. bad_check_character")
    message: str

    @classmethod
    def of(cls, issue: FieldIssue) -> IssueOut:
        return cls(field=issue.field, code=issue.code, message=issue.message)


class CanonicalRecordOut(BaseModel):
    record_id: str | None
    name: str
    gender: str = Field(description="GB/T 2261.1: 1 male, 2 female, 0 unknown, 9 not stated")
    birth_date: str = Field(description="ISO YYYY-MM-DD")
    ethnicity: str | None = Field(description="two-digit GB 3304 code")
    id_type: str
    id_number: str | None
    nationality: str = Field(description="ISO 3166-1 alpha-3")
    household_region: str | None = Field(description="six-digit GB/T 2260 code")
    guardian_name: str | None
    school_code: str | None


class NormalizeResponse(BaseModel):
    record: CanonicalRecordOut | None
    warnings: list[IssueOut]
    errors: list[IssueOut]
    flags: list[str] = Field(description="cross-field disagreements, e.g. id_birth_date_mismatch")

    @classmethod
    def of(cls, result: NormalisedRecord) -> NormalizeResponse:
        record = None if result.record is None else CanonicalRecordOut.model_validate(result.record.to_dict())
        return cls(
            record=record,
            warnings=[IssueOut.of(issue) for issue in result.warnings],
            errors=[IssueOut.of(issue) for issue in result.errors],
            flags=list(result.flags),
        )
