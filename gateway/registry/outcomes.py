"""The outcomes of a registration, as typed values (no HTTP here).

A registration ends in exactly one of these. The route turns them into a status and a body; a batch
row records them; the idempotency record keeps them as JSON (``to_json``) and a replay reads them
back (``from_json``), including answers stored before the outcomes were typed (the same keys).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

from gateway.verdicts import VerdictOutcome


@dataclass(frozen=True)
class Existing:
    """The child is already registered, inside the caller's jurisdiction: their code (masked
    unless the registrant sent the ID number it carries)."""

    kind: ClassVar[Literal["existing"]] = "existing"
    code: str | None
    code_type: str


@dataclass(frozen=True)
class Issued:
    """A new person: the code issued (promoted at once when verified), and what verification said."""

    kind: ClassVar[Literal["issued"]] = "issued"
    code: str | None
    code_type: str
    verification: VerdictOutcome
    promoted_from: str | None = None
    problem_id: int | None = None  # a wrong-ID problem record, when verification failed
    warnings: list[dict[str, str]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewRequired:
    """Possibly someone already registered: a problem record for a reviewer; nothing issued."""

    kind: ClassVar[Literal["review_required"]] = "review_required"
    problem_id: int
    problem_type: str
    search_outcome: str
    candidate_count: int


@dataclass(frozen=True)
class HeldElsewhere:
    """The child is enrolled in another jurisdiction (重复学籍): nothing registered; a
    duplicate-enrolment problem record names both sides."""

    kind: ClassVar[Literal["held_elsewhere"]] = "held_elsewhere"
    problem_id: int
    held_in_provinces: list[str]
    problem_type: str = "duplicate_enrolment"


RegistrationOutcome = Existing | Issued | ReviewRequired | HeldElsewhere

_KINDS: dict[str, type[RegistrationOutcome]] = {
    cls.kind: cls for cls in (Existing, Issued, ReviewRequired, HeldElsewhere)
}

# The status each outcome is reported with (the route's answer, a batch row's http_status).
STATUS: dict[str, int] = {"existing": 200, "issued": 201, "review_required": 202, "held_elsewhere": 409}


def status_of(outcome: RegistrationOutcome) -> int:
    return STATUS[outcome.kind]


def to_json(outcome: RegistrationOutcome) -> dict[str, Any]:
    """The outcome as a JSON object: ``outcome`` names the kind; fields left empty are omitted."""
    return {"outcome": outcome.kind, **{k: v for k, v in asdict(outcome).items() if v is not None}}


def from_json(data: dict[str, Any]) -> RegistrationOutcome:
    """Read back what ``to_json`` wrote (or a registration answer stored before it existed)."""
    cls = _KINDS[str(data["outcome"])]
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if cls is Issued:
        values["verification"] = VerdictOutcome(values["verification"])
    return cls(**values)


def object_ref(outcome: RegistrationOutcome) -> str:
    """What the audit row of a registration names: the code, or the problem record opened."""
    code = getattr(outcome, "code", None)
    return str(code) if code else f"problem:{getattr(outcome, 'problem_id', None)}"
