"""The collection workflow's rules in small: the steps, the plan's deadlines, who goes through the
levels and who does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from gateway.batches import service
from gateway.batches.collection import Plans, ReviewStep, is_final, next_step
from gateway.batches.models import Batch, CollectionPlanStep
from gateway.context import AppContext
from gateway.persons.models import Person
from tests.fixtures.api import register_caller
from tests.fixtures.batches import CHILDREN, count, to_csv
from tests.fixtures.schools import load_register
from tests.fixtures.staff import add_staff


def test_the_steps_a_submission_waits_for() -> None:
    for city_run in (False, True):
        assert next_step(ReviewStep.SUBMITTED, city_run) is ReviewStep.SCHOOL_CHECKED
        assert next_step(ReviewStep.SCHOOL_CHECKED, city_run) is ReviewStep.COUNTY_REVIEWED
        assert next_step(ReviewStep.REJECTED, city_run) is ReviewStep.SUBMITTED
        for done in (ReviewStep.ACCEPTED, ReviewStep.RESUBMITTED):
            assert next_step(done, city_run) is None
    assert next_step(ReviewStep.COUNTY_REVIEWED, True) is ReviewStep.CITY_REVIEWED
    assert next_step(ReviewStep.COUNTY_REVIEWED, False) is None
    assert is_final(ReviewStep.COUNTY_REVIEWED, False) and not is_final(ReviewStep.COUNTY_REVIEWED, True)
    assert is_final(ReviewStep.CITY_REVIEWED, True) and not is_final(ReviewStep.SCHOOL_CHECKED, False)


def _entry(region: str, step: str, days: int) -> CollectionPlanStep:
    return CollectionPlanStep(region=region, step=step, days=days, updated_at=datetime.now(UTC))


def test_the_narrowest_plan_sets_the_deadline() -> None:
    plans = Plans([_entry("41", "county_reviewed", 5), _entry("4101", "county_reviewed", 3)])
    since = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    assert plans.for_region("410102").due(ReviewStep.COUNTY_REVIEWED, since) == since + timedelta(days=3)
    assert plans.for_region("410202").due(ReviewStep.COUNTY_REVIEWED, since) == since + timedelta(days=5)
    assert plans.for_region("420102").due(ReviewStep.COUNTY_REVIEWED, since) is None
    assert plans.for_region("410102").due(ReviewStep.SCHOOL_CHECKED, since) is None


def test_only_a_clerks_batch_waits_for_review(batch_api: TestClient, committed_context: AppContext) -> None:
    engine = committed_context.engine
    load_register(engine)
    school_code = CHILDREN[0]["school_code"]
    school = register_caller(batch_api, engine, role="school", jurisdiction=school_code)
    clerk = add_staff(engine, school.client_id, "entry_clerk")
    text = to_csv(CHILDREN[:2]).encode()
    # The school's system acting for itself: runs at once, as before; it is no submission to review.
    direct = batch_api.post(
        "/v1/batches", content=text, headers={**school.headers, "Content-Type": "text/csv"}
    )
    assert (direct.json()["status"], direct.json()["review_step"]) == ("queued", None)
    assert service.run_batch(engine, committed_context.services.registry, direct.json()["id"]).finished
    assert count(committed_context, Person) == 2
    county = register_caller(batch_api, engine, role="county", jurisdiction="410102")
    reviewer = add_staff(engine, county.client_id, "county_reviewer")
    not_one = batch_api.post(
        f"/v1/batches/{direct.json()['id']}/reviews",
        json={"decision": "accept"},
        headers=reviewer.headers(county),
    )
    assert not_one.status_code == 404
    # ``replaces`` belongs to a clerk's correction of a returned submission.
    refused = batch_api.post(
        f"/v1/batches?replaces={direct.json()['id']}",
        content=text,
        headers={**school.headers, "Content-Type": "text/csv"},
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "replaces"
    not_returned = batch_api.post(
        f"/v1/batches?replaces={direct.json()['id']}",
        content=text,
        headers={**clerk.headers(school), "Content-Type": "text/csv"},
    )
    assert not_returned.status_code == 422 and not_returned.json()["errors"][0]["field"] == "replaces"
    # A clerk's file naming two schools is no one school's submission; nothing is stored.
    stored = count(committed_context, Batch)
    two = to_csv([CHILDREN[2], {**CHILDREN[3], "school_code": "4101020002"}]).encode()
    mixed = batch_api.post(
        "/v1/batches", content=two, headers={**clerk.headers(school), "Content-Type": "text/csv"}
    )
    assert mixed.status_code == 422 and mixed.json()["errors"][0]["code"] == "one_school_per_submission"
    assert count(committed_context, Batch) == stored
    held = batch_api.post(
        "/v1/batches",
        content=to_csv(CHILDREN[2:4]).encode(),
        headers={**clerk.headers(school), "Content-Type": "text/csv"},
    )
    assert (held.json()["status"], held.json()["review_step"]) == ("held", "submitted")
    # Held batches are not picked up by whoever resumes unfinished batches (start-up, the worker).
    reports = service.resume_unfinished(engine, committed_context.services.registry)
    assert [r.batch_id for r in reports] == []
    assert count(committed_context, Person) == 2
