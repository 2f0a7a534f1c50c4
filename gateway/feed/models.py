"""The change-feed table: one row per change, numbered by a version that only grows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from gateway.sealing import SealedCode, SealedText


class ChangeEvent(SQLModel, table=True):
    __tablename__ = "change_event"

    version: int = Field(primary_key=True, description="strictly increasing, in commit order")
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    type: str = Field(max_length=40, index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    code: str = Field(sa_type=SealedCode, description="the person's current code after the change")
    old_code: str | None = Field(default=None, sa_type=SealedCode)
    region: str = Field(max_length=6, index=True)
    school_code: str | None = Field(default=None, max_length=10)
    detail: str | None = Field(default=None, sa_type=SealedText(200))
