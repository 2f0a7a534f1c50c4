"""Field comparisons and the outcome rule of partner verification (pure)."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from gateway.students.verification import (
    Claim,
    FieldFlag,
    FieldFlags,
    Outcome,
    StoredFacts,
    compare_birth_date,
    compare_gender,
    compare_id_number,
    compare_name,
    outcome_of,
    verify,
)

C, S, X, N = FieldFlag.CONSISTENT, FieldFlag.SIMILAR, FieldFlag.INCONSISTENT, FieldFlag.NOT_PROVIDED


@pytest.mark.parametrize(
    ("claimed", "stored", "flag"),
    [
        ("张晓明", "张晓明", C),
        (" 张 晓明 ", "张晓明", C),  # stray spaces
        ("張曉明", "张晓明", C),  # traditional characters normalise to the stored simplified form
        ("ｚｈａｎｇ ｗｅｉ", "ZHANG WEI", C),  # full-width Latin
        ("张小明", "张晓明", S),  # homophone typing error 晓/小
        ("王子晗", "王子涵", S),  # 涵/晗
        ("Zhang Xiaoming", "张晓明", S),  # romanised spelling, given name as one word
        ("xiao ming zhang", "张晓明", S),
        ("Xiaoming Zhang", "张晓明", S),
        ("Zhang Ming", "张晓明", X),
        ("Ouyang Nana", "欧阳娜娜", S),  # compound surname
        ("李晓明", "张晓明", X),
        ("张晓", "张晓明", X),
        ("于明", "於明", S),  # 於 is kept as a surname; only the simplified table links it to 于
    ],
)
def test_compare_name(claimed: str, stored: str, flag: FieldFlag) -> None:
    assert compare_name(claimed, stored) is flag


def test_a_stored_record_without_a_name_confirms_nothing() -> None:
    assert compare_name("张晓明", "") is X


@pytest.mark.parametrize(
    ("claimed", "flag"),
    [
        (date(2014, 3, 7), C),
        (date(2014, 3, 8), S),  # one day late
        (date(2014, 3, 6), S),  # one day early
        (date(2014, 7, 3), S),  # day and month swapped
        (date(2014, 3, 9), X),
        (date(2015, 3, 7), X),
        (date(2014, 4, 7), X),
    ],
)
def test_compare_birth_date(claimed: date, flag: FieldFlag) -> None:
    assert compare_birth_date(claimed, date(2014, 3, 7)) is flag


def test_a_one_day_slip_across_a_month_end_is_similar() -> None:
    assert compare_birth_date(date(2014, 3, 1), date(2014, 2, 28)) is S


@pytest.mark.parametrize(
    ("claimed", "stored", "flag"),
    [("1", "1", C), ("2", "1", X), (None, "1", N), ("9", "1", N), ("1", "0", N)],
)
def test_compare_gender(claimed: str | None, stored: str, flag: FieldFlag) -> None:
    assert compare_gender(claimed, stored) is flag


def test_compare_id_number() -> None:
    stored = "41010220140307123X"
    assert compare_id_number("41010220140307123x", stored) is C
    assert compare_id_number("410102 20140307 123X", stored) is C
    assert compare_id_number("410102201403071239", stored) is X
    assert compare_id_number(None, stored) is N
    # The registry holds no document: a claimed number cannot be confirmed.
    assert compare_id_number("41010220140307123X", None) is X


def test_a_legacy_15_digit_number_compares_with_its_18_digit_form() -> None:
    # The 18-digit form inserts the century and appends the GB 11643 check character.
    first17 = "410102" + "19" + "700307123"
    upgraded = first17 + ric.calc_check_digit(first17 + "0")
    assert compare_id_number("410102700307123", upgraded) is C
    assert compare_id_number("410102700307124", upgraded) is X


@pytest.mark.parametrize(
    ("flags", "current", "outcome"),
    [
        ((C, C, C, C), True, Outcome.MATCH),
        ((C, C, N, N), True, Outcome.MATCH),
        ((C, C, C, C), False, Outcome.LINKED_MATCH),
        ((S, C, C, N), True, Outcome.SIMILAR_MATCH),
        ((C, S, N, N), False, Outcome.SIMILAR_MATCH),
        ((S, S, C, C), True, Outcome.SIMILAR_MATCH),
        ((C, C, X, C), True, Outcome.NO_MATCH),
        ((S, C, C, X), True, Outcome.NO_MATCH),
        ((X, C, C, C), False, Outcome.NO_MATCH),
    ],
)
def test_outcome_of(flags: tuple[FieldFlag, ...], current: bool, outcome: Outcome) -> None:
    assert outcome_of(FieldFlags(*flags), code_is_current=current) is outcome


def test_verify_without_stored_facts_is_code_not_found() -> None:
    result = verify(Claim("张晓明", date(2014, 3, 7)), None)
    assert result.outcome is Outcome.CODE_NOT_FOUND and result.flags is None


def test_verify_combines_the_field_flags() -> None:
    stored = StoredFacts("张晓明", date(2014, 3, 7), "1", "41010220140307123X", code_is_current=True)
    result = verify(Claim("张小明", date(2014, 3, 7), "1", "41010220140307123X"), stored)
    assert result.outcome is Outcome.SIMILAR_MATCH
    assert result.flags == FieldFlags(S, C, C, C)
