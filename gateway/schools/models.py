"""The school register's table: one row per school (学校标识码), loaded from the province's file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class School(SQLModel, table=True):
    __tablename__ = "school"

    code: str = Field(primary_key=True, max_length=10, description="the 10-digit school identifier")
    name: str = Field(max_length=200)
    region: str = Field(max_length=6, index=True, description="GB/T 2260 county code of the school")
    type: str = Field(max_length=20, description="gateway.schools.levels.SchoolType")
    levels: str = Field(max_length=40, description="levels taught, ';'-separated (primary;junior)")
    enrolment: int | None = Field(default=None, description="students the school reports enrolled")
    active: bool = Field(default=True)
    run_by: str = Field(
        default="county",
        max_length=10,
        description="who runs the school: county (the county bureau) or city (a city-run school)",
    )
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
