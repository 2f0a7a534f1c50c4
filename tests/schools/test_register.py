"""The school register in the database: importing (all or nothing, again to update), the one check
(known, in the region, active, grade taught) and the set-based look-up a bulk path uses."""

from __future__ import annotations

from sqlmodel import Session, select

from gateway.audit.models import AuditEvent
from gateway.schools import service
from gateway.schools.models import School
from gateway.schools.service import SchoolFields, SchoolRegister, check_school
from tests.fixtures.schools import load_register, register_text


def _codes(errors: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(e.field, e.code) for e in errors]


def test_importing_again_updates_and_a_bad_file_changes_nothing(session: Session) -> None:
    first = load_register(
        session,
        register_text(
            "4101020001,建设路小学,410102,primary,,100,", "4101020002,伏牛路学校,410102,nine_year,,,"
        ),
    )
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    again = load_register(
        session,
        register_text(
            "4101020001,建设路第一小学,410102,primary,,120,",  # renamed, more pupils
            "4101020002,伏牛路学校,410102,nine_year,,,",  # unchanged
            "4101030001,大学路小学,410103,primary,,,",  # new
        ),
    )
    assert (again.created, again.updated, again.unchanged) == (1, 1, 1)
    school = session.get(School, "4101020001")
    assert school is not None and (school.name, school.enrolment) == ("建设路第一小学", 120)
    refused = service.import_register(
        session,
        register_text("4101020001,改名,410102,primary,,,", "4101020002,伏牛路学校,410102,college,,,"),
        actor="test",
    )
    assert not refused.ok and [(e.line, e.field) for e in refused.errors] == [(3, "type")]
    session.refresh(school)
    assert school.name == "建设路第一小学"  # the good row of a refused file was not applied either
    session.flush()
    imports = session.exec(select(AuditEvent).where(AuditEvent.action == "schools.import")).all()
    assert [a.object_ref for a in imports] == [
        "created 2, updated 0, unchanged 0",
        "created 1, updated 1, unchanged 1",
    ]


def test_the_check_names_each_field_it_refuses(session: Session) -> None:
    load_register(
        session,
        register_text(
            "4101020001,建设路小学,410102,primary,,,",
            "4101020009,已撤并小学,410102,primary,,,false",
        ),
    )
    assert check_school(session, "4101020001", "410102", 3) == []
    assert check_school(session, "4101020001", None) == []
    assert _codes(check_school(session, "4101020077", "410102")) == [("school_code", "unknown_school")]
    assert _codes(check_school(session, "4101020001", "410105")) == [
        ("school_region", "school_region_mismatch")
    ]
    assert _codes(check_school(session, "4101020009", "410102")) == [("school_code", "inactive_school")]
    refused = check_school(session, "4101020001", "410102", 7)
    assert _codes(refused) == [("grade", "grade_not_offered")]
    assert "grades 1-6" in refused[0].message
    named = check_school(
        session, "4101020001", "410105", 8, SchoolFields(region="identity.region", grade="level")
    )
    assert _codes(named) == [("identity.region", "school_region_mismatch"), ("level", "grade_not_offered")]


def test_an_empty_register_checks_nothing(session: Session) -> None:
    assert session.exec(select(School)).first() is None
    assert check_school(session, "4101020077", "410102", 12) == []
    load_register(session, register_text("4101020001,建设路小学,410102,primary,,,"))
    assert _codes(check_school(session, "4101020077", "410102")) == [("school_code", "unknown_school")]


def test_a_bulk_path_loads_a_set_of_schools_once(session: Session, school_register: object) -> None:
    register = SchoolRegister.load(session, ["4101020001", "4101050003", "4101020077"])
    assert set(register.schools) == {"4101020001", "4101050003"}
    rows = [("4101020001", "410102", 2), ("4101050003", "410105", 4), ("4101020077", "410102", None)]
    assert [_codes(register.errors(*row)) for row in rows] == [
        [],
        [("grade", "grade_not_offered")],
        [("school_code", "unknown_school")],
    ]


def test_many_rows_are_checked_with_one_function(session: Session, school_register: object) -> None:
    refused = service.check_schools(
        session,
        [(1, "4101020001", "410102", 6), (2, "4101020001", "410102", 7), (3, "4101020077", "410102", None)],
    )
    assert {row: _codes(errors) for row, errors in refused.items()} == {
        2: [("grade", "grade_not_offered")],
        3: [("school_code", "unknown_school")],
    }
