"""Tables of bulk registration batches and their rows.

A batch remembers who submitted it (client, role and jurisdiction as they were then: the rows are
authorised by that snapshot when they run, perhaps after a restart) and which runner holds it now
(a lease that expires, so a crashed runner's batch is picked up by another). Each row keeps the
submitted record encrypted, because it carries ID numbers, and once done its outcome.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel

from gateway.sealing import SealedCode, SealedText


class Batch(SQLModel, table=True):
    __tablename__ = "batch"
    __table_args__ = (
        Index("ix_batch_status", "status"),
        Index("ix_batch_client_source", "client_id", "source_digest"),
        Index("ix_batch_review_step", "review_step", "school_region"),
    )

    id: str = Field(primary_key=True, max_length=40)
    client_id: str = Field(max_length=40, index=True, description="the client that submitted the batch")
    client_name: str = Field(max_length=200)
    role: str = Field(max_length=20, description="the submitter's role when the batch was submitted")
    jurisdiction: str = Field(max_length=10, description="the submitter's jurisdiction at submission")
    scopes: str = Field(max_length=2000, description="the scopes of the submitting token")
    stage: str | None = Field(default=None, max_length=30)
    acting_user: str | None = Field(default=None, sa_type=SealedText(100))
    request_id: str | None = Field(default=None, max_length=100)
    format: str = Field(max_length=10, description="csv or ndjson")
    status: str = Field(
        default="queued",
        max_length=20,
        description="held (under review, not run), queued, running or done",
    )
    total_rows: int
    done_rows: int = Field(default=0)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # The current (or last) run: when it took the batch and how many rows were done then, so the
    # status can say how fast this run goes and when it should end.
    run_started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    run_started_rows: int | None = Field(default=None)
    source_digest: str | None = Field(
        default=None,
        max_length=64,
        description="SHA-256 of the submitted file: the same file again resumes it",
    )
    # The collection workflow (docs/adr/019-collection-review-levels.md); all None for a batch that
    # runs at once (an API client without a clerk, ``gateway import``).
    review_step: str | None = Field(
        default=None,
        max_length=20,
        description="submitted, school_checked, county_reviewed, city_reviewed, accepted or rejected",
    )
    school_code: str | None = Field(default=None, max_length=10, description="the submitting school")
    school_region: str | None = Field(default=None, max_length=6, description="the school's county")
    city_run: bool | None = Field(default=None, description="the school is run by the city (register)")
    step_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True)),
        description="when the submission reached its review step (deadlines count from here)",
    )
    replaces: str | None = Field(
        default=None, max_length=40, description="the rejected submission this one corrects"
    )


class BatchReview(SQLModel, table=True):
    """One step of a submission's review: who (a named person), which step, the decision, why."""

    __tablename__ = "batch_review"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", max_length=40, index=True)
    step: str = Field(max_length=20, description="the step decided: school_checked, county_reviewed ...")
    decision: str = Field(max_length=10, description="accept or reject")
    staff_id: str = Field(max_length=40, description="the named person who decided")
    staff_role: str = Field(max_length=20)
    reason: str | None = Field(default=None, sa_type=SealedText())
    rows_json: str | None = Field(
        default=None, sa_type=SealedText(), description="[{row_number, reason}] of a rejection"
    )
    decided_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class CollectionPlanStep(SQLModel, table=True):
    """A province's (or a city's) collection plan: how many days each review step may take."""

    __tablename__ = "collection_plan"

    region: str = Field(primary_key=True, max_length=6, description="the region prefix the plan covers")
    step: str = Field(primary_key=True, max_length=20)
    days: int
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class BatchRow(SQLModel, table=True):
    __tablename__ = "batch_row"

    batch_id: str = Field(primary_key=True, foreign_key="batch.id", max_length=40)
    row_number: int = Field(primary_key=True, description="line of the file where the record starts")
    record_id: str | None = Field(default=None, sa_type=SealedText(128))
    payload_encrypted: str | None = Field(
        default=None, description="the registration body as JSON, encrypted; none for an unreadable line"
    )
    status: str = Field(default="pending", max_length=10, description="pending or done")
    outcome: str | None = Field(
        default=None,
        max_length=20,
        description=(
            "issued, existing, review_required, held_elsewhere, rejected, forbidden, error, or refused "
            "(not worked: the submitting client was disabled or frozen)"
        ),
    )
    http_status: int | None = Field(default=None)
    code: str | None = Field(default=None, sa_type=SealedCode)
    problem_id: int | None = Field(default=None)
    errors_json: str | None = Field(default=None, sa_type=SealedText())
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
