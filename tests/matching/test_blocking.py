"""Blocking keys: every hard case shares a key with its true match; unrelated persons share none."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from gateway.identity import CanonicalRecord, normalise_name
from gateway.matching import MatchConfig, blocking_key_digest, blocking_keys, load_config
from gateway.matching.blocking import row_blocking_keys


def _shares_key(a: CanonicalRecord, b: CanonicalRecord, config: MatchConfig) -> bool:
    return bool(set(blocking_keys(a, config)) & set(blocking_keys(b, config)))


def _person(persons: list[CanonicalRecord]) -> CanonicalRecord:
    return next(p for p in persons if p.birth_date.day <= 12 and p.birth_date.day != p.birth_date.month)


def test_keys_are_prefixed_by_rule_and_deterministic(
    persons: list[CanonicalRecord], config: MatchConfig
) -> None:
    keys = blocking_keys(persons[0], config)
    assert keys == blocking_keys(persons[0], config)
    assert {k.partition(":")[0] for k in keys} <= {rule.name for rule in config.blocking}


@pytest.mark.parametrize("position", range(18))
def test_any_single_substitution_in_the_id_number_keeps_a_key(
    persons: list[CanonicalRecord], config: MatchConfig, position: int
) -> None:
    p = persons[0]
    number = p.id_number or ""
    digit = "7" if number[position] != "7" else "3"
    # Change the name and birth date too, so only the ID keys can carry the pair.
    typo = replace(
        p,
        id_number=number[:position] + digit + number[position + 1 :],
        name="司马懿",
        birth_date=date(2001, 1, 1),
    )
    assert _shares_key(p, typo, config)


def test_hard_cases_share_a_key(persons: list[CanonicalRecord], config: MatchConfig) -> None:
    p = _person(persons)
    no_id = {"id_type": "none", "id_number": None}
    born = p.birth_date
    given = p.name[1:]
    variants = {
        "homophone typo": replace(p, name=normalise_name(p.name[0] + "小" + given[1:]), **no_id),  # type: ignore[arg-type]
        "day/month swap": replace(p, birth_date=date(born.year, born.day, born.month), **no_id),  # type: ignore[arg-type]
        "one-day slip": replace(p, birth_date=born + timedelta(days=1), **no_id),  # type: ignore[arg-type]
        "one-year slip": replace(p, birth_date=born.replace(year=born.year - 1), **no_id),  # type: ignore[arg-type]
        "given name mistyped": replace(p, name=p.name[0] + "鑫", **no_id),  # type: ignore[arg-type]
        "no ID document": replace(p, **no_id),  # type: ignore[arg-type]
    }
    for case, variant in variants.items():
        assert _shares_key(p, variant, config), case


def test_homophones_and_traditional_characters_produce_the_same_name_key(
    config: MatchConfig, persons: list[CanonicalRecord]
) -> None:
    p = replace(persons[0], name="张晓明", id_type="none", id_number=None)
    for spelling in ("张小明", normalise_name("張曉明")):
        keys = set(blocking_keys(replace(p, name=spelling), config))
        assert any(k.startswith("name_month:zhangxiaoming|") for k in keys)
        assert keys & set(blocking_keys(p, config))


def test_twins_share_a_key_so_the_matcher_can_tell_them_apart(
    persons: list[CanonicalRecord], config: MatchConfig
) -> None:
    p = persons[0]
    twin = replace(p, name=p.name[0] + "雪梅", id_number=None, id_type="none")
    assert _shares_key(p, twin, config)


def test_unrelated_persons_share_no_key(persons: list[CanonicalRecord], config: MatchConfig) -> None:
    a, b = persons[1], persons[2]
    assert a.name != b.name and a.birth_date != b.birth_date
    assert not _shares_key(a, b, config)


def test_digest_hides_the_key() -> None:
    key = "id_head:11010520150307"
    digest = blocking_key_digest(key, b"k" * 32)
    assert len(digest) == 64 and "1101052015" not in digest
    assert digest == blocking_key_digest(key, b"k" * 32) != blocking_key_digest(key, b"j" * 32)


def test_an_unordered_rule_meets_swapped_given_and_family_names() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "benchmarks" / "configs" / "febrl3.toml")
    row = {"rec_id": "a", "given_name": "jett", "surname": "colegate", "postcode": "6011"}
    swapped = {**row, "rec_id": "b", "given_name": "colegate", "surname": "jett"}
    keys, other = row_blocking_keys(row, config), row_blocking_keys(swapped, config)
    assert {k for k in set(keys) & set(other)} == {"names_unordered:col|jet"}
    ordered = [rule.model_copy(update={"unordered": False}) for rule in config.blocking]
    plain = config.model_copy(update={"blocking": ordered})
    assert not set(row_blocking_keys(row, plain)) & set(row_blocking_keys(swapped, plain))
