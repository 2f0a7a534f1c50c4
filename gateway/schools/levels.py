"""School types, the levels (学段) they teach and the grades (年级) of each level. Pure values.

Grades are numbered across the twelve years of schooling, as the national system counts them:
1-6 primary (小学), 7-9 junior secondary (初中), 10-12 senior secondary (高中). A school offers the
grades of the levels it teaches; its type gives the usual levels, and the register may say otherwise
(a special-education school that also teaches senior grades, a 工读 school that takes primary pupils).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class SchoolType(StrEnum):
    PRIMARY = "primary"  # 小学
    JUNIOR = "junior"  # 初级中学
    SENIOR = "senior"  # 高级中学
    NINE_YEAR = "nine_year"  # 九年一贯制学校
    COMPLETE_SECONDARY = "complete_secondary"  # 完全中学
    SPECIAL = "special"  # 特殊教育学校
    WORK_STUDY = "work_study"  # 工读学校


class Level(StrEnum):
    PRIMARY = "primary"
    JUNIOR = "junior"
    SENIOR = "senior"


GRADES: dict[Level, range] = {
    Level.PRIMARY: range(1, 7),
    Level.JUNIOR: range(7, 10),
    Level.SENIOR: range(10, 13),
}
FIRST_GRADE, LAST_GRADE = 1, 12

DEFAULT_LEVELS: dict[SchoolType, frozenset[Level]] = {
    SchoolType.PRIMARY: frozenset({Level.PRIMARY}),
    SchoolType.JUNIOR: frozenset({Level.JUNIOR}),
    SchoolType.SENIOR: frozenset({Level.SENIOR}),
    SchoolType.NINE_YEAR: frozenset({Level.PRIMARY, Level.JUNIOR}),
    SchoolType.COMPLETE_SECONDARY: frozenset({Level.JUNIOR, Level.SENIOR}),
    # Special education and 工读 schools teach compulsory education unless the register says more.
    SchoolType.SPECIAL: frozenset({Level.PRIMARY, Level.JUNIOR}),
    SchoolType.WORK_STUDY: frozenset({Level.JUNIOR}),
}

# Final grades of a level: a student there graduates at the year's close. A nine-year school's
# sixth grade is not one: 九年一贯制 carries its pupils into the seventh grade without a break.
FINAL_GRADES = frozenset(levels[-1] for levels in GRADES.values())
CONTINUOUS = {SchoolType.NINE_YEAR: frozenset({GRADES[Level.PRIMARY][-1]})}


def parse_levels(text: str) -> frozenset[Level]:
    """Levels written as ``primary;junior`` (``;``, ``,``, ``|`` or spaces between); ValueError on an
    unknown one or none."""
    parts = [p for p in text.replace(",", " ").replace(";", " ").replace("|", " ").split() if p]
    if not parts:
        raise ValueError("no level given")
    try:
        return frozenset(Level(p.strip().lower()) for p in parts)
    except ValueError:
        raise ValueError(
            f"levels are {', '.join(level.value for level in Level)}, separated by ';'"
        ) from None


def format_levels(levels: Iterable[Level | str]) -> str:
    given = {Level(v) for v in levels}
    return ";".join(level.value for level in Level if level in given)


def grades_offered(levels: Iterable[Level | str]) -> frozenset[int]:
    return frozenset(g for level in levels for g in GRADES[Level(level)])


def level_of(grade: int) -> Level:
    for level, grades in GRADES.items():
        if grade in grades:
            return level
    raise ValueError(f"grade {grade} is not between {FIRST_GRADE} and {LAST_GRADE}")


def graduates_at(grade: int, school_type: str | None) -> bool:
    """Whether a student in ``grade`` of a school of ``school_type`` (None: not in the register)
    graduates at the close of the year rather than being promoted."""
    if grade not in FINAL_GRADES:
        return False
    continuous = CONTINUOUS.get(SchoolType(school_type), frozenset()) if school_type else frozenset()
    return grade not in continuous
