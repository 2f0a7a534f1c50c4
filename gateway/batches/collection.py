"""The collection workflow: a school's submission reviewed level by level before any row runs.

A batch submitted by a named entry clerk (``StaffRole.ENTRY_CLERK``) is stored ``held``: its rows
wait, unrun, while the submission goes ``submitted -> school_checked -> county_reviewed ->
(city_reviewed, for a city-run school) -> accepted``. Each step is taken by a named person of the
level that step belongs to, inside whose jurisdiction the school lies; a rejection (with a reason for
the whole submission, or per row) returns it to the school (``rejected``), whose clerk corrects the
file and submits it again naming the returned one (``replaces``): the correction goes through every
level again. Only acceptance queues the batch, which then runs through the set-based ``run_batch``
like any other, so only accepted submissions allocate codes. A batch submitted by anyone else (an API
client acting for itself, ``gateway import``) runs at once, as before. Deadlines per step come from
the collection plan (a province's, or a city's narrower one); a step past its deadline is overdue.
Why this shape: docs/adr/019-collection-review-levels.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth import repository as staff_repository
from gateway.auth.caller import Caller
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import StaffRole
from gateway.batches import repository
from gateway.batches.models import Batch, BatchReview, CollectionPlanStep
from gateway.batches.schemas import ReviewOut, RowReasonOut, SubmissionOut
from gateway.clock import as_utc, utcnow
from gateway.db import session_scope
from gateway.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from gateway.privacy import mask_id_numbers
from gateway.schools.service import SchoolRegister

NOT_FOUND = "no such submission"
MAX_PLAN_DAYS = 365


class ReviewStep(StrEnum):
    """Where a submission rests: the last step taken (``rejected``: returned to the school;
    ``resubmitted``: returned, and its correction submitted)."""

    SUBMITTED = "submitted"
    SCHOOL_CHECKED = "school_checked"
    COUNTY_REVIEWED = "county_reviewed"
    CITY_REVIEWED = "city_reviewed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RESUBMITTED = "resubmitted"


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


# Who takes each step. ``submitted`` is the school's clerk's: a returned submission waits for its
# correction, which the clerk submits (so it may be overdue too).
TAKEN_BY: dict[ReviewStep, StaffRole] = {
    ReviewStep.SUBMITTED: StaffRole.ENTRY_CLERK,
    ReviewStep.SCHOOL_CHECKED: StaffRole.SCHOOL_REVIEWER,
    ReviewStep.COUNTY_REVIEWED: StaffRole.COUNTY_REVIEWER,
    ReviewStep.CITY_REVIEWED: StaffRole.CITY_REVIEWER,
}
# The named people who take a review step (the clerk's step is a resubmission, not a decision).
REVIEWING_ROLES = frozenset({StaffRole.SCHOOL_REVIEWER, StaffRole.COUNTY_REVIEWER, StaffRole.CITY_REVIEWER})
# The steps a collection plan may give deadlines to.
PLANNED_STEPS = tuple(TAKEN_BY)
# Where a submission may rest while something is still to be done with it.
WAITING = (
    ReviewStep.SUBMITTED,
    ReviewStep.SCHOOL_CHECKED,
    ReviewStep.COUNTY_REVIEWED,
    ReviewStep.REJECTED,
)


def next_step(at: ReviewStep, city_run: bool) -> ReviewStep | None:
    """The step a submission resting at ``at`` waits for; None when nothing is left to do. Pure."""
    if at is ReviewStep.SUBMITTED:
        return ReviewStep.SCHOOL_CHECKED
    if at is ReviewStep.SCHOOL_CHECKED:
        return ReviewStep.COUNTY_REVIEWED
    if at is ReviewStep.COUNTY_REVIEWED and city_run:
        return ReviewStep.CITY_REVIEWED
    if at is ReviewStep.REJECTED:
        return ReviewStep.SUBMITTED
    return None


def is_final(step: ReviewStep, city_run: bool) -> bool:
    """Whether accepting ``step`` accepts the submission (the last level for its school)."""
    return step is (ReviewStep.CITY_REVIEWED if city_run else ReviewStep.COUNTY_REVIEWED)


def under_workflow(caller: Caller) -> bool:
    """Whether a batch this caller submits is a school's submission, reviewed before it runs: a named
    entry clerk's. Everyone else's batch runs at once (ADR 019)."""
    return caller.staff_role is StaffRole.ENTRY_CLERK


# --- submission ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmittingSchool:
    code: str
    region: str
    city_run: bool


def submitting_school(
    session: Session, caller: Caller, school_codes: set[str], school_regions: set[str]
) -> SubmittingSchool:
    """The one school a clerk's submission is for: every readable row names it, it lies inside the
    clerk's jurisdiction, and the register places it (an empty register: the rows' region, county-run).
    Otherwise a refusal naming ``school_code``."""
    codes = sorted(school_codes)
    if not codes and caller.jurisdiction.is_school:
        # Not one row could be read: still the clerk's school's submission, for its checker to return.
        codes = [caller.jurisdiction.value]
    if len(codes) != 1:
        found = ", ".join(codes) if codes else "none"
        raise InvalidInput(
            errors=[
                FieldError(
                    "school_code",
                    "one_school_per_submission",
                    f"a submission is one school's: its rows must all name the same school (found {found})",
                )
            ]
        )
    code = codes[0]
    register = SchoolRegister.load(session, [code])
    facts = register.get(code)
    if facts is not None:
        region, city_run = facts.region, facts.run_by == "city"
    elif register.empty and len(school_regions) == 1 and len(next(iter(school_regions))) == 6:
        region, city_run = next(iter(school_regions)), False
    else:
        raise InvalidInput(
            errors=[
                FieldError(
                    "school_code",
                    "unknown_school",
                    f"school {code} is not in the school register; ask the county to add it",
                )
            ]
        )
    if not caller.jurisdiction.covers(region, code):
        raise InvalidInput(
            errors=[
                FieldError(
                    "school_code", "outside_jurisdiction", f"school {code} lies outside your jurisdiction"
                )
            ]
        )
    return SubmittingSchool(code, region, city_run)


def take_up_returned(session: Session, caller: Caller, replaces: str, school: SubmittingSchool) -> None:
    """Mark the returned submission a correction replaces as resubmitted; a refusal naming
    ``replaces`` unless it is a rejected submission of the same school."""
    returned = repository.get_batch(session, replaces, for_update=True)
    if (
        returned is None
        or returned.review_step != ReviewStep.REJECTED
        or returned.school_code != school.code
        or not caller.jurisdiction.covers(returned.school_region, returned.school_code)
    ):
        raise InvalidInput(
            errors=[
                FieldError(
                    "replaces",
                    "not_returned",
                    "replaces must name a submission of the same school that was returned to it",
                )
            ]
        )
    returned.review_step = ReviewStep.RESUBMITTED
    returned.step_at = utcnow()
    session.add(returned)


def refuse_replaces_outside_workflow() -> InvalidInput:
    return InvalidInput(
        errors=[
            FieldError(
                "replaces",
                "not_under_review",
                "only an entry clerk's submission, reviewed before it runs, corrects a returned one",
            )
        ]
    )


# --- deadlines -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The collection plan that applies to one region: days per step, the narrowest region's entry
    winning (a city may shorten or lengthen its province's)."""

    days: dict[ReviewStep, int]

    def due(self, step: ReviewStep, since: datetime | None) -> datetime | None:
        days = self.days.get(step)
        if days is None or since is None:
            return None
        return as_utc(since) + timedelta(days=days)


def _prefixes(region: str) -> list[str]:
    return [region[:n] for n in (2, 4, 6) if len(region) >= n]


class Plans:
    """The plans of many regions, read in one query."""

    def __init__(self, entries: Sequence[CollectionPlanStep]) -> None:
        self.entries = {(e.region, e.step): e.days for e in entries}

    @classmethod
    def load(cls, session: Session, regions: Sequence[str]) -> Plans:
        prefixes = sorted({p for r in regions for p in _prefixes(r)})
        return cls(repository.plan_steps(session, prefixes))

    def for_region(self, region: str) -> Plan:
        days: dict[ReviewStep, int] = {}
        for prefix in _prefixes(region):  # widest first: the narrowest entry wins
            for step in PLANNED_STEPS:
                if (prefix, step.value) in self.entries:
                    days[step] = self.entries[(prefix, step.value)]
        return Plan(days)


def set_plan_step(session: Session, *, region: str, step: str, days: int, actor: str) -> CollectionPlanStep:
    """Set (or change) how many days ``step`` may take in ``region`` (a province or city prefix)."""
    errors: list[FieldError] = []
    try:
        place = Jurisdiction.parse(region)
    except ValueError as exc:
        errors.append(FieldError("region", "invalid", str(exc)))
        place = None
    if place is not None and (place.is_country or place.is_school):
        errors.append(FieldError("region", "invalid", "a plan is a province's (2 digits) or a city's (4)"))
    if step not in {s.value for s in PLANNED_STEPS}:
        errors.append(
            FieldError("step", "invalid", f"step must be one of {', '.join(s.value for s in PLANNED_STEPS)}")
        )
    if not 1 <= days <= MAX_PLAN_DAYS:
        errors.append(FieldError("days", "invalid", f"days must be 1-{MAX_PLAN_DAYS}"))
    if errors:
        raise InvalidInput(errors=errors)
    assert place is not None
    entry = repository.plan_step(session, place.value, step)
    if entry is None:
        entry = CollectionPlanStep(region=place.value, step=step, days=days, updated_at=utcnow())
    else:
        entry.days, entry.updated_at = days, utcnow()
    repository.save_plan_step(session, entry)
    audit.record(
        session,
        action="collection.plan",
        actor=actor,
        object_type="collection_plan",
        object_ref=f"{place.value}/{step}={days}d",
    )
    return entry


# --- reviewing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowReason:
    row_number: int
    reason: str


@dataclass(frozen=True)
class ReviewEntry:
    step: str
    decision: str
    staff_id: str
    staff_role: str
    reason: str | None
    rows: list[RowReason]
    decided_at: datetime


@dataclass(frozen=True)
class Submission:
    """A submission as its reviewers see it."""

    batch_id: str
    school_code: str
    school_region: str
    city_run: bool
    step: ReviewStep
    waiting_for: ReviewStep | None
    taken_by: StaffRole | None
    step_at: datetime | None
    due_at: datetime | None
    overdue: bool
    total_rows: int
    replaces: str | None
    submitted_by: str | None
    reviews: list[ReviewEntry]

    @property
    def accepted(self) -> bool:
        return self.step is ReviewStep.ACCEPTED


def _entry(review: BatchReview) -> ReviewEntry:
    """A stored review as shown: an ID number a reviewer typed into a reason is shown masked (it is
    stored sealed; the row number already says which record is meant)."""
    rows = [
        RowReason(int(r["row_number"]), mask_id_numbers(str(r["reason"])))
        for r in json.loads(review.rows_json or "[]")
    ]
    return ReviewEntry(
        review.step,
        review.decision,
        review.staff_id,
        review.staff_role,
        mask_id_numbers(review.reason) if review.reason else None,
        rows,
        review.decided_at,
    )


def _submissions(session: Session, batches: Sequence[Batch], plans: Plans, now: datetime) -> list[Submission]:
    reviews: dict[str, list[ReviewEntry]] = {}
    for review in repository.reviews_of(session, [b.id for b in batches]):
        reviews.setdefault(review.batch_id, []).append(_entry(review))
    out = []
    for batch in batches:
        assert batch.review_step is not None and batch.school_code and batch.school_region
        step = ReviewStep(batch.review_step)
        city_run = bool(batch.city_run)
        waiting = next_step(step, city_run)
        due = plans.for_region(batch.school_region).due(waiting, batch.step_at) if waiting else None
        out.append(
            Submission(
                batch_id=batch.id,
                school_code=batch.school_code,
                school_region=batch.school_region,
                city_run=city_run,
                step=step,
                waiting_for=waiting,
                taken_by=TAKEN_BY[waiting] if waiting else None,
                step_at=as_utc(batch.step_at) if batch.step_at else None,
                due_at=due,
                overdue=due is not None and as_utc(now) > due,
                total_rows=batch.total_rows,
                replaces=batch.replaces,
                submitted_by=batch.acting_user,
                reviews=reviews.get(batch.id, []),
            )
        )
    return out


def _visible(caller: Caller, batch: Batch | None) -> Batch:
    """The submission if it is one and its school lies in the caller's jurisdiction; else not found."""
    if (
        batch is None
        or batch.review_step is None
        or not caller.jurisdiction.covers(batch.school_region, batch.school_code)
    ):
        raise NotFound(NOT_FOUND)
    return batch


def submission(session: Session, caller: Caller, batch_id: str, now: datetime | None = None) -> Submission:
    batch = _visible(caller, repository.get_batch(session, batch_id))
    assert batch.school_region is not None
    return _submissions(session, [batch], Plans.load(session, [batch.school_region]), now or utcnow())[0]


def review_of_batch(session: Session, batch: Batch) -> Submission | None:
    """A batch's review state for its submitter's status page; None for a batch outside the workflow."""
    if batch.review_step is None or batch.school_region is None:
        return None
    return _submissions(session, [batch], Plans.load(session, [batch.school_region]), utcnow())[0]


def decide(
    session: Session,
    caller: Caller,
    batch_id: str,
    *,
    decision: Decision,
    reason: str | None,
    rows: Sequence[RowReason],
    now: datetime | None = None,
) -> Submission:
    """Take the step a submission waits for: accept it (up one level, or accepted and queued to run at
    the last) or reject it back to the school with a reason for the whole or per row. Only a named
    person of the step's level may, inside whose jurisdiction the school lies: outside it the
    submission answers as if it did not exist (404); inside, another level is refused (403)."""
    now = now or utcnow()
    batch = _visible(caller, repository.get_batch(session, batch_id, for_update=True))
    at = ReviewStep(str(batch.review_step))
    city_run = bool(batch.city_run)
    step = next_step(at, city_run)
    if step is None or step is ReviewStep.SUBMITTED:
        raise Conflict(
            f"this submission is {at.value}; nothing waits for a review"
            + (" (the school corrects it and submits it again, naming it in replaces)" if step else "")
        )
    taker = TAKEN_BY[step]
    if caller.staff_role is not taker:
        raise Forbidden(
            f"this submission waits for {step.value}, taken by a named {taker.value}; "
            f"{'you act as ' + caller.staff_role.value if caller.staff_role else 'no named person acts'}"
        )
    errors: list[FieldError] = []
    if decision is Decision.ACCEPT and rows:
        errors.append(FieldError("rows", "not_allowed", "an acceptance carries no row reasons"))
    if decision is Decision.REJECT and not (reason and reason.strip()) and not rows:
        errors.append(
            FieldError("reason", "missing", "a rejection needs a reason, for the submission or per row")
        )
    numbers = [r.row_number for r in rows]
    known = repository.existing_row_numbers(session, batch.id, numbers)
    for index, row in enumerate(rows):
        if row.row_number not in known:
            errors.append(
                FieldError(
                    f"rows[{index}].row_number", "unknown_row", f"the submission has no row {row.row_number}"
                )
            )
        if not row.reason.strip():
            errors.append(FieldError(f"rows[{index}].reason", "missing", "each row needs its reason"))
    if len(set(numbers)) != len(numbers):
        errors.append(FieldError("rows", "duplicate", "each row may be named once"))
    if errors:
        raise InvalidInput(errors=errors)
    assert caller.acting_user is not None and caller.staff_role is not None
    repository.add_review(
        session,
        BatchReview(
            batch_id=batch.id,
            step=step.value,
            decision=decision.value,
            staff_id=caller.acting_user,
            staff_role=caller.staff_role.value,
            reason=reason.strip() if reason and reason.strip() else None,
            rows_json=json.dumps(
                [{"row_number": r.row_number, "reason": r.reason} for r in rows], ensure_ascii=False
            )
            if rows
            else None,
            decided_at=now,
        ),
    )
    if decision is Decision.REJECT:
        batch.review_step = ReviewStep.REJECTED
    elif is_final(step, city_run):
        batch.review_step = ReviewStep.ACCEPTED
        batch.status = "queued"  # now it runs, through the set-based run_batch
    else:
        batch.review_step = step
    batch.step_at = now
    session.add(batch)
    audit.record(
        session,
        action=f"collection.{decision.value}",
        caller=caller,
        object_type="batch",
        object_ref=f"{batch.id}/{step.value}",
        record_count=len(rows) or batch.total_rows,
        outcome=decision.value,
    )
    session.flush()
    return submission(session, caller, batch.id, now)


def queue(session: Session, caller: Caller, now: datetime | None = None) -> list[Submission]:
    """The submissions waiting for the caller's level inside their jurisdiction, the longest waiting
    first. A named reviewer sees those waiting for their own step; a caller acting for its client
    (supervision: a province's operator, a client without staff) sees every submission still waiting
    for anyone in its jurisdiction, returned ones included."""
    now = now or utcnow()
    mine = caller.jurisdiction
    batches = repository.submissions_at(
        session,
        region_prefix=mine.region_prefix,
        school_code=mine.value if mine.is_school else None,
        steps=[s.value for s in WAITING],
    )
    plans = Plans.load(session, sorted({b.school_region for b in batches if b.school_region}))
    waiting = _submissions(session, batches, plans, now)
    if caller.staff_role in REVIEWING_ROLES:
        waiting = [s for s in waiting if s.taken_by is caller.staff_role]
    audit.record(
        session,
        action="collection.queue",
        caller=caller,
        object_type="collection_queue",
        object_ref=mine.value,
        record_count=len(waiting),
    )
    return waiting


def overdue_by_unit(
    session: Session, *, region_prefix: str, school_code: str | None, child_len: int | None, now: datetime
) -> dict[str, int]:
    """Review steps overdue at ``now`` per unit (the child region of length ``child_len``, or the
    school when None), under a region prefix or of one school: submissions waiting for a step (a
    returned one, for its correction) past the plan's deadline."""
    batches = repository.submissions_at(
        session, region_prefix=region_prefix, school_code=school_code, steps=[s.value for s in WAITING]
    )
    plans = Plans.load(session, sorted({b.school_region for b in batches if b.school_region}))
    counts: dict[str, int] = {}
    for batch in batches:
        assert batch.review_step is not None and batch.school_region and batch.school_code
        waiting = next_step(ReviewStep(batch.review_step), bool(batch.city_run))
        due = plans.for_region(batch.school_region).due(waiting, batch.step_at) if waiting else None
        if due is not None and as_utc(now) > due:
            unit = batch.school_code if child_len is None else batch.school_region[:child_len]
            counts[unit] = counts.get(unit, 0) + 1
    return counts


def present(session: Session, submissions: Sequence[Submission]) -> list[SubmissionOut]:
    """Submissions as the API and the console show them, each review with the name of its person."""
    names: dict[str, str | None] = {}
    for sub in submissions:
        for review in sub.reviews:
            if review.staff_id not in names:
                person = staff_repository.get_staff(session, review.staff_id)
                names[review.staff_id] = person.name if person else None
    return [
        SubmissionOut(
            batch_id=s.batch_id,
            school_code=s.school_code,
            school_region=s.school_region,
            city_run=s.city_run,
            step=s.step.value,
            waiting_for=s.waiting_for.value if s.waiting_for else None,
            taken_by=s.taken_by.value if s.taken_by else None,
            step_at=s.step_at,
            due_at=s.due_at,
            overdue=s.overdue,
            total_rows=s.total_rows,
            replaces=s.replaces,
            submitted_by=s.submitted_by,
            reviews=[
                ReviewOut(
                    step=r.step,
                    decision=r.decision,
                    staff_id=r.staff_id,
                    staff_name=names.get(r.staff_id),
                    staff_role=r.staff_role,
                    reason=r.reason,
                    rows=[RowReasonOut(row_number=x.row_number, reason=x.reason) for x in r.rows],
                    decided_at=as_utc(r.decided_at),
                )
                for r in s.reviews
            ],
            status_url=f"/v1/batches/{s.batch_id}",
        )
        for s in submissions
    ]


def review_submission(
    engine: Engine,
    caller: Caller,
    batch_id: str,
    *,
    decision: Decision,
    reason: str | None,
    rows: Sequence[RowReason],
) -> SubmissionOut:
    """``decide`` in a transaction of its own, committed before it returns: an accepted submission is
    then queued for whoever runs it (this process's batch threads, the worker)."""
    with session_scope(engine) as session:
        decided = decide(session, caller, batch_id, decision=decision, reason=reason, rows=rows)
        return present(session, [decided])[0]
