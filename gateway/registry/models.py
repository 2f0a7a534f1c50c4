"""Tables of the registry's workflow: idempotency, problem records, merges, verification jobs and
record corrections (the persons themselves are in ``gateway.persons``, their status events in
``gateway.students``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from gateway.sealing import SealedCode, SealedText


class IdempotencyRecord(SQLModel, table=True):
    """The answer given to a client's Idempotency-Key, replayed for the same request."""

    __tablename__ = "idempotency_record"

    client_id: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, sa_type=SealedText(200))
    request_hash: str = Field(max_length=64)
    status_code: int
    response_json: str = Field(sa_type=SealedText())
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ProblemRecord(SQLModel, table=True):
    """A case for a reviewer: a possible duplicate, an identifier conflict or a failed verification."""

    __tablename__ = "problem_record"

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=30, index=True)
    status: str = Field(default="open", max_length=20, index=True)
    region: str = Field(max_length=6, index=True)
    school_code: str | None = Field(default=None, max_length=10)
    subject_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    candidate_person_ids: str = Field(default="", max_length=2000, description="space-separated person ids")
    submitted_encrypted: str | None = Field(default=None, description="the submitted record, encrypted JSON")
    explanation_json: str | None = Field(default=None, sa_type=SealedText())
    opened_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    opened_by: str = Field(sa_type=SealedText(100))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    decided_by: str | None = Field(default=None, sa_type=SealedText(100))
    decision: str | None = Field(default=None, max_length=30)
    decision_note: str | None = Field(default=None, sa_type=SealedText(500))
    result_person_id: int | None = Field(default=None, foreign_key="person.id")


class ProblemPerson(SQLModel, table=True):
    """A person a problem record is about (its subject or a candidate). A record is visible to every
    jurisdiction that holds one of its persons or filed it; each sees only its own persons in full."""

    __tablename__ = "problem_person"

    problem_id: int = Field(foreign_key="problem_record.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)


class Merge(SQLModel, table=True):
    """Two persons found to be one: ``merged`` became an alias of ``survivor``; undoable."""

    __tablename__ = "person_merge"

    id: int | None = Field(default=None, primary_key=True)
    survivor_id: int = Field(foreign_key="person.id", index=True)
    merged_id: int = Field(foreign_key="person.id", index=True)
    problem_id: int | None = Field(default=None, foreign_key="problem_record.id")
    decided_by: str = Field(sa_type=SealedText(100))
    decided_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    undone_by: str | None = Field(default=None, sa_type=SealedText(100))
    undone_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class VerificationJob(SQLModel, table=True):
    """A durable re-verification job: written in the registration's transaction, worked by the worker."""

    __tablename__ = "verification_job"
    __table_args__ = (Index("ix_verification_job_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    status: str = Field(default="queued", max_length=20, description="queued, done")
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    guardian_id_encrypted: str | None = Field(default=None, max_length=400)
    last_reason: str | None = Field(default=None, max_length=200)
    outcome: str | None = Field(default=None, max_length=30)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class RecordCorrection(SQLModel, table=True):
    """One correction of a person's recorded identity (a school fixing a misspelt name, a wrong birth
    date or ID number, on evidence). The values replaced are kept, encrypted; nothing is overwritten
    without a trace."""

    __tablename__ = "record_correction"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    code: str = Field(sa_type=SealedCode, description="the student's code when the correction was made")
    changed_fields: str = Field(max_length=300, description="space-separated canonical field names")
    previous_encrypted: str = Field(description="the replaced values, encrypted JSON")
    reason: str = Field(sa_type=SealedText(200))
    evidence_ref: str = Field(sa_type=SealedText(100), description="the document the correction rests on")
    corrected_by: str = Field(sa_type=SealedText(100))
    corrected_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class MatchModelVersion(SQLModel, table=True):
    """A matching model estimated from the registry's own persons (never from labels): parameters,
    the name frequencies its TF fields are weighed against, and the thresholds it decides with. At
    most one is active; ``gateway matching activate`` switches, audited."""

    __tablename__ = "match_model_version"

    id: int | None = Field(default=None, primary_key=True, description="the version number")
    config_label: str = Field(max_length=80, description="name@version of the matching configuration")
    status: str = Field(default="trained", max_length=20, index=True, description="trained, active, retired")
    parameters_json: str = Field(sa_type=Text(), description="m, u and the prior (MatchModel.to_json)")
    frequencies_json: str | None = Field(default=None, sa_type=Text(), description="TF counts (>= 2)")
    match_probability: float
    probable_probability: float
    review_probability: float
    description: str = Field(default="", max_length=500)
    based_on: int | None = Field(default=None, description="the version whose parameters it copies")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str = Field(sa_type=SealedText(100))
    activated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    activated_by: str | None = Field(default=None, sa_type=SealedText(100))


class MatchDecision(SQLModel, table=True):
    """A registration answered with an existing person (an auto-link): the model version, score and
    per-field explanation that made it, and the submission (encrypted), so that the link can be
    explained later and re-scored when another version is activated."""

    __tablename__ = "match_decision"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    model_version: int | None = Field(default=None, description="None: the parameters shipped")
    config_label: str = Field(max_length=80)
    probability: float
    explanation_json: str = Field(sa_type=SealedText())
    submitted_encrypted: str = Field(description="the submitted record, encrypted JSON")
    decided_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    decided_by: str = Field(sa_type=SealedText(100))
    reviewed_problem_id: int | None = Field(
        default=None, foreign_key="problem_record.id", description="opened when a later version disagreed"
    )
