from __future__ import annotations

import pytest

from gateway.identity import (
    ETHNICITIES,
    Gender,
    IdType,
    InvalidField,
    ethnicity_name,
    parse_ethnicity,
    parse_gender,
    parse_id_type,
    parse_nationality,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("resident_id", IdType.RESIDENT_ID),
        ("RESIDENT_ID", IdType.RESIDENT_ID),
        ("1", IdType.RESIDENT_ID),
        ("居民身份证", IdType.RESIDENT_ID),
        ("6", IdType.HK_MACAU_ID),
        ("7", IdType.HK_MACAU_ID),
        ("8", IdType.TAIWAN_PERMIT),
        ("9", IdType.FOREIGN_PERMANENT_RESIDENCE),
        ("A", IdType.PASSPORT),
        ("a", IdType.PASSPORT),
        ("B", IdType.HOUSEHOLD_BOOKLET),
        ("Z", IdType.OTHER),
        ("-", IdType.NONE),
        ("none", IdType.NONE),
        ("hk_macau_permit", IdType.HK_MACAU_PERMIT),
        ("hmt_residence_permit", IdType.HMT_RESIDENCE_PERMIT),
        ("１", IdType.RESIDENT_ID),
    ],
)
def test_id_type_names_and_form_codes(raw: str, expected: IdType) -> None:
    assert parse_id_type(raw) is expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [("", "missing"), (None, "missing"), ("2", "unknown_id_type"), ("x" * 600, "unknown_id_type")],
)
def test_id_type_refusals(raw: str | None, code: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_id_type(raw)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", "1"),
        ("2", "2"),
        ("0", "0"),
        ("9", "9"),
        ("男", "1"),
        ("女", "2"),
        ("M", "1"),
        ("f", "2"),
        ("Male", "1"),
        ("FEMALE", "2"),
        (" 女 ", "2"),
        ("", "9"),
        (None, "9"),
    ],
)
def test_gender(raw: str | None, expected: str) -> None:
    assert parse_gender(raw) == expected


def test_gender_from_int() -> None:
    assert Gender(1) is Gender.MALE


@pytest.mark.parametrize("raw", ["3", "x", "男女", "<b>"])
def test_gender_refusals(raw: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_gender(raw)
    assert caught.value.code == "unknown_gender"


def test_ethnicity_table_is_complete() -> None:
    assert len(ETHNICITIES) == 58
    assert {f"{n:02d}" for n in range(1, 57)} | {"97", "98"} == set(ETHNICITIES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01", "01"),
        ("1", "01"),
        ("汉族", "01"),
        ("汉", "01"),
        ("漢族", "01"),
        ("维吾尔族", "05"),
        ("维吾尔", "05"),
        ("56", "56"),
        ("97", "97"),
        ("外国血统中国籍人士", "98"),
        ("其他", "97"),
        ("", None),
        (None, None),
    ],
)
def test_ethnicity(raw: str | None, expected: str | None) -> None:
    assert parse_ethnicity(raw) == expected


def test_every_ethnicity_name_maps_back_to_its_code() -> None:
    for code, name in ETHNICITIES.items():
        assert parse_ethnicity(name) == code
        assert ethnicity_name(code) == name


@pytest.mark.parametrize("raw", ["57", "00", "99", "火星族", "abc"])
def test_ethnicity_refusals(raw: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_ethnicity(raw)
    assert caught.value.code == "unknown_ethnicity"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CHN", "CHN"),
        ("chn", "CHN"),
        ("", "CHN"),
        (None, "CHN"),
        ("US", "USA"),
        ("840", "USA"),
        ("ＫＯＲ", "KOR"),
    ],
)
def test_nationality(raw: str | None, expected: str) -> None:
    assert parse_nationality(raw) == expected


@pytest.mark.parametrize("raw", ["XXX", "中国", "1234", "C"])
def test_nationality_refusals(raw: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_nationality(raw)
    assert caught.value.code == "unknown_nationality"
