"""HTTP edge of the school register: GET /v1/schools (a page of the schools inside the caller's
jurisdiction) and GET /v1/schools/{school_code} (one of them; outside it, 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from gateway.auth.caller import Caller
from gateway.auth.dependencies import SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.schools import service
from gateway.schools.levels import format_levels, grades_offered, parse_levels
from gateway.schools.models import School
from gateway.schools.schemas import SchoolOut, SchoolPage

router = APIRouter(tags=["schools"])

SchoolsReader = Annotated[Caller, Depends(require_scope(Scope.SCHOOLS_READ))]


def _school_out(school: School) -> SchoolOut:
    levels = parse_levels(school.levels)
    return SchoolOut(
        school_code=school.code,
        name=school.name,
        region=school.region,
        type=school.type,
        levels=format_levels(levels).split(";"),
        grades=sorted(grades_offered(levels)),
        enrolment=school.enrolment,
        run_by=school.run_by,
        active=school.active,
        updated_at=school.updated_at,
    )


@router.get("/v1/schools", response_model=SchoolPage)
def list_schools(
    caller: SchoolsReader,
    session: SessionDep,
    after: Annotated[
        str, Query(pattern=r"^\d{0,10}$", description="A school code; the page starts after it.")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SchoolPage:
    """The schools of the register inside the caller's jurisdiction, by code."""
    rows = service.list_schools(session, caller, after=after, limit=limit)
    return SchoolPage(
        schools=[_school_out(s) for s in rows], next_after=rows[-1].code if len(rows) == limit else None
    )


@router.get("/v1/schools/{school_code}", response_model=SchoolOut)
def get_school(
    caller: SchoolsReader,
    session: SessionDep,
    school_code: Annotated[str, Path(pattern=r"^\d{10}$")],
) -> SchoolOut:
    """One school of the register; a school outside the caller's jurisdiction answers 404."""
    return _school_out(service.get_school(session, caller, school_code))
