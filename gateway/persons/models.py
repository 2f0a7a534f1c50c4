"""Tables of persons and the identifiers they hold (the identifier cross-reference).

A person is one human being as far as the gateway knows; a merge marks one person as merged into
another (never deleted). Identifiers are ``(scheme, value)`` pairs with validity periods; their
values are stored encrypted with a keyed hash for look-ups, never in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Column, Date, DateTime, Index, text
from sqlmodel import Field, SQLModel

from gateway.sealing import SealedCode


class Person(SQLModel, table=True):
    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    current_code: str = Field(unique=True, sa_type=SealedCode)
    status: str = Field(default="active", max_length=20, description="active or merged")
    merged_into_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    region: str = Field(max_length=6, index=True, description="region of the school holding the student")
    school_code: str | None = Field(default=None, max_length=10, index=True)
    birth_date: date = Field(sa_column=Column(Date, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # The canonical record as last registered (record-schema.md); the ID number only encrypted.
    name: str = Field(default="", max_length=100)
    gender: str = Field(default="0", max_length=1)
    ethnicity: str | None = Field(default=None, max_length=2)
    id_type: str = Field(default="none", max_length=40)
    id_number_encrypted: str | None = Field(default=None, max_length=400)
    id_number_masked: str | None = Field(default=None, max_length=40)
    nationality: str = Field(default="CHN", max_length=3)
    household_region: str | None = Field(default=None, max_length=6)
    guardian_name: str | None = Field(default=None, max_length=100)
    verification_status: str = Field(
        default="unverified",
        max_length=20,
        description="unverified, pending, verified, failed, not_applicable",
    )
    school_status: str = Field(default="registered", max_length=30, index=True)
    grade: int | None = Field(default=None, description="grade 1-12 (1-6 primary, 7-9 junior, 10-12 senior)")
    # Mirrors whether a transfer is open; the lock itself is an open transfer not past its deadline
    # (gateway.students.repository.open_transfer_holding), which every check asks.
    locked_by_transfer: bool = Field(default=False)


class BlockingKey(SQLModel, table=True):
    """One blocking key of a person (an HMAC digest: keys hold ID-number fragments)."""

    __tablename__ = "blocking_key"

    digest: str = Field(primary_key=True, max_length=64)
    person_id: int = Field(primary_key=True, foreign_key="person.id", index=True)


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


@dataclass(frozen=True)
class PersonSummary:
    """A person as a search reads them: what matching, jurisdiction and the answer need, read with
    one plain query (no ORM object per candidate). Not for changing: read the ``Person`` for that."""

    id: int
    current_code: str
    status: str
    region: str
    school_code: str | None
    birth_date: date
    name: str
    gender: str
    ethnicity: str | None
    id_type: str
    id_number_encrypted: str | None
    nationality: str
    household_region: str | None
    guardian_name: str | None
