"""The status state machine, every event from every status, against a table written out by hand."""

from __future__ import annotations

import pytest

from gateway.students.statemachine import (
    IllegalTransition,
    SchoolStatus,
    StatusEventType,
    allowed_events,
    transition,
)

STATUSES = [
    "registered",
    "in_attendance",
    "transferred_out",
    "suspended",
    "graduated",
    "completed",
    "dropped_out",
    "deceased",
]

# event -> (statuses it may start from, status it leads to), transcribed from the workflow rules.
EXPECTED = {
    "enrolled": ({"registered", "graduated", "completed"}, "in_attendance"),
    "transferred_out": ({"in_attendance", "suspended"}, "transferred_out"),
    "transferred_in": ({"transferred_out"}, "in_attendance"),
    "suspended": ({"in_attendance"}, "suspended"),
    "resumed": ({"suspended"}, "in_attendance"),
    "repeated": ({"in_attendance"}, "in_attendance"),
    "skipped": ({"in_attendance"}, "in_attendance"),
    "promoted": ({"in_attendance"}, "in_attendance"),
    "graduated": ({"in_attendance"}, "graduated"),
    "completed": ({"in_attendance"}, "completed"),
    "dropped_out": ({"in_attendance", "suspended"}, "dropped_out"),
    "deceased": (set(STATUSES) - {"deceased"}, "deceased"),
}


def test_the_enumerations_are_exactly_the_documented_ones() -> None:
    assert {s.value for s in SchoolStatus} == set(STATUSES)
    assert {e.value for e in StatusEventType} == set(EXPECTED)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("event", sorted(EXPECTED))
def test_every_event_from_every_status(status: str, event: str) -> None:
    allowed_from, to = EXPECTED[event]
    if status in allowed_from:
        step = transition(status, StatusEventType(event))
        assert (step.from_status.value, step.to_status.value) == (status, to)
    else:
        with pytest.raises(IllegalTransition) as refused:
            transition(status, StatusEventType(event))
        assert set(refused.value.allowed_from) == allowed_from
        message = str(refused.value)
        assert status in message and event in message
        assert all(s in message for s in allowed_from)


@pytest.mark.parametrize("status", STATUSES)
def test_allowed_events_lists_what_transition_accepts(status: str) -> None:
    expected = {event for event, (allowed_from, _) in EXPECTED.items() if status in allowed_from}
    assert {e.value for e in allowed_events(status)} == expected


def test_only_a_student_in_attendance_can_graduate() -> None:
    assert [s for s in STATUSES if StatusEventType.GRADUATED in allowed_events(s)] == ["in_attendance"]


def test_an_unknown_stored_status_allows_nothing() -> None:
    assert allowed_events("on_leave") == ()
    with pytest.raises(IllegalTransition):
        transition("on_leave", StatusEventType.DECEASED)
