from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.identity import InvalidField, parse_date
from gateway.identity.dates import check_birth_date

FORMATS = [
    "{d:%Y-%m-%d}",
    "{d.year}/{d.month}/{d.day}",
    "{d:%Y%m%d}",
    "{d:%Y.%m.%d}",
    "{d.year}年{d.month}月{d.day}日",
]


@pytest.mark.parametrize(
    "raw",
    [
        "2015-03-07",
        "2015/3/7",
        "2015/03/07",
        "20150307",
        "2015.03.07",
        "2015.3.7",
        "2015-3-7",
        "2015年3月7日",
        "2015年03月07日",
        "2015年3月7",
        "2015 年 3 月 7 日",
        "２０１５－０３－０７",
        "２０１５年３月７日",
        " 2015-03-07 ",
        "2015-03-07 00:00:00",
        "2015/3/7 0:00",
        "2015-03-07T00:00:00",
    ],
)
def test_every_listed_format(raw: str) -> None:
    assert parse_date(raw) == date(2015, 3, 7)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)), st.sampled_from(FORMATS))
def test_round_trip_through_each_format(value: date, fmt: str) -> None:
    assert parse_date(fmt.format(d=value)) == value


@pytest.mark.parametrize(
    "raw", ["2015-02-29", "2015-02-30", "2015/13/1", "20150230", "2015.04.31", "2015年0月1日"]
)
def test_impossible_dates(raw: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_date(raw)
    assert caught.value.code == "impossible_date"


def test_leap_day_exists_in_leap_years() -> None:
    assert parse_date("2016-02-29") == date(2016, 2, 29)


@pytest.mark.parametrize(
    "raw",
    [
        "07/03/2015",
        "2015-03/07",
        "15-3-7",
        "2015",
        "March 7 2015",
        "2015-03-07; DROP TABLE x",
        "<b>2015-03-07</b>",
        "٢٠١٥-٠٣-٠٧",
        "2015-3-7\x00",
        "2015二月7日",
    ],
)
def test_unaccepted_formats(raw: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_date(raw)
    assert caught.value.code == "bad_date_format"


@pytest.mark.parametrize(
    ("raw", "code"), [(None, "missing"), ("", "missing"), ("  ", "missing"), ("1" * 100, "too_long")]
)
def test_missing_and_overlong(raw: str | None, code: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_date(raw)
    assert caught.value.code == code


@given(st.text(max_size=80))
def test_any_text_is_a_date_or_a_clear_error(text: str) -> None:
    try:
        parse_date(text)
    except InvalidField as exc:
        assert exc.field == "birth_date" and exc.code


def test_birth_date_rules() -> None:
    today = date(2026, 6, 1)
    assert check_birth_date(date(2026, 6, 1), today) == date(2026, 6, 1)
    with pytest.raises(InvalidField) as future:
        check_birth_date(date(2026, 6, 2), today)
    assert future.value.code == "future_birth_date"
    with pytest.raises(InvalidField) as early:
        check_birth_date(date(1899, 12, 31), today)
    assert early.value.code == "implausible_birth_date"
