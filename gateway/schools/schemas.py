"""Wire shapes of the school register's read endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.clock import UtcDateTime


class SchoolOut(BaseModel):
    school_code: str = Field(description="The 10-digit school identifier (学校标识码).")
    name: str
    region: str = Field(description="The school's GB/T 2260 county code.")
    type: str = Field(
        description="primary, junior, senior, nine_year, complete_secondary, special, work_study"
    )
    levels: list[str] = Field(
        description="Levels taught: primary (grades 1-6), junior (7-9), senior (10-12)."
    )
    grades: list[int] = Field(description="The grades the school teaches.")
    enrolment: int | None = Field(description="Students the school reports enrolled.")
    active: bool
    run_by: str = Field(description="Who runs the school: county (its county bureau) or city (city-run).")
    updated_at: UtcDateTime


class SchoolPage(BaseModel):
    schools: list[SchoolOut]
    next_after: str | None = Field(description="Pass as ``after`` for the next page; null on the last.")
