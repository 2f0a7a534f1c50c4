"""``GET /v1/reports/progress``: the monthly progress return as JSON, limited to the caller's region;
``GET /v1/reports/matching``: reviewers' decisions as labels, precision and suggested thresholds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gateway.auth.caller import Caller
from gateway.auth.dependencies import ContextDep, SessionDep, require_scope
from gateway.auth.scopes import Scope
from gateway.reports import matching, service
from gateway.reports.schemas import MatchingReport, ProgressReport

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
