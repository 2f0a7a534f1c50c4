"""Code formats: building, validating, and the check character catching typing errors."""

from __future__ import annotations

import string
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.idgen import formats
from gateway.idgen.formats import CodeType

regions = st.sampled_from(["110105", "410102", "650102", "440305", "530102", "820000"])
birth_dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2024, 12, 31))
sequences = st.integers(min_value=1, max_value=999)


def _weighted_mod11(digits17: str) -> str:
    # Independent re-statement of GB 11643 for the test: weights 2^(17-i) mod 11, map 1 0 X 9 ... 2.
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(digits17))
    return "10X98765432"[total % 11]


@st.composite
def formal_codes(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return formats.build_j_code(draw(regions), draw(birth_dates), draw(sequences))
    digits = draw(regions) + draw(birth_dates).strftime("%Y%m%d") + f"{draw(sequences):03d}"
    return formats.build_g_code(digits + _weighted_mod11(digits))


@given(formal_codes())
def test_built_formal_codes_validate(code: str) -> None:
    check = formats.validate_code(code)
    assert check.valid, check.errors
    assert len(code) == 19
    assert code[-1] == _weighted_mod11(code[1:18])


@given(formal_codes(), st.integers(min_value=1, max_value=18), st.sampled_from(string.digits + "X"))
def test_every_single_substitution_is_detected(code: str, position: int, replacement: str) -> None:
    if code[position] == replacement:
        return  # not a substitution
    typo = code[:position] + replacement + code[position + 1 :]
    assert not formats.validate_code(typo).valid


@given(formal_codes(), st.integers(min_value=1, max_value=17))
def test_every_adjacent_transposition_is_detected(code: str, position: int) -> None:
    if code[position] == code[position + 1]:
        return  # swapping equal characters changes nothing
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    assert not formats.validate_code(swapped).valid


@given(regions, birth_dates, st.integers(min_value=0, max_value=9999))
def test_l_codes_validate_and_carry_region_and_date(region: str, born: date, suffix: int) -> None:
    code = formats.build_l_code(region, born, suffix)
    check = formats.validate_code(code)
    assert check.valid and check.type is CodeType.L
    assert check.region == region and check.birth_date == born


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "length"),
        ("G1101051949123100", "length"),
        ("X11010519491231002X", "type letter"),
        ("L11010520150230" + "1234", "calendar date"),
        ("L99010520150301" + "1234", "province"),
        ("J11010520150301001" + "X", "check character"),
        ("L1101052015030112X4", "18 digits"),
    ],
)
def test_invalid_codes_say_why(code: str, fragment: str) -> None:
    check = formats.validate_code(code)
    assert not check.valid
    assert any(fragment in e for e in check.errors), check.errors


def test_future_birth_date_is_invalid() -> None:
    tomorrow = date.today() + timedelta(days=1)
    code = formats.build_l_code("410102", tomorrow, 1)
    assert "future" in " ".join(formats.validate_code(code).errors)


def test_codes_are_case_and_space_insensitive() -> None:
    code = formats.build_g_code("11010519491231002X")
    assert formats.validate_code(" g110105 19491231002x ").code == code


def test_builders_refuse_bad_parts() -> None:
    with pytest.raises(ValueError):
        formats.build_g_code("110105194912310021")
    with pytest.raises(ValueError):
        formats.build_j_code("410102", date(2015, 1, 1), 1000)
    with pytest.raises(ValueError):
        formats.build_l_code("4101", date(2015, 1, 1), 1)
