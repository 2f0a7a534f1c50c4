"""The state machine of a student's school status (学籍状态): which status change (学籍异动) may
happen from which status, and where it leads. Pure: plain values in, a transition or an
`IllegalTransition` out; the service applies it to a stored person."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class SchoolStatus(StrEnum):
    REGISTERED = "registered"
    IN_ATTENDANCE = "in_attendance"
    TRANSFERRED_OUT = "transferred_out"
    SUSPENDED = "suspended"
    GRADUATED = "graduated"
    COMPLETED = "completed"
    DROPPED_OUT = "dropped_out"
    DECEASED = "deceased"


class StatusEventType(StrEnum):
    ENROLLED = "enrolled"
    TRANSFERRED_OUT = "transferred_out"
    TRANSFERRED_IN = "transferred_in"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    REPEATED = "repeated"
    SKIPPED = "skipped"
    PROMOTED = "promoted"
    GRADUATED = "graduated"
    COMPLETED = "completed"
    DROPPED_OUT = "dropped_out"
    DECEASED = "deceased"


@dataclass(frozen=True)
class Rule:
    """The statuses an event may start from and the status it leaves the student in."""

    allowed_from: frozenset[SchoolStatus]
    to: SchoolStatus


_S = SchoolStatus
_E = StatusEventType

RULES: Mapping[StatusEventType, Rule] = MappingProxyType(
    {
        # A later stage's enrolment (junior to senior secondary...) keeps the lifelong code, so a
        # graduate or a student who completed a stage can be enrolled again.
        _E.ENROLLED: Rule(frozenset({_S.REGISTERED, _S.GRADUATED, _S.COMPLETED}), _S.IN_ATTENDANCE),
        _E.TRANSFERRED_OUT: Rule(frozenset({_S.IN_ATTENDANCE, _S.SUSPENDED}), _S.TRANSFERRED_OUT),
        _E.TRANSFERRED_IN: Rule(frozenset({_S.TRANSFERRED_OUT}), _S.IN_ATTENDANCE),
        _E.SUSPENDED: Rule(frozenset({_S.IN_ATTENDANCE}), _S.SUSPENDED),
        _E.RESUMED: Rule(frozenset({_S.SUSPENDED}), _S.IN_ATTENDANCE),
        _E.REPEATED: Rule(frozenset({_S.IN_ATTENDANCE}), _S.IN_ATTENDANCE),
        _E.SKIPPED: Rule(frozenset({_S.IN_ATTENDANCE}), _S.IN_ATTENDANCE),
        _E.PROMOTED: Rule(frozenset({_S.IN_ATTENDANCE}), _S.IN_ATTENDANCE),
        # Only a student in normal attendance can graduate (or complete without graduating).
        _E.GRADUATED: Rule(frozenset({_S.IN_ATTENDANCE}), _S.GRADUATED),
        _E.COMPLETED: Rule(frozenset({_S.IN_ATTENDANCE}), _S.COMPLETED),
        _E.DROPPED_OUT: Rule(frozenset({_S.IN_ATTENDANCE, _S.SUSPENDED}), _S.DROPPED_OUT),
        _E.DECEASED: Rule(frozenset(set(_S) - {_S.DECEASED}), _S.DECEASED),
    }
)

# Events that move the student to another school; every other event leaves the holder unchanged.
SCHOOL_REQUIRED = frozenset({_E.TRANSFERRED_IN})
SCHOOL_ALLOWED = frozenset({_E.TRANSFERRED_IN, _E.ENROLLED})
# Events that name the school the student leaves for: only that school may then take them in.
DESTINATION_REQUIRED = frozenset({_E.TRANSFERRED_OUT})


@dataclass(frozen=True)
class Transition:
    event: StatusEventType
    from_status: SchoolStatus
    to_status: SchoolStatus


class IllegalTransition(ValueError):
    """An event that the student's current status does not allow."""

    def __init__(self, current: str, event: StatusEventType) -> None:
        self.current = current
        self.event = event
        self.allowed_from = tuple(sorted(RULES[event].allowed_from))
        super().__init__(
            f"a student in status {current} cannot be {event.value}; "
            f"{event.value} is allowed from: {', '.join(self.allowed_from)}"
        )


def transition(current: str, event: StatusEventType) -> Transition:
    """The transition ``event`` makes from ``current``; `IllegalTransition` when it is not allowed.

    An unknown stored status (data from before this machine existed) allows nothing but is reported
    the same way, so a bad row can never be moved silently.
    """
    rule = RULES[event]
    try:
        status = SchoolStatus(current)
    except ValueError:
        raise IllegalTransition(current, event) from None
    if status not in rule.allowed_from:
        raise IllegalTransition(current, event)
    return Transition(event, status, rule.to)


def allowed_events(current: str) -> tuple[StatusEventType, ...]:
    """The events a student in ``current`` may undergo, in declaration order."""
    return tuple(event for event, rule in RULES.items() if current in rule.allowed_from)
