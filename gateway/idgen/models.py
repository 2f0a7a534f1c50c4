"""Tables of issued codes, J-code sequences and code lineage.

``issued_code`` holds every code ever issued, keyed by the code itself and never deleted (triggers
refuse DELETE and changes of the code or its type), so the primary key is the database-level
guarantee that no code is ever issued twice.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, DateTime, Index, text
from sqlmodel import Field, SQLModel

from gateway.sealing import SealedCode, SealedText


class IssuedCode(SQLModel, table=True):
    __tablename__ = "issued_code"
    __table_args__ = (
        # At most one current code per person.
        Index(
            "uq_current_code_per_person",
            "person_id",
            unique=True,
            sqlite_where=text("status = 'current'"),
            postgresql_where=text("status = 'current'"),
        ),
    )

    code: str = Field(primary_key=True, sa_type=SealedCode)
    type: str = Field(max_length=1)
    person_id: int | None = Field(
        default=None,
        foreign_key="person.id",
        index=True,
        description="set in the same transaction that allocates the code",
    )
    status: str = Field(
        default="current", max_length=20, description="current, superseded (promoted) or alias (merged away)"
    )
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    issued_by: str = Field(sa_type=SealedText(100))


class CodeSequence(SQLModel, table=True):
    """The next J sequence number per (school region, birth date)."""

    __tablename__ = "code_sequence"

    region: str = Field(primary_key=True, max_length=6)
    birth_date: date = Field(sa_column=Column(Date, primary_key=True))
    next_value: int = Field(default=1)


class CodeLineage(SQLModel, table=True):
    """One transition of a person's code: promotion, merge alias or unmerge."""

    __tablename__ = "code_lineage"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    old_code: str = Field(index=True, sa_type=SealedCode)
    new_code: str = Field(index=True, sa_type=SealedCode)
    reason: str = Field(max_length=40)
    detail: str | None = Field(default=None, sa_type=SealedText(300))
    actor: str = Field(sa_type=SealedText(100))
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
