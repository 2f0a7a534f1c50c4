"""How many students each unit is expected to submit: the one place the reports read it from.

The figure comes from the school register's enrolment figure per active school, summed for a
region. A unit has a figure only when every active school in it has one: a sum that leaves out the
schools that reported nothing would make a unit look complete that is not. A unit the register
holds no active school of has no figure either (null, no completion rate) rather than a guess.
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.reports import repository


def expected_students(
    session: Session, prefix: str, school: str | None, child_len: int | None
) -> dict[str, int]:
    """Expected students per unit (grouped as ``gateway.reports.repository`` groups: a child region
    prefix of ``child_len`` digits, or a school code when ``child_len`` is None) inside ``prefix``
    (and ``school``). A unit missing from the answer has no known figure."""
    figures = repository.enrolment_by_unit(session, prefix, school, child_len)
    return {unit: total for unit, (total, schools, reported) in figures.items() if schools == reported}
