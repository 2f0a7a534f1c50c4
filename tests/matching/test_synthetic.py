"""The synthetic generator: deterministic, valid, distinct persons, and every hard case present."""

from __future__ import annotations

from collections import Counter

from gateway.identity import normalise_record, validate_document
from gateway.matching import generate_labelled, generate_population
from gateway.matching.synthetic import HARD_CASES, county_codes


def test_population_is_deterministic_for_a_seed() -> None:
    assert generate_population(300, 11) == generate_population(300, 11)
    assert generate_population(300, 11) != generate_population(300, 12)


def test_population_is_valid_and_distinct() -> None:
    people = generate_population(3000, 4)
    assert len(people) == 3000
    assert len({p.record_id for p in people}) == 3000
    numbers = [p.id_number for p in people if p.id_type == "resident_id"]
    assert len(numbers) == len(set(numbers))
    regions = set(county_codes())
    for p in people:
        assert normalise_record(p.to_dict()).record == p, p.record_id
        assert p.household_region in regions
        assert p.guardian_name
        if p.id_type == "resident_id":
            check = validate_document("resident_id", p.id_number)
            assert check.valid and check.birth_date == p.birth_date and check.gender == p.gender
    without_document = sum(p.id_type == "none" for p in people) / len(people)
    assert 0.02 < without_document < 0.06


def test_labelled_data_carries_every_hard_case() -> None:
    data = generate_labelled(3000, 8)
    seen = Counter(case for cases in data.cases.values() for case in cases)
    assert set(HARD_CASES) <= set(seen), set(HARD_CASES) - set(seen)
    assert len(data.rows) == len(data.person_of) > 3000
    assert data.true_pairs()
    assert all(a < b and data.person_of[a] == data.person_of[b] for a, b in data.true_pairs())


def test_labelled_rows_normalise() -> None:
    data = generate_labelled(500, 9)
    results = [normalise_record(row) for row in data.rows]
    # Only mistyped ID numbers (bad check character) may fail normalisation.
    failures = [r for r in results if r.record is None]
    assert all({issue.field for issue in r.errors} <= {"id_number"} for r in failures)
    assert len(failures) < len(results) * 0.1
