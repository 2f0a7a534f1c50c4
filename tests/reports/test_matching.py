"""The matching report: reviewers' decisions as labels, precision per band and bucket, and the
thresholds they suggest, checked against a hand-computed example and over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.audit.models import AuditEvent
from gateway.context import AppContext
from gateway.matching.config import Thresholds
from gateway.reports.matching import LabelledPair, matching_quality, suggest_thresholds
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.registrations import SCHOOL, post_registration


def _pair(probability: float, same: bool, band: str = "review", vetoed: bool = False) -> LabelledPair:
    return LabelledPair(probability=probability, band=band, vetoed=vetoed, same=same)


# Decided pairs, best first: T true, F false.
EXAMPLE = [
    _pair(0.999, True, "match", vetoed=True),  # kept from auto-linking by a hard rule: not in the match scan
    _pair(0.97, True),
    _pair(0.95, True),
    _pair(0.93, False),
    _pair(0.90, True),
    _pair(0.85, True),
    _pair(0.70, False),
    _pair(0.60, True),
    _pair(0.55, False),
]


def test_suggested_thresholds_match_a_hand_computed_example() -> None:
    # Precision of "auto-link at or above t" over the eight unvetoed pairs, by hand:
    #   t=0.97: 1/1   0.95: 2/2   0.93: 2/3   0.90: 3/4   0.85: 4/5   0.70: 4/6   0.60: 5/7   0.55: 5/8
    # at least 0.75: t = 0.90 (0.75) and 0.85 (0.80); the lowest is 0.85.
    suggested = suggest_thresholds(EXAMPLE, 0.75)
    assert suggested.match_probability == 0.85
    # The lowest score at which a reviewer found the same person: 0.60.
    assert suggested.review_probability == 0.60
    # At 0.9 only t=0.97 and 0.95 qualify; at 1.0 also just those; above every ratio, nothing.
    assert suggest_thresholds(EXAMPLE, 0.9).match_probability == 0.95
    assert suggest_thresholds(EXAMPLE, 1.0).match_probability == 0.95
    assert suggest_thresholds([_pair(0.9, False)], 0.5).match_probability is None
    assert suggest_thresholds([_pair(0.9, False)], 0.5).review_probability is None


def test_precision_per_band_and_bucket() -> None:
    current = Thresholds(match_probability=0.99, probable_probability=0.8, review_probability=0.5)
    report = matching_quality(EXAMPLE, 0.75, current)
    assert report.decided_pairs == 9
    bands = {b.label: (b.pairs, b.same) for b in report.bands}
    assert bands == {"match": (1, 1), "review": (8, 5)}
    buckets = {b.label: (b.pairs, b.same, b.precision) for b in report.buckets}
    assert buckets == {
        "[0.5, 0.8)": (3, 1, pytest.approx(1 / 3, abs=1e-6)),
        "[0.8, 0.9)": (1, 1, 1.0),
        "[0.9, 0.95)": (2, 1, 0.5),
        "[0.95, 0.99)": (2, 2, 1.0),
        "[0.99, 1]": (1, 1, 1.0),
    }
    assert report.current_match_probability == 0.99


CHILD = {
    "name": "王子涵",
    "gender": "1",
    "birth_date": "2016-09-01",
    "id_type": "none",
    "household_region": "410102",
    "guardian_name": "王建国",
    **SCHOOL,
}


def _review(api: TestClient, caller: ApiCaller, body: dict[str, Any], key: str) -> int:
    reply = post_registration(api, caller, body, key)
    assert reply.status_code == 202, reply.text
    problem_id: int = reply.json()["problem_id"]
    return problem_id


def test_report_reads_reviewers_decisions_over_http(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    assert post_registration(committed_api, province, CHILD, "first").status_code == 201
    # Two submissions a reviewer sees (review band): same guardian, another day; another guardian.
    same = _review(
        committed_api, province, {**CHILD, "birth_date": "2016-09-02", "guardian_name": "李梅"}, "s"
    )
    other = _review(committed_api, province, {**CHILD, "guardian_name": "李梅"}, "o")
    reviewer = register_caller(
        committed_api,
        committed_context.engine,
        role="reviewer",
        jurisdiction="410102",
        scopes="reviews:read reviews:write reports:read",
    )
    for problem_id, decision in ((same, "same_person"), (other, "different_persons")):
        reply = committed_api.post(
            f"/v1/reviews/{problem_id}/decision", json={"decision": decision}, headers=reviewer.headers
        )
        assert reply.status_code == 200, reply.text
    reply = committed_api.get("/v1/reports/matching?precision=0.5", headers=reviewer.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["decided_pairs"] == 2
    assert {b["label"]: (b["pairs"], b["same"]) for b in body["bands"]} == {"match": (0, 0), "review": (2, 1)}
    assert body["current_match_probability"] == 0.99
    assert body["suggested"]["review_probability"] is not None
    with Session(committed_context.engine) as session:
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "report.matching")).all()
        assert len(audits) == 1 and audits[0].record_count == 2
    # Another jurisdiction sees none of these decisions.
    elsewhere = register_caller(
        committed_api, committed_context.engine, role="reviewer", jurisdiction="410103", scopes="reports:read"
    )
    assert committed_api.get("/v1/reports/matching", headers=elsewhere.headers).json()["decided_pairs"] == 0
    bad = committed_api.get("/v1/reports/matching?precision=2", headers=reviewer.headers)
    assert bad.status_code == 422 and "precision" in bad.text
