"""Reading a school register file: defaults, and each refusal naming its line and field."""

from __future__ import annotations

from gateway.schools.levels import Level, SchoolType, grades_offered, graduates_at
from gateway.schools.parsing import DEMO_REGISTER, parse_register, school_for
from tests.fixtures.schools import register_text


def test_a_good_file_gives_schools_with_their_usual_levels() -> None:
    parsed = parse_register(
        register_text(
            "4101020001,建设路第一小学,410102,primary,,1860,",
            "4101020002,伏牛路学校,410102,Nine_Year,,,false",
            "4101020004,特殊教育学校,410102,special,primary;junior;senior,180,yes",
        )
    )
    assert parsed.errors == []
    primary, nine_year, special = parsed.schools
    assert (primary.code, primary.type, primary.levels, primary.enrolment, primary.active) == (
        "4101020001",
        SchoolType.PRIMARY,
        frozenset({Level.PRIMARY}),
        1860,
        True,
    )
    assert nine_year.levels == {Level.PRIMARY, Level.JUNIOR} and nine_year.active is False
    assert special.levels_text == "primary;junior;senior"
    assert grades_offered(nine_year.levels) == frozenset(range(1, 10))


def test_only_the_required_columns_are_needed() -> None:
    parsed = parse_register("name,type,region,school_code\n第一中学,senior,410105,4101050003\n")
    assert parsed.errors == [] and parsed.schools[0].levels == {Level.SENIOR}


def test_every_bad_row_is_named_by_line_and_field() -> None:
    parsed = parse_register(
        register_text(
            "4101020001,好学校,410102,primary,,,",
            "41010200,短代码,410102,primary,,,",  # line 3
            "4101030001,错区,410102,primary,,,",  # line 4: code of another county
            "4101020005,,410102,kindergarten,,many,maybe",  # line 5: four faults
            "4101020001,重复,410102,junior,,,",  # line 6: the code of line 2 again
            "9999990001,无此区,999999,primary,,,",  # line 7
            "4101020006,错学段,410102,primary,college,,",  # line 8
        )
    )
    refused = {(e.line, e.field, e.code) for e in parsed.errors}
    assert refused == {
        (3, "school_code", "invalid"),
        (4, "school_code", "region_mismatch"),
        (5, "name", "missing"),
        (5, "type", "invalid"),
        (5, "enrolment", "invalid"),
        (5, "active", "invalid"),
        (6, "school_code", "duplicate"),
        (7, "region", "unknown_region"),
        (8, "levels", "invalid"),
    }
    assert [s.code for s in parsed.schools] == ["4101020001"]
    assert "line 2" in next(e.message for e in parsed.errors if e.code == "duplicate")


def test_a_header_without_the_required_columns_is_refused_as_a_whole() -> None:
    parsed = parse_register("code,name\n4101020001,x\n")
    assert {(e.line, e.field, e.code) for e in parsed.errors} == {
        (1, "school_code", "missing_column"),
        (1, "region", "missing_column"),
        (1, "type", "missing_column"),
    }
    assert parsed.schools == []


def test_final_grades_graduate_except_a_nine_year_schools_sixth() -> None:
    assert graduates_at(6, "primary") and graduates_at(6, None)
    assert not graduates_at(6, "nine_year")
    assert (
        graduates_at(9, "nine_year") and graduates_at(9, "complete_secondary") and graduates_at(12, "senior")
    )
    assert not any(graduates_at(g, "complete_secondary") for g in (7, 8, 10, 11))


def test_the_demo_register_is_valid_and_gives_a_school_near_the_child() -> None:
    parsed = parse_register(DEMO_REGISTER.read_text(encoding="utf-8"))
    assert parsed.errors == [] and len(parsed.schools) >= 10
    assert {s.type for s in parsed.schools} == set(SchoolType)
    assert school_for(parsed.schools, "410105", 0).region == "410105"
    assert school_for(parsed.schools, "410181", 3).region.startswith("41")  # same province
    assert school_for(parsed.schools, "540102", 5) in parsed.schools  # none near: any school
