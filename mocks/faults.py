"""Fault injection for the mock government systems.

A `FaultPlan` says how badly a mock behaves: latency (log-normal around a median), a rate of injected
faults drawn from a list of kinds, down windows and a daily quota. It is set at start-up (settings) and
replaced at runtime through `POST /_admin/faults`; a `FaultInjector` draws every decision from a
random generator seeded by the plan, so a test run is reproducible. The admin router also exposes
counters of what each mock received and injected.
"""

from __future__ import annotations

import hmac
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field


class FaultKind(StrEnum):
    """What an injected fault does to one request."""

    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    HTTP_429 = "http_429"
    TIMEOUT = "timeout"
    CONNECTION_DROP = "connection_drop"
    SERVER_FAULT = "server_fault"
    MALFORMED_REPLY = "malformed_reply"
    SCHEMA_VIOLATION = "schema_violation"
    QUOTA_EXHAUSTED = "quota_exhausted"
    # Faults inside a reply of several rows (the bulk operations; a single-query REST operation
    # ignores them): some rows answered "not this time, ask again", or one row out of contract.
    PARTIAL_FAILURE = "partial_failure"
    MALFORMED_ROW = "malformed_row"


TRANSIENT_KINDS = (
    FaultKind.HTTP_500,
    FaultKind.HTTP_503,
    FaultKind.HTTP_429,
    FaultKind.TIMEOUT,
    FaultKind.SERVER_FAULT,
)


class DownWindow(BaseModel):
    """A daily window (UTC) during which the mock answers 503; may wrap past midnight."""

    model_config = ConfigDict(frozen=True)

    start: time
    end: time

    def covers(self, moment: time) -> bool:
        """Whether `moment` falls in the window."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class FaultPlan(BaseModel):
    """How a mock misbehaves. The default plan is a perfect, instant service."""

    model_config = ConfigDict(frozen=True)

    seed: int = Field(default=0, description="Seed of the decisions, for reproducible runs.")
    latency_ms: float = Field(default=0.0, ge=0, description="Median added latency, milliseconds.")
    latency_sigma: float = Field(
        default=0.0, ge=0, description="Log-normal shape of the latency; 0 for a fixed latency."
    )
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Probability that a request gets a fault.")
    error_kinds: list[FaultKind] = Field(
        default_factory=lambda: [FaultKind.HTTP_503], description="Kinds a fault is drawn from, uniformly."
    )
    retry_after_seconds: int = Field(default=1, ge=0, description="Retry-After sent with 429 and 503.")
    timeout_seconds: float = Field(default=30.0, ge=0, description="How long a `timeout` fault stalls.")
    down: bool = Field(default=False, description="Answer every request with 503.")
    down_windows: list[DownWindow] = Field(default_factory=list, description="Daily down windows, UTC.")
    daily_quota: int | None = Field(default=None, ge=0, description="Requests served before quota errors.")


@dataclass(frozen=True)
class Decision:
    """What to do to one request."""

    latency_seconds: float
    fault: FaultKind | None
    down: bool
    quota_exhausted: bool
    variant: int

    def failed_rows(self, rows: int) -> frozenset[int]:
        """The rows (0-based) a `partial_failure` leaves unanswered: each with even odds, drawn from
        the decision's variant (so a seeded plan fails the same rows again), at least one."""
        if self.fault is not FaultKind.PARTIAL_FAILURE or rows == 0:
            return frozenset()
        draw = random.Random(self.variant)
        failed = {row for row in range(rows) if draw.random() < 0.5}
        return frozenset(failed or {self.variant % rows})

    def malformed_row(self, rows: int) -> int | None:
        """The row (0-based) a `malformed_row` fault breaks, or None."""
        if self.fault is not FaultKind.MALFORMED_ROW or rows == 0:
            return None
        return self.variant % rows


class FaultInjector:
    """Draws a reproducible `Decision` per request from the current plan; thread safe."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self.set_plan(plan or FaultPlan())

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        return self._plan

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the plan; resets the generator, the counters and the quota."""
        with self._lock:
            self._plan = plan
            self._rng = random.Random(plan.seed)
            self.counts: Counter[str] = Counter()

    def decide(self, now: datetime | None = None) -> Decision:
        """Decide the fate of the next request."""
        moment = (now or datetime.now(UTC)).time()
        with self._lock:
            plan = self._plan
            self.counts["requests"] += 1
            latency = plan.latency_ms / 1000
            if plan.latency_sigma > 0 and latency > 0:
                latency = math.exp(self._rng.gauss(math.log(latency), plan.latency_sigma))
            down = plan.down or any(window.covers(moment) for window in plan.down_windows)
            quota = plan.daily_quota is not None and self.counts["served"] >= plan.daily_quota
            fault: FaultKind | None = None
            if not down and plan.error_kinds and self._rng.random() < plan.error_rate:
                fault = self._rng.choice(plan.error_kinds)
            variant = self._rng.randrange(1 << 16)
            if down:
                self.counts["down"] += 1
            elif quota:
                self.counts["quota_exhausted"] += 1
            elif fault is not None:
                self.counts[f"fault:{fault.value}"] += 1
            if not down and not quota and fault not in TRANSIENT_KINDS:
                self.counts["served"] += 1
            return Decision(latency, fault, down, quota, variant)

    def snapshot(self) -> dict[str, int]:
        """Counters: requests, served, down, quota_exhausted, fault:<kind>."""
        with self._lock:
            return dict(self.counts)


def admin_router(injector: FaultInjector, admin_token: str | None) -> APIRouter:
    """`GET/POST /_admin/faults` to read or replace the plan, `GET /_admin/stats` for the counters.

    Each needs `Authorization: Bearer <admin token>`: anything that can reach a mock (a webhook
    target, another process on the machine) could otherwise take the "government systems" down or
    read what was asked of them. Without a token the admin endpoints refuse everyone."""

    def require_admin(authorization: Annotated[str, Header()] = "") -> None:
        scheme, _, presented = authorization.partition(" ")
        if (
            admin_token is None
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(presented.strip().encode(), admin_token.encode())
        ):
            raise HTTPException(401, "the admin endpoints need the mocks' admin token as a bearer token")

    router = APIRouter(prefix="/_admin", tags=["admin"], dependencies=[Depends(require_admin)])

    @router.get("/faults")
    def read_plan() -> FaultPlan:
        return injector.plan

    @router.post("/faults")
    def replace_plan(plan: FaultPlan) -> FaultPlan:
        injector.set_plan(plan)
        return injector.plan

    @router.get("/stats")
    def read_stats() -> dict[str, int]:
        return injector.snapshot()

    return router


@dataclass(frozen=True)
class MockApp:
    """What every mock starts from: its app with the admin endpoints, its injector, its licences."""

    app: FastAPI
    injector: FaultInjector
    licences: frozenset[str]


def new_mock_app(
    title: str,
    faults: FaultPlan | FaultInjector | None,
    licences: frozenset[str] | None,
    admin_token: str | None = None,
) -> MockApp:
    injector = faults if isinstance(faults, FaultInjector) else FaultInjector(faults)
    app = FastAPI(title=title, docs_url=None, redoc_url=None)
    app.include_router(admin_router(injector, admin_token))
    app.state.injector = injector
    return MockApp(app, injector, licences if licences is not None else frozenset({"demo-licence"}))
