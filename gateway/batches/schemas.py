"""What the batch endpoints answer: the acceptance of a submitted file and a batch's progress."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from gateway.clock import UtcDateTime
from gateway.schemas import PlainText, RowId


class BatchAccepted(BaseModel):
    id: str
    status: str = Field(description="queued, running or done")
    total_rows: int
    error_rows: int = Field(description="rows refused already because their line could not be read")
    status_url: str
    rows_per_second: float | None = Field(
        default=None, description="rows done per second by the current (or last) run"
    )
    eta_seconds: float | None = Field(
        default=None, description="seconds the current run should still take at its rate; none when done"
    )
    results_url: str
    review_step: str | None = Field(
        default=None, description="submitted: held for the school's check before it runs (ADR 019)"
    )


class BatchStatus(BaseModel):
    id: str
    status: str = Field(description="held (under review, not run yet), queued, running or done")
    format: str
    total_rows: int
    done_rows: int
    progress: float = Field(description="share of rows done, 0 to 1")
    counts: dict[str, int] = Field(
        description=(
            "done rows per outcome: issued, existing, review_required, held_elsewhere, rejected, "
            "forbidden, error"
        )
    )
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    rows_per_second: float | None = Field(
        default=None, description="rows done per second by the current (or last) run"
    )
    eta_seconds: float | None = Field(
        default=None, description="seconds the current run should still take at its rate; none when done"
    )
    results_url: str
    review: SubmissionOut | None = Field(
        default=None, description="where the submission stands in the collection workflow; null outside it"
    )


# --- the collection workflow (docs/adr/019-collection-review-levels.md) ---------------------------


class RowReasonIn(BaseModel):
    row_number: RowId = Field(description="the row of the submission (its line in the file)")
    reason: Annotated[PlainText, StringConstraints(min_length=1, max_length=500)] = Field(
        description="what is wrong with the row, for the school to correct"
    )


class ReviewRequest(BaseModel):
    decision: Literal["accept", "reject"] = Field(
        description="accept (up one level, or accepted and run at the last) or reject (back to the school)"
    )
    reason: Annotated[PlainText, StringConstraints(max_length=500)] | None = Field(
        default=None, description="why, for the whole submission (a rejection needs this or rows)"
    )
    rows: list[RowReasonIn] = Field(
        default_factory=list, max_length=10_000, description="a rejection's reasons per row"
    )


class RowReasonOut(BaseModel):
    row_number: int
    reason: str


class ReviewOut(BaseModel):
    step: str = Field(description="the step decided: school_checked, county_reviewed or city_reviewed")
    decision: str
    staff_id: str = Field(description="the named person who decided")
    staff_name: str | None
    staff_role: str
    reason: str | None
    rows: list[RowReasonOut]
    decided_at: UtcDateTime


class SubmissionOut(BaseModel):
    batch_id: str
    school_code: str
    school_region: str
    city_run: bool = Field(description="the school is run by the city: the city reviews after the county")
    step: str = Field(
        description="submitted, school_checked, county_reviewed, accepted, rejected (returned to the "
        "school) or resubmitted (returned, and its correction submitted)"
    )
    waiting_for: str | None = Field(description="the step it waits for; null when none")
    taken_by: str | None = Field(description="the workflow role that takes that step")
    step_at: UtcDateTime | None = Field(description="when it reached its step")
    due_at: UtcDateTime | None = Field(description="the collection plan's deadline of the step it waits for")
    overdue: bool
    total_rows: int
    replaces: str | None = Field(description="the returned submission this one corrects")
    submitted_by: str | None = Field(description="the staff id of the clerk who submitted it")
    reviews: list[ReviewOut]
    status_url: str


class CollectionQueue(BaseModel):
    submissions: list[SubmissionOut] = Field(description="the longest waiting first")


BatchStatus.model_rebuild()
