"""Tables of persons and the identifiers they hold (the identifier cross-reference).

A person is one human being as far as the gateway knows; a merge marks one person as merged into
another (never deleted). Identifiers are ``(scheme, value)`` pairs with validity periods; their
values are stored encrypted with a keyed hash for look-ups, never in clear.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, DateTime, Index, text
from sqlmodel import Field, SQLModel


class Person(SQLModel, table=True):
    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    current_code: str = Field(max_length=19, unique=True)
    status: str = Field(default="active", max_length=20, description="active or merged")
    merged_into_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    region: str = Field(max_length=6, index=True, description="region of the school holding the student")
    school_code: str | None = Field(default=None, max_length=10, index=True)
    birth_date: date = Field(sa_column=Column(Date, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class PersonIdentifier(SQLModel, table=True):
    """One identifier a person holds or held: a document, a provincial or another stage's number."""

    __tablename__ = "person_identifier"
    __table_args__ = (
        # An active national document number belongs to at most one person.
        Index(
            "uq_active_national_identifier",
            "scheme",
            "value_hash",
            unique=True,
            sqlite_where=text("valid_to IS NULL AND national = 1"),
            postgresql_where=text("valid_to IS NULL AND national"),
        ),
        Index("ix_identifier_lookup", "scheme", "value_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    scheme: str = Field(max_length=60)
    national: bool = Field(description="a national identity document (unique among active identifiers)")
    value_hash: str = Field(max_length=64)
    value_encrypted: str = Field(max_length=400)
    value_masked: str = Field(max_length=40)
    valid_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_to: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    source: str | None = Field(default=None, max_length=100)
