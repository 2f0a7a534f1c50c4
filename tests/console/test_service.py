"""The console's page models: the field-by-field comparison, the queue's ages and the SVG charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.console import service
from gateway.registry.models import ProblemRecord
from gateway.registry.schemas import PersonView, ProblemDetail
from gateway.reports.schemas import RegionFigures

NOW = datetime(2026, 9, 30, 12, tzinfo=UTC)


def _person(person_id: int, **changes: str | None) -> PersonView:
    values: dict[str, object] = {
        "person_id": person_id,
        "code": "G410102201609010015",
        "code_type": "G",
        "status": "active",
        "name": "王子涵",
        "gender": "1",
        "birth_date": "2016-09-01",
        "id_type": "resident_id",
        "id_number_masked": "410102********0015",
        "household_region": "410102",
        "guardian_name": "王建国",
        "school_code": "4101020001",
        "region": "410102",
        "verification_status": "verified",
    }
    values.update(changes)
    return PersonView.model_validate(values)


def _detail(**values: object) -> ProblemDetail:
    base: dict[str, object] = {
        "id": 7,
        "type": "possible_duplicate",
        "status": "open",
        "region": "410102",
        "school_code": "4101020001",
        "candidate_count": 1,
        "opened_at": NOW,
        "decided_at": None,
        "decision": None,
        "subject": None,
        "submitted": None,
        "candidates": [],
        "explanation": None,
        "decision_note": None,
        "result_code": None,
        "merge_id": None,
    }
    base.update(values)
    return ProblemDetail.model_validate(base)


def test_candidates_are_compared_field_by_field_with_the_subject() -> None:
    subject = _person(1)
    twin = _person(2, name="王梓涵", guardian_name=None, code="L41010220160901" + "1234")
    explanation = [{"person_id": 2, "probability": 0.93, "band": "review", "grade": "probable", "fields": []}]
    comparison = service.build_comparison(
        _detail(subject=subject, candidates=[twin], explanation=explanation)
    )
    by_label = dict(zip(comparison.labels, comparison.candidates[0].cells, strict=True))
    assert by_label["name"].agreement == "different"
    assert by_label["gender"].agreement == "same"
    assert by_label["guardian_name"].agreement == "missing"
    assert comparison.candidates[0].explanation == explanation[0]
    assert [(c.kind, c.person_id) for c in comparison.survivor_choices] == [("subject", 1), ("candidate", 2)]


def test_g_codes_are_shown_masked_like_the_id_number_they_carry() -> None:
    comparison = service.build_comparison(_detail(subject=_person(1), candidates=[_person(2)]))
    code_cell = comparison.reference.cells[comparison.labels.index("code")]
    assert code_cell.value == "G410102********0015"


def test_a_submitted_record_is_the_reference_when_there_is_one() -> None:
    submitted = {"name": "王子涵", "gender": "2", "id_number": None, "school_region": "410102"}
    comparison = service.build_comparison(_detail(submitted=submitted, candidates=[_person(3)]))
    assert comparison.reference.kind == "submitted" and comparison.reference.person_id is None
    cells = dict(zip(comparison.labels, comparison.candidates[0].cells, strict=True))
    assert (cells["gender"].agreement, cells["region"].agreement) == ("different", "same")
    assert [(c.kind, c.person_id) for c in comparison.survivor_choices] == [("candidate", 3)]


def test_a_verification_problem_shows_its_reason_instead_of_a_matcher() -> None:
    comparison = service.build_comparison(_detail(subject=_person(1), explanation={"reason": "not_found"}))
    assert comparison.problem_note == "reason: not_found" and comparison.candidates == []


def test_queue_ages_and_the_age_filter() -> None:
    def problem(pid: int, days: int) -> ProblemRecord:
        return ProblemRecord(
            id=pid,
            type="wrong_id",
            region="410102",
            opened_at=NOW - timedelta(days=days, hours=1),
            opened_by="t",
        )

    problems = [problem(1, 2), problem(2, 10), problem(3, 40)]
    everything = service.build_queue(problems, {"open": 3}, NOW, None)
    assert [r.age_days for r in everything.rows] == [2, 10, 40]
    older = service.build_queue(problems, {"open": 3}, NOW, 7)
    assert [r.id for r in older.rows] == [2, 3] and older.by_type == {"wrong_id": 2}


def test_bars_are_scaled_to_the_largest_value() -> None:
    chart = service.bar_chart("k", "t", [("a", 5), ("b", 10), ("c", 0)], bar_area=200)
    assert [b.width for b in chart.bars] == [100, 200, 0]
    assert chart.bars[1].y > chart.bars[0].y and chart.height > chart.bars[-1].y
    empty = service.bar_chart("k", "t", [("a", 0)])
    assert empty.bars[0].width == 0


def test_dashboard_charts_carry_the_report_figures() -> None:
    charts = service.dashboard_charts(RegionFigures(region="410102", problems_opened=4, backlog_over_90=2))
    values = {c.key: {b.label: b.value for b in c.bars} for c in charts}
    assert values["problems"] == {"bar.opened": 4, "bar.closed": 0}
    assert values["backlog"]["bar.over_90"] == 2


def test_month_picker_crosses_the_year() -> None:
    assert service.previous_months("2026-02", 3) == ["2026-02", "2026-01", "2025-12"]
