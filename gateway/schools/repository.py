"""SQL of the school register: look schools up by code (one query for a set), page through a
jurisdiction's schools, insert or update imported rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from gateway.schools.models import School


def register_is_empty(session: Session) -> bool:
    return session.exec(select(School.code).limit(1)).first() is None


def schools_by_code(session: Session, codes: Iterable[str]) -> dict[str, School]:
    """The register's rows for ``codes`` (those it holds), in one query."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return {s.code: s for s in session.exec(select(School).where(col(School.code).in_(wanted))).all()}


def schools_in(
    session: Session, *, region_prefix: str | None, school_code: str | None, after: str, limit: int
) -> Sequence[School]:
    """Schools by code after ``after``: under a region prefix ('' for all) or one school."""
    query = select(School).where(col(School.code) > after)
    if school_code is not None:
        query = query.where(School.code == school_code)
    elif region_prefix:
        query = query.where(col(School.region).startswith(region_prefix))
    return session.exec(query.order_by(col(School.code)).limit(limit)).all()


def save(session: Session, schools: Iterable[School]) -> None:
    for school in schools:
        session.add(school)
    session.flush()
