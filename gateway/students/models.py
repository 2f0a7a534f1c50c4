"""Tables of a student's school life: status changes (学籍异动) and the cross-province transfers
that move a student between jurisdictions, with the decision on each step.

A transfer that is open locks its student: no move, correction or merge while it runs
(``gateway.students.repository.open_transfer_holding``). The transfer workflow itself, which
discloses records between provinces, is ``gateway.handoff.transfers``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.sealing import SealedText


class StatusEvent(SQLModel, table=True):
    """One status change (学籍异动) of a student."""

    __tablename__ = "status_event"
    __table_args__ = (Index("ix_status_event_school_year", "school_year", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    event: str = Field(max_length=30)
    from_status: str = Field(max_length=30)
    to_status: str = Field(max_length=30)
    effective_date: date = Field(sa_column=Column(Date, nullable=False))
    school_code: str | None = Field(default=None, max_length=10)
    region: str = Field(max_length=6)
    to_school_code: str | None = Field(
        default=None,
        max_length=10,
        description="transferred_out: the school the student left for, the only one that may take them in",
    )
    recorded_by: str = Field(sa_type=SealedText(100))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    note: str | None = Field(default=None, sa_type=SealedText(500))
    grade: int | None = Field(default=None, description="the student's grade (1-12) after the event")
    school_year: int | None = Field(
        default=None, description="written by the close of this school year (gateway year close)"
    )


class SchoolYearClose(SQLModel, table=True):
    """The close of a school year for a region (graduation, promotion) and the transfer freeze around
    it: ``frozen`` (transfers frozen, nothing run yet), ``running`` (steps committed one by one; a
    crash leaves it here and the next run resumes) or ``done`` (transfers open again)."""

    __tablename__ = "school_year_close"
    __table_args__ = (UniqueConstraint("region", "school_year", name="uq_school_year_close"),)

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=6, description="the region prefix closed (2, 4 or 6 digits)")
    school_year: int = Field(description="the calendar year the school year ends in (2026: 2025-26)")
    state: str = Field(max_length=20, index=True)
    frozen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    graduated: int = Field(default=0)
    promoted: int = Field(default=0)
    repeaters: int = Field(default=0)
    recorded_by: str = Field(max_length=100)


class Transfer(SQLModel, table=True):
    """A cross-province transfer through the central platform (workflows.md), one row per case."""

    __tablename__ = "handoff_transfer"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    state: str = Field(max_length=30, index=True)
    from_region: str = Field(max_length=6, index=True)
    from_school: str | None = Field(default=None, max_length=10)
    to_region: str = Field(max_length=6, index=True)
    to_school: str = Field(max_length=10)
    applied_by: str = Field(sa_type=SealedText(100))
    applied_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reason: str | None = Field(default=None, sa_type=SealedText(500))


class TransferStep(SQLModel, table=True):
    """One decision on a transfer: who approved or rejected which step, and when."""

    __tablename__ = "handoff_transfer_step"

    id: int | None = Field(default=None, primary_key=True)
    transfer_id: int = Field(foreign_key="handoff_transfer.id", index=True)
    from_state: str = Field(max_length=30)
    to_state: str = Field(max_length=30)
    decision: str = Field(max_length=20, description="apply, approve, reject or pull")
    actor: str = Field(sa_type=SealedText(100))
    role: str = Field(max_length=20)
    decided_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    note: str | None = Field(default=None, sa_type=SealedText(500))
