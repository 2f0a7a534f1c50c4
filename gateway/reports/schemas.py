"""The figures of the monthly progress return, as served by ``GET /v1/reports/progress`` and written
by ``gateway report progress`` (one CSV row per region, same field names)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

BACKLOG_BUCKETS = ("0_7", "8_30", "31_90", "over_90")


class RegionFigures(BaseModel):
    """One region's figures for one month; the definitions are in ``gateway.reports.service``."""

    region: str = Field(description="region prefix (2, 4 or 6 digits), or CN for the whole country")
    name: str | None = Field(default=None, description="GB/T 2260 name of the region, when known")
    codes_temporary: int = Field(default=0, description="L codes issued in the month")
    codes_formal_g: int = Field(default=0, description="G codes issued in the month")
    codes_formal_j: int = Field(default=0, description="J codes issued in the month")
    promotions: int = Field(default=0, description="L to G/J and J to G promotions in the month")
    verification_verified: int = Field(default=0, description="verification jobs finished verified")
    verification_failed: int = Field(default=0, description="verification jobs finished failed")
    verification_not_applicable: int = Field(
        default=0, description="verification jobs finished as not applicable (no checkable document)"
    )
    verification_pending: int = Field(default=0, description="verification jobs still queued at month end")
    problems_opened: int = Field(default=0, description="problem records opened in the month")
    problems_closed: int = Field(default=0, description="problem records resolved in the month")
    backlog_0_7: int = Field(default=0, description="problem records open at month end, 0-7 days old")
    backlog_8_30: int = Field(default=0, description="open at month end, 8-30 days old")
    backlog_31_90: int = Field(default=0, description="open at month end, 31-90 days old")
    backlog_over_90: int = Field(default=0, description="open at month end, more than 90 days old")
    duplicate_enrolments_filed: int = Field(
        default=0,
        description="children this region registered again while enrolled in another province, open",
    )
    duplicate_enrolments_held: int = Field(
        default=0, description="children of this region registered again in another province, open"
    )
    transfers_in: int = Field(default=0, description="cross-province transfers into the region")
    transfers_out: int = Field(default=0, description="cross-province transfers out of the region")

    @property
    def backlog_total(self) -> int:
        return self.backlog_0_7 + self.backlog_8_30 + self.backlog_31_90 + self.backlog_over_90

    @property
    def codes_formal(self) -> int:
        return self.codes_formal_g + self.codes_formal_j


FIGURE_FIELDS: tuple[str, ...] = tuple(n for n in RegionFigures.model_fields if n not in ("region", "name"))


class ProgressReport(BaseModel):
    month: str = Field(description="the reported month, YYYY-MM (China Standard Time)")
    region: str = Field(description="the region asked for: CN or a 2, 4 or 6-digit prefix")
    period_start: datetime = Field(description="first instant of the month (UTC+08:00)")
    period_end: datetime = Field(description="first instant after the month (UTC+08:00)")
    as_of: datetime = Field(
        description="the instant month-end figures are taken at: the period end, or now for the current month"
    )
    regions: list[RegionFigures] = Field(description="one row per region one level below `region`")
    total: RegionFigures = Field(description="the whole of `region`")


COMPLETENESS_FIELDS = ("id_number", "ethnicity", "household_region", "guardian_name", "school_code")


class UnitQuality(BaseModel):
    """One unit's data quality at an instant; the definitions are in ``gateway.reports.quality``."""

    unit: str = Field(description="region prefix (2, 4 or 6 digits), a school code, or the region asked for")
    name: str | None = Field(default=None, description="GB/T 2260 name of a region, when known")
    submitted: int = Field(description="active students registered by the instant")
    expected: int | None = Field(
        description="students expected from the school register's enrolment figures; null when unknown"
    )
    completion_rate: float | None = Field(description="submitted / expected; null when expected is unknown")
    completeness: dict[str, float | None] = Field(
        description="share of submitted records carrying each optional field: "
        + ", ".join(COMPLETENESS_FIELDS)
    )
    verified: int = Field(description="students whose identity the population register confirmed")
    verification_rate: float | None = Field(
        description="verified / (submitted - those without a checkable document); null with none to check"
    )
    wrong_id_open: int = Field(description="wrong-ID problem records open at the instant")
    wrong_id_rate: float | None = Field(description="wrong_id_open / submitted")
    duplicates_open: int = Field(description="duplicate problem records (all kinds) open at the instant")
    duplicate_rate: float | None = Field(description="duplicates_open / submitted")
    problems_open: int = Field(description="problem records of every kind open at the instant")
    problems_overdue: int = Field(description="open problem records older than the handling deadline")
    review_steps_overdue: int = Field(
        default=0,
        description="schools' submissions waiting for a review step (or a returned one for its "
        "correction) past the collection plan's deadline",
    )
    lag_rank: int | None = Field(
        default=None, description="1 for the unit lagging most (units of a report only; null for the total)"
    )


class QualityReport(BaseModel):
    region: str = Field(description="what was asked for: CN, a 2, 4 or 6-digit region, or a school code")
    unit_kind: str = Field(description="what the units are: province, city, county or school")
    day: str = Field(description="the day the figures are for, YYYY-MM-DD (China Standard Time)")
    as_of: datetime = Field(description="the instant the figures are taken at (UTC+08:00)")
    deadline_days: int = Field(description="a problem record open longer than this is overdue")
    units: list[UnitQuality] = Field(description="one row per unit, the most lagging first")
    total: UnitQuality = Field(description="the whole of `region`")


class PrecisionFigures(BaseModel):
    """Decided candidate pairs in one band or score bucket, and the share a reviewer found the same."""

    label: str = Field(description="a band (match, review) or a probability bucket such as [0.9, 0.95)")
    pairs: int = Field(description="candidate pairs a reviewer decided on")
    same: int = Field(description="of which the reviewer found the same person")
    precision: float | None = Field(description="same / pairs (null without pairs)")


class SuggestedThresholds(BaseModel):
    """Thresholds that would have met ``precision`` on the decided pairs (null: no suggestion)."""

    precision: float = Field(description="the auto-link precision asked for")
    match_probability: float | None = Field(
        description="lowest probability at which auto-linking every decided pair above it meets precision"
    )
    review_probability: float | None = Field(
        description="lowest probability at which a reviewer found a true pair"
    )


class MatchingReport(BaseModel):
    """``GET /v1/reports/matching``: reviewers' decisions as labels (``gateway.reports.matching``)."""

    decided_pairs: int
    bands: list[PrecisionFigures]
    buckets: list[PrecisionFigures]
    current_match_probability: float
    current_review_probability: float
    suggested: SuggestedThresholds
