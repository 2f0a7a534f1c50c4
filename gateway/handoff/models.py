"""Tables of the handoff domain: who admitted whom, preschool intakes, bulk exports, webhooks (the
transfers between provinces are students' rows, in ``gateway.students.models``).

An admission is the fact that gives a registry or school the right to see a student: it claimed
them (or, for a preschool, handed them over). Nothing here holds an ID number; persons are referred
to by id and their records are read from the registry when disclosed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.sealing import SealedText


class Admission(SQLModel, table=True):
    """One client's right to a student's handoff record, with that client's own student number."""

    __tablename__ = "handoff_admission"
    __table_args__ = (UniqueConstraint("client_id", "person_id", name="uq_admission_client_person"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=40, index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    stage: str = Field(max_length=30, description="preschool, primary, senior_secondary, vocational...")
    student_number: str | None = Field(default=None, sa_type=SealedText(128))
    source: str = Field(max_length=20, description="intake (handed over) or claim")
    purpose: str = Field(sa_type=SealedText(200))
    approval_ref: str = Field(sa_type=SealedText(200))
    admitted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Intake(SQLModel, table=True):
    """A preschool registry's bulk handover, registered through a batch of the batches domain."""

    __tablename__ = "handoff_intake"

    id: str = Field(primary_key=True, max_length=40)
    client_id: str = Field(max_length=40, index=True)
    batch_id: str = Field(max_length=40, foreign_key="batch.id")
    status: str = Field(default="queued", max_length=20, description="queued, running, done")
    total_rows: int = Field(default=0)
    handed_over: int = Field(default=0, description="children registered and held by the preschool")
    purpose: str = Field(sa_type=SealedText(200))
    approval_ref: str = Field(sa_type=SealedText(200))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Export(SQLModel, table=True):
    """An asynchronous bulk export of a registry's admitted cohort (the FHIR bulk-data pattern)."""

    __tablename__ = "handoff_export"

    id: str = Field(primary_key=True, max_length=40)
    client_id: str = Field(max_length=40, index=True)
    role: str = Field(max_length=20)
    identity_scope: bool = Field(description="the requester may receive full ID numbers")
    status: str = Field(
        default="queued", max_length=20, description="queued, running, done, failed, expired (files removed)"
    )
    purpose: str = Field(sa_type=SealedText(200))
    approval_ref: str = Field(sa_type=SealedText(200))
    acting_user: str | None = Field(default=None, sa_type=SealedText(100))
    request_url: str = Field(sa_type=SealedText(500))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    manifest_json: str | None = Field(default=None, sa_type=SealedText())
    error: str | None = Field(default=None, sa_type=SealedText(500))
    lease_until: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True)),
        description="while running: the runner renews this; past it, another process takes the export over",
    )
    expires_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), index=True),
        description="when the files are removed (retention of disclosed personal data)",
    )


class ExportFileChunk(SQLModel, table=True):
    """A piece of one NDJSON file of an export, stored in the database so every replica can serve it
    (``gateway.handoff.storage``); a file is its pieces in ``seq`` order. The piece is AES-GCM
    encrypted: the records hold codes and ID numbers that are never stored in clear."""

    __tablename__ = "handoff_export_chunk"

    export_id: str = Field(primary_key=True, max_length=40)
    name: str = Field(primary_key=True, max_length=80)
    seq: int = Field(primary_key=True)
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class WebhookSubscription(SQLModel, table=True):
    """A client's request to be told (thinly) when its change feed has something new."""

    __tablename__ = "webhook_subscription"

    id: str = Field(primary_key=True, max_length=40)
    client_id: str = Field(max_length=40, index=True)
    url: str = Field(max_length=500)
    secret_encrypted: str = Field(max_length=400, description="the whsec_ signing secret, encrypted")
    active: bool = Field(default=True)
    cursor_version: int = Field(default=0, description="feed version up to which deliveries exist")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """One thin notification to one subscriber, retried with backoff until delivered or given up."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=40, description="the webhook-id header, msg_...")
    subscription_id: str = Field(foreign_key="webhook_subscription.id", max_length=40, index=True)
    version: int
    payload: str = Field(sa_type=SealedText())
    status: str = Field(default="pending", max_length=20, description="pending, delivered, failed")
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_status: int | None = Field(
        default=None, description="HTTP status of the last answer (operators only)"
    )
    last_error: str | None = Field(
        default=None,
        sa_type=SealedText(300),
        description="outcome class of a last attempt that got no answer",
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
