"""What the batch endpoints answer: the acceptance of a submitted file and a batch's progress."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.clock import UtcDateTime


class BatchAccepted(BaseModel):
    id: str
    status: str = Field(description="queued, running or done")
    total_rows: int
    error_rows: int = Field(description="rows refused already because their line could not be read")
    status_url: str
    rows_per_second: float | None = Field(
        default=None, description="rows done per second by the current (or last) run"
    )
    eta_seconds: float | None = Field(
        default=None, description="seconds the current run should still take at its rate; none when done"
    )
    results_url: str


class BatchStatus(BaseModel):
    id: str
    status: str = Field(description="queued, running or done")
    format: str
    total_rows: int
    done_rows: int
    progress: float = Field(description="share of rows done, 0 to 1")
    counts: dict[str, int] = Field(
        description=(
            "done rows per outcome: issued, existing, review_required, held_elsewhere, rejected, "
            "forbidden, error"
        )
    )
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    rows_per_second: float | None = Field(
        default=None, description="rows done per second by the current (or last) run"
    )
    eta_seconds: float | None = Field(
        default=None, description="seconds the current run should still take at its rate; none when done"
    )
    results_url: str
