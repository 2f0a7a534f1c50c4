"""Scoring: explanations, bands and grades, the hard rules, and search outcomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from gateway.identity import CanonicalRecord
from gateway.matching import MatchConfig, MatchModel, MatchResult, rank_candidates, score_pair, search_outcome
from gateway.matching.scoring import (
    RULE_DECISIVE,
    RULE_DISTINCT_IDS,
    RULE_NAME_OR_ID,
    RULE_TWINS,
    FieldExplanation,
    band_of,
    grade_of,
)
from gateway.matching.synthetic import check_character


def _with_id(p: CanonicalRecord, sequence: str) -> CanonicalRecord:
    first17 = (p.id_number or "")[:14] + sequence
    return replace(p, id_number=first17 + check_character(first17))


def _han(persons: list[CanonicalRecord]) -> CanonicalRecord:
    return next(p for p in persons if len(p.name) == 3 and p.name[1] not in "晓小")


def test_identical_records_auto_link_and_explain_every_field(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = persons[0]
    result = score_pair(p, p, model)
    assert result.band == "match" and result.grade == "certain"
    assert [e.field for e in result.explanation] == [f.name for f in model.config.fields]
    assert all(isinstance(e, FieldExplanation) and e.level != "different" for e in result.explanation)
    assert result.weight == pytest.approx(
        model.prior_weight + sum(e.weight for e in result.explanation), abs=1e-3
    )
    assert (result.config_name, result.config_version) == (model.config.name, model.config.version)
    assert result.rules_fired == ()


def test_homophone_and_date_slip_still_auto_link(model: MatchModel, persons: list[CanonicalRecord]) -> None:
    p = _han(persons)
    typo = replace(p, name=p.name[0] + "晓" + p.name[2], birth_date=p.birth_date + timedelta(days=1))
    result = score_pair(p, typo, model)
    levels = {e.field: e.level for e in result.explanation}
    assert levels["name"] in ("homophone", "pinyin_similar", "different")
    assert levels["birth_date"] == "swap_or_slip"
    assert levels["id_number"] == "exact_inconsistent"


def test_unrelated_persons_are_certainly_not(model: MatchModel, persons: list[CanonicalRecord]) -> None:
    result = score_pair(persons[1], persons[2], model)
    assert result.band == "non_match" and result.grade == "certainly-not"


def test_twins_are_never_auto_linked(model: MatchModel, persons: list[CanonicalRecord]) -> None:
    p = _han(persons)
    sequence = (p.id_number or "")[14:17]
    twin = _with_id(replace(p, name=p.name[:2] + "瑶"), f"{(int(sequence) + 2) % 1000:03d}")
    result = score_pair(p, twin, model)
    assert RULE_TWINS in result.rules_fired and RULE_DISTINCT_IDS in result.rules_fired
    assert result.band != "match"
    # A twin's record without an ID number is no safer.
    result = score_pair(p, replace(twin, id_type="none", id_number=None), model)
    assert RULE_TWINS in result.rules_fired and result.band != "match"


def test_two_valid_different_citizen_ids_veto_whatever_the_names_say(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = persons[0]
    other_id = _with_id(p, f"{(int((p.id_number or '')[14:17]) + 4) % 1000:03d}")
    result = score_pair(p, other_id, model)
    assert result.rules_fired == (RULE_DISTINCT_IDS,)
    assert result.band in ("review", "non_match")
    # Without the veto the same evidence would auto-link: the rule, not the weights, decided.
    assert result.probability >= model.config.thresholds.match_probability


def test_agreement_around_a_different_name_without_id_is_reviewed(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = replace(_han(persons), id_type="none", id_number=None)
    sibling = replace(p, name=p.name[:2] + "瑶", household_region=(p.household_region or "")[:4] + "99")
    result = score_pair(p, sibling, model)
    assert RULE_NAME_OR_ID in result.rules_fired and result.band != "match"


@pytest.mark.parametrize(
    ("probability", "vetoed", "band", "grade"),
    [
        (0.9999, False, "match", "certain"),
        (0.9999, True, "review", "probable"),
        (0.85, False, "review", "probable"),
        (0.6, False, "review", "possible"),
        (0.1, False, "non_match", "certainly-not"),
        (0.1, True, "non_match", "certainly-not"),
    ],
)
def test_bands_and_grades(
    config: MatchConfig, probability: float, vetoed: bool, band: str, grade: str
) -> None:
    t = config.thresholds
    assert t.review_probability <= 0.6 < t.probable_probability <= 0.85 < t.match_probability <= 0.9999
    assert band_of(probability, vetoed, t) == band
    assert grade_of(band_of(probability, vetoed, t), probability, t) == grade


def _result(band: str) -> MatchResult:
    return MatchResult("q", "c", 0.5, 0.0, band, "possible", (), (), "x", "1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bands", "outcome"),
    [
        ([], "no_match"),
        (["non_match", "non_match"], "no_match"),
        (["match", "non_match"], "exact_match"),
        (["match", "review"], "exact_match"),
        (["review", "non_match"], "possible_matches"),
        (["match", "match"], "too_many_matches"),
        (["review"] * 11, "too_many_matches"),
    ],
)
def test_search_outcome(config: MatchConfig, bands: list[str], outcome: str) -> None:
    assert config.thresholds.max_possible_matches == 10
    assert search_outcome([_result(b) for b in bands], config) == outcome


def test_rank_candidates_puts_the_true_person_first(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    query = replace(persons[3], record_id="query")
    ranked = rank_candidates(query, persons[:10], model)
    assert ranked[0].record_id_2 == persons[3].record_id
    assert [r.probability for r in ranked] == sorted((r.probability for r in ranked), reverse=True)
    assert search_outcome(ranked, model.config) == "exact_match"


def test_an_identical_id_number_alone_does_not_auto_link(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = _han(persons)
    stranger = replace(
        p, name="刘欣怡", guardian_name="刘强", household_region=(p.household_region or "")[:4] + "99"
    )
    result = score_pair(p, stranger, model)
    assert RULE_NAME_OR_ID in result.rules_fired and result.band != "match"
    # The same number with the same guardian and a mistyped given name is the same child.
    typo = replace(p, name=p.name[:2] + "鑫" if p.name[2] != "鑫" else p.name[:2] + "瑶")
    assert RULE_NAME_OR_ID not in score_pair(p, typo, model).rules_fired


def _elsewhere(p: CanonicalRecord) -> CanonicalRecord:
    """The same child as another office typed it: a new guardian, a household in another province,
    another ethnicity (the fields EM finds almost never changing in our generator)."""
    region = "110101" if not (p.household_region or "").startswith("11") else "310101"
    return replace(p, record_id="elsewhere", guardian_name="赵建国", household_region=region, ethnicity="03")


def test_the_same_valid_id_and_name_auto_link_whatever_the_other_fields_say(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = _han(persons)
    result = score_pair(p, _elsewhere(p), model)
    # The weights alone would not even review it: three fields disagreeing outweigh the number.
    assert result.probability < model.config.thresholds.review_probability
    assert result.band == "match" and result.grade == "certain"
    assert result.decided_by == RULE_DECISIVE and result.rules_fired == ()
    # A homophone of the name is the same name, typed another way.
    q = next(q for q in persons if len(q.name) == 3 and q.name[2] in "涵轩宇")
    homophone = replace(_elsewhere(q), name=q.name[:2] + {"涵": "晗", "轩": "宣", "宇": "雨"}[q.name[2]])
    result = score_pair(q, homophone, model)
    assert {e.field: e.level for e in result.explanation}["name"] == "homophone"
    assert result.band == "match" and result.decided_by == RULE_DECISIVE
    # Where the weights already auto-link, the rule is not what decided.
    assert score_pair(p, p, model).decided_by is None


def test_the_decisive_rule_needs_a_valid_consistent_citizen_number_and_the_name(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = _han(persons)
    # The number contradicts the record's own birth date: exact_inconsistent, not decisive.
    slipped = replace(_elsewhere(p), birth_date=p.birth_date + timedelta(days=40))
    assert score_pair(p, slipped, model).band != "match"
    # Another name around the same number: a typo can land on another child's number.
    stranger = replace(_elsewhere(p), name="刘欣怡")
    assert score_pair(p, stranger, model).band != "match"
    # A passport number is no citizen number, however consistent.
    foreign = replace(p, id_type="passport", id_number="E12345678")
    assert score_pair(foreign, replace(_elsewhere(foreign)), model).decided_by is None
    # Switched off in the configuration, the weights decide again.
    rules = model.config.hard_rules.model_copy(update={"decisive_id_and_name": False})
    off = MatchModel(model.config.model_copy(update={"hard_rules": rules}), model.m, model.u, model.prior)
    assert score_pair(p, _elsewhere(p), off).band == "non_match"


def test_a_copied_number_that_contradicts_its_own_record_is_no_veto(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = _han(persons)
    other = next(q for q in persons if q.birth_date != p.birth_date and q.id_number)
    copied = replace(p, record_id="copied", id_number=other.id_number)
    result = score_pair(p, copied, model)
    # Both numbers are valid and different, but the copied one is not this record's own.
    assert RULE_DISTINCT_IDS not in result.rules_fired
    assert result.band == "match"
    # Each number consistent with its own record: two persons, as before.
    rules = model.config.hard_rules.model_copy(update={"distinct_ids_only_consistent": False})
    strict = MatchModel(model.config.model_copy(update={"hard_rules": rules}), model.m, model.u, model.prior)
    assert RULE_DISTINCT_IDS in score_pair(p, copied, strict).rules_fired


def test_twins_of_either_gender_with_each_others_number_never_auto_link(
    model: MatchModel, persons: list[CanonicalRecord]
) -> None:
    p = _han(persons)
    sister = replace(p, record_id="twin", name=p.name[:2] + "瑶", gender="2" if p.gender == "1" else "1")
    # The twin's record carries the first child's number: no longer consistent with her own gender.
    result = score_pair(p, replace(sister, id_number=p.id_number), model)
    assert result.band != "match"
    result = score_pair(p, _with_id(sister, f"{(int((p.id_number or '')[14:17]) + 1) % 1000:03d}"), model)
    assert RULE_TWINS in result.rules_fired and result.band != "match"
    # The same number on a record of the same gender, a given name mistyped and the birth a day off:
    # nothing tells it from the child himself, the weights decide.
    typo = replace(p, record_id="typo", name=p.name[:2] + "瑶", birth_date=p.birth_date + timedelta(days=1))
    assert RULE_TWINS not in score_pair(p, typo, model).rules_fired
