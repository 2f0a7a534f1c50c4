"""How many students each unit is expected to submit: the one place the reports read it from.

The figure comes from the school register's enrolment figure per school (summed for a region);
the register (``gateway/schools``) is being built on another branch. Until it is read here, no
unit has an expected figure and the reports say so (``expected`` null, no completion rate) rather
than guess.
"""

from __future__ import annotations

from sqlmodel import Session


def expected_students(
    session: Session, prefix: str, school: str | None, child_len: int | None
) -> dict[str, int]:
    """Expected students per unit (grouped as ``gateway.reports.repository`` groups: a child region
    prefix of ``child_len`` digits, or a school code when ``child_len`` is None) inside ``prefix``
    (and ``school``). A unit missing from the answer has no known figure."""
    return {}
