"""``GET /v1/reports/progress`` (the monthly progress return), ``GET /v1/reports/quality`` (data
quality per unit) and ``GET /v1/reports/matching`` (reviewers' decisions as labels, precision and
suggested thresholds) as JSON, limited to the caller's jurisdiction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.reports import matching, service
from gateway.reports.quality import quality_for_caller
from gateway.reports.schemas import MatchingReport, ProgressReport, QualityReport

router = APIRouter(tags=["reports"])


@router.get("/v1/reports/progress", response_model=ProgressReport)
def progress(
    caller: Annotated[Caller, Depends(require_scope(Scope.REPORTS_READ))],
    session: SessionDep,
    month: Annotated[
        str,
        Query(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM, from 1900-01 to 2099-12"),
    ],
    region: Annotated[
        str | None, Query(pattern=r"^(CN|\d{2}|\d{4}|\d{6})$", description="default: your jurisdiction")
    ] = None,
) -> ProgressReport:
    """Figures per region one level below ``region`` for ``month``; same figures as the CLI writes."""
    return service.report_for_caller(session, caller, month, region)


@router.get("/v1/reports/quality", response_model=QualityReport)
def quality(
    caller: Annotated[Caller, Depends(require_scope(Scope.REPORTS_READ))],
    session: SessionDep,
    ctx: ContextDep,
    region: Annotated[
        str | None,
        Query(
            pattern=r"^(CN|\d{2}|\d{4}|\d{6}|\d{10})$",
            description="CN, a region prefix, or your own school's code; default: your jurisdiction",
        ),
    ] = None,
    date: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-\d{2}-\d{2}$", description="figures at the end of this day (CST); default: now"
        ),
    ] = None,
) -> QualityReport:
    """Data quality per unit one level below ``region`` (schools under a county), the most lagging
    first: submitted against expected, completeness per field, verification, wrong-ID and duplicate
    rates, problem records open and overdue."""
    return quality_for_caller(
        session, caller, region, day=date, deadline_days=ctx.settings.problem_deadline_days
    )


@router.get("/v1/reports/matching", response_model=MatchingReport)
def matching_report(
    caller: Annotated[Caller, Depends(require_scope(Scope.REPORTS_READ))],
    session: SessionDep,
    ctx: ContextDep,
    precision: Annotated[
        float, Query(gt=0, le=1, description="auto-link precision the suggested thresholds must meet")
    ] = 0.999,
) -> MatchingReport:
    """Precision per band and score bucket from the decided problem records in your jurisdiction, and
    the thresholds that would have met ``precision`` (they change only when an operator accepts them)."""
    return matching.matching_report(
        session, ctx.services.registry, caller.jurisdiction, precision, caller=caller
    )
