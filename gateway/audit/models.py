"""The audit table. Rows are only ever inserted; database triggers refuse UPDATE and DELETE."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    client_id: str | None = Field(default=None, max_length=40, index=True)
    acting_user: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=20)
    action: str = Field(max_length=60, index=True)
    object_type: str | None = Field(default=None, max_length=40)
    object_ref: str | None = Field(default=None, max_length=200, index=True)
    purpose: str | None = Field(default=None, max_length=200)
    approval_ref: str | None = Field(default=None, max_length=200)
    record_count: int = Field(default=0)
    request_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=40)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
