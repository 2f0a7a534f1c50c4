from __future__ import annotations

import pytest

from gateway.identity import (
    find_region_codes,
    is_abolished_region,
    is_known_region,
    region_full_name,
    region_level,
    region_name,
)


@pytest.mark.parametrize(
    ("code", "level"),
    [("110000", "province"), ("440300", "city"), ("440305", "county"), ("999999", "county")],
)
def test_level_from_shape(code: str, level: str) -> None:
    assert region_level(code) == level


@pytest.mark.parametrize("bad", ["11000", "1100000", "11000A", "１１００００"])
def test_level_refuses_non_codes(bad: str) -> None:
    with pytest.raises(ValueError):
        region_level(bad)


def test_names_at_each_level() -> None:
    assert region_name("110000") == "北京市"
    assert region_name("440300") == "深圳市"
    assert region_name("440305") == "南山区"
    assert region_full_name("440305") == "广东省深圳市南山区"
    assert region_full_name("110108") == "北京市海淀区"


def test_special_administrative_regions_in_simplified_characters() -> None:
    assert region_name("810000") == "香港特别行政区"
    assert region_name("820000") == "澳门特别行政区"


def test_abolished_code_keeps_its_last_name() -> None:
    assert is_known_region("110103")
    assert is_abolished_region("110103")
    assert region_name("110103") == "崇文区"
    assert not is_abolished_region("110101")


def test_renamed_code_has_a_name_per_period() -> None:
    assert region_name("120110") == "东丽区"
    assert region_name("120110", year=1990) == "东郊区"
    assert region_name("120110", year=2000) == "东丽区"


def test_unknown_codes() -> None:
    assert not is_known_region("999999")
    assert not is_known_region("830000")
    assert not is_abolished_region("999999")
    assert region_name("999999") is None
    assert region_full_name("999999") is None


def test_name_to_codes() -> None:
    assert find_region_codes("北京市海淀区") == ("110108",)
    assert set(find_region_codes("朝阳区")) >= {"110105", "220104"}
    assert find_region_codes("崇文区") == ()
    assert find_region_codes("火星") == ()
