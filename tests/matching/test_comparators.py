"""Comparators: each rule recognises the error it is meant for and nothing much wider."""

from __future__ import annotations

import pytest

from gateway.identity import normalise_name
from gateway.matching.comparators import (
    MISSING_LEVEL,
    IdValue,
    compile_field,
    is_adjacent_transposition,
    prepare_date,
    prepare_id,
    prepare_name,
)
from gateway.matching.config import MatchConfig


def _level(config: MatchConfig, field: str, a: object, b: object) -> str:
    spec = next(f for f in config.fields if f.name == field)
    index = compile_field(spec).level(a, b)  # type: ignore[arg-type]
    return "missing" if index == MISSING_LEVEL else spec.levels[index].label


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("王子涵", "王子涵", "exact"),
        ("李晓明", "李小明", "homophone"),
        ("张子轩", "张子宣", "homophone"),
        ("王子涵", "王子晗", "homophone"),
        ("張子涵", "张子涵", "exact"),  # traditional input normalised to simplified
        ("王 子涵", "王子涵", "exact"),
        ("王子涵", "王梓轩", "different"),
        ("陈一诺", "刘浩然", "different"),
        ("SMITH JOHN", "john smith", "exact"),
        ("阿不都.热合曼", "阿不都·热合曼", "exact"),
    ],
)
def test_name_levels(config: MatchConfig, a: str, b: str, expected: str) -> None:
    assert (
        _level(config, "name", prepare_name(normalise_name(a)), prepare_name(normalise_name(b))) == expected
    )


def test_names_with_one_differing_syllable_are_similar_not_homophones(config: MatchConfig) -> None:
    assert _level(config, "name", prepare_name("欧阳子涵"), prepare_name("欧阳子寒")) == "homophone"
    assert _level(config, "name", prepare_name("胡依涵"), prepare_name("胡依昊")) == "pinyin_similar"
    assert _level(config, "name", prepare_name("王子涵"), prepare_name("王梓轩")) == "different"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("2015-03-07", "2015-03-07", "exact"),
        ("2015-03-07", "2015-07-03", "swap_or_slip"),
        ("2015-03-07", "2015-03-08", "swap_or_slip"),
        ("2015-02-28", "2015-03-01", "swap_or_slip"),  # one day across a month end
        ("2015-03-07", "2014-03-07", "swap_or_slip"),
        ("2015-03-07", "2015-03-27", "one_digit"),
        ("2015-03-07", "2012-11-21", "different"),
        ("2015-03-07", "2015-03-09", "one_digit"),
    ],
)
def test_date_levels(config: MatchConfig, a: str, b: str, expected: str) -> None:
    assert _level(config, "birth_date", prepare_date(a), prepare_date(b)) == expected


def test_unparseable_date_is_missing(config: MatchConfig) -> None:
    assert prepare_date("2015-3") is None
    assert _level(config, "birth_date", None, prepare_date("2015-03-07")) == "missing"


ID = "110105201503070021"  # valid MOD 11-2, born 2015-03-07, sequence 002 (female)


def test_id_levels(config: MatchConfig) -> None:
    own = prepare_id(ID, "resident_id", "2015-03-07", "2")
    assert own is not None and own.citizen_valid and own.consistent
    assert _level(config, "id_number", own, own) == "exact_consistent"
    typo_birth = prepare_id(ID, "resident_id", "2015-03-08", "2")
    assert _level(config, "id_number", own, typo_birth) == "exact_inconsistent"
    wrong_gender = prepare_id(ID, "resident_id", "2015-03-07", "1")
    assert wrong_gender is not None and not wrong_gender.consistent
    substituted = prepare_id(ID[:3] + "2" + ID[4:], "resident_id", "2015-03-07", "2")
    assert substituted is not None and not substituted.citizen_valid
    assert _level(config, "id_number", own, substituted) == "one_typo"
    transposed = prepare_id(ID[:7] + ID[8] + ID[7] + ID[9:], "resident_id", "2015-03-07", "2")
    assert _level(config, "id_number", own, transposed) == "one_typo"
    other = prepare_id("11010520150307003X", "resident_id", "2015-03-07", "1")
    assert _level(config, "id_number", own, other) == "different"
    assert prepare_id("", "none", "2015-03-07", "2") is None


def test_adjacent_transposition_only_for_neighbours() -> None:
    assert is_adjacent_transposition("123456", "123546")
    assert not is_adjacent_transposition("123456", "153426")
    assert not is_adjacent_transposition("123456", "123456")
    assert not is_adjacent_transposition("1234", "12345")


def test_non_citizen_documents_are_never_citizen_valid() -> None:
    passport = prepare_id("E12345678", "passport", "2015-03-07", "1")
    assert passport == IdValue("E12345678", citizen_valid=False, consistent=True)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("110105", "110105", "same_county"),
        ("110105", "110108", "same_city"),
        ("110105", "110229", "same_province"),
        ("110105", "440305", "different"),
    ],
)
def test_region_levels(config: MatchConfig, a: str, b: str, expected: str) -> None:
    assert _level(config, "household_region", a, b) == expected
