"""Scoring a pair of records: the per-field agreement levels and weights, the Fellegi-Sunter match
weight and probability, the hard rules that may veto an auto-link whatever the weights say (twins; two
valid, different citizen ID numbers; no name or ID agreement), the one rule that auto-links whatever the
weights say (the same valid citizen ID number and the same name), the resulting band (match, review,
non_match) and FHIR-style grade, and the outcome of a search over ranked candidates. Every result
explains itself and names the configuration and version that produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.identity import CanonicalRecord
from gateway.matching.blocking import record_to_row
from gateway.matching.comparators import (
    DateValue,
    FieldValue,
    IdValue,
    NameValue,
    PreparedRecord,
    compare_levels,
    prepare_row,
    same_reading,
)
from gateway.matching.config import MatchConfig, Thresholds
from gateway.matching.frequencies import exact_key
from gateway.matching.model import MatchModel, probability_from_weight

Band = Literal["match", "review", "non_match"]
Grade = Literal["certain", "probable", "possible", "certainly-not"]
SearchOutcome = Literal["no_match", "possible_matches", "exact_match", "too_many_matches"]

RULE_TWINS = "twins_guard"
RULE_DISTINCT_IDS = "distinct_citizen_ids"
RULE_NAME_OR_ID = "no_name_or_id_agreement"
RULE_DECISIVE = "same_citizen_id_and_name"


@dataclass(frozen=True, slots=True)
class FieldExplanation:
    """How one field contributed: its agreement level (``missing`` if unknown) and weight (log2);
    ``tf``, when the weight was adjusted for how common the agreed value is, that frequency."""

    field: str
    level: str
    weight: float
    tf: float | None = None


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The decision on one pair, with everything needed to explain and audit it."""

    record_id_1: str
    record_id_2: str
    probability: float
    weight: float
    band: Band
    grade: Grade
    explanation: tuple[FieldExplanation, ...]
    rules_fired: tuple[str, ...]
    config_name: str
    config_version: str
    model_version: int | None = None  # the registry's model version (None: a file's parameters)
    decided_by: str | None = None  # RULE_DECISIVE when that rule, not the probability, auto-linked


def _value(record: PreparedRecord, index: int | None) -> FieldValue:
    return None if index is None else record.values[index]


def _level_in(config: MatchConfig, levels: Sequence[int], field_index: int | None, labels: list[str]) -> bool:
    if field_index is None or levels[field_index] < 0:
        return False
    return levels[field_index] in config.fields[field_index].level_codes(labels)


def _same_or_next_day(a: DateValue, b: DateValue) -> bool:
    # Twins' records slip a day as easily as anyone's; births either side of midnight happen too.
    if a.digits == b.digits:
        return True
    return a.ordinal is not None and b.ordinal is not None and abs(a.ordinal - b.ordinal) <= 1


def hard_rules_fired(
    a: PreparedRecord, b: PreparedRecord, config: MatchConfig, levels: Sequence[int]
) -> tuple[str, ...]:
    """Names of the hard rules that forbid auto-linking this pair (``levels`` as compared)."""
    rules = config.hard_rules
    index = {spec.name: i for i, spec in enumerate(config.fields)}
    id_a = _value(a, index.get(rules.id_field or ""))
    id_b = _value(b, index.get(rules.id_field or ""))
    distinct_ids = (
        isinstance(id_a, IdValue) and isinstance(id_b, IdValue)
        and id_a.citizen_valid and id_b.citizen_valid and id_a.number != id_b.number
        and (not rules.distinct_ids_only_consistent or (id_a.consistent and id_b.consistent))
    )  # fmt: skip
    fired: list[str] = []
    gender_a = _value(a, index.get(rules.gender_field or ""))
    gender_b = _value(b, index.get(rules.gender_field or ""))
    genders_differ = isinstance(gender_a, str) and isinstance(gender_b, str) and gender_a != gender_b
    same_id = (
        isinstance(id_a, IdValue) and isinstance(id_b, IdValue) and id_a.number == id_b.number
        and not genders_differ
    )  # fmt: skip
    if rules.twins_guard and not same_id:
        # Broader than "two valid, different ID numbers": a twin's record with a mistyped or missing
        # number is as dangerous, and only a person can tell it from a given-name typo; so is a
        # twin's record carrying her brother's number (the same number, the genders differing).
        name_a = _value(a, index.get(rules.name_field or ""))
        name_b = _value(b, index.get(rules.name_field or ""))
        birth_a = _value(a, index.get(rules.birth_date_field or ""))
        birth_b = _value(b, index.get(rules.birth_date_field or ""))
        region_a = _value(a, index.get(rules.region_field or ""))
        region_b = _value(b, index.get(rules.region_field or ""))
        if (
            isinstance(name_a, NameValue) and isinstance(name_b, NameValue)
            and name_a.surname == name_b.surname != "" and name_a.text != name_b.text
            and not same_reading(name_a, name_b)
            and isinstance(birth_a, DateValue) and isinstance(birth_b, DateValue)
            and _same_or_next_day(birth_a, birth_b)
            and isinstance(region_a, str) and isinstance(region_b, str) and region_a[:4] == region_b[:4]
        ):  # fmt: skip
            fired.append(RULE_TWINS)
    if rules.distinct_ids_veto and distinct_ids:
        fired.append(RULE_DISTINCT_IDS)
    name_index = index.get(rules.name_field or "")
    if rules.require_name_or_id and not (
        _level_in(config, levels, name_index, rules.name_confirming_levels)
        or (
            _level_in(config, levels, index.get(rules.id_field or ""), rules.id_confirming_levels)
            and (
                _level_in(config, levels, name_index, rules.name_levels_with_id)
                or _level_in(
                    config, levels, index.get(rules.guardian_field or ""), rules.guardian_confirming_levels
                )
            )
        )
    ):
        fired.append(RULE_NAME_OR_ID)
    return tuple(fired)


def decisive_rule(
    a: PreparedRecord, b: PreparedRecord, config: MatchConfig, levels: Sequence[int]
) -> str | None:
    """``RULE_DECISIVE`` when the pair auto-links whatever its weights: the same valid citizen ID
    number, consistent with both records (``decisive_id_levels``), and names agreeing at
    ``decisive_name_levels``. Weights estimated where a field almost never changes punish its
    disagreement too hard elsewhere; this evidence does not depend on them."""
    rules = config.hard_rules
    index = {spec.name: i for i, spec in enumerate(config.fields)}
    doc = index.get(rules.id_field or "")
    if (
        not rules.decisive_id_and_name or doc is None or config.fields[doc].kind != "id_number"
        or not _level_in(config, levels, doc, rules.decisive_id_levels)
        or not _level_in(config, levels, index.get(rules.name_field or ""), rules.decisive_name_levels)
    ):  # fmt: skip
        return None
    id_a, id_b = a.values[doc], b.values[doc]
    valid = (
        isinstance(id_a, IdValue) and isinstance(id_b, IdValue) and id_a.citizen_valid and id_b.citizen_valid
    )
    return RULE_DECISIVE if valid else None


def band_of(probability: float, vetoed: bool, thresholds: Thresholds, decisive: bool = False) -> Band:
    """The band of a probability; a vetoed pair is at most reviewed, never auto-linked; a decisive
    one (``decisive_rule``) auto-links unless vetoed."""
    if (probability >= thresholds.match_probability or decisive) and not vetoed:
        return "match"
    if probability >= thresholds.review_probability or (
        vetoed and probability >= thresholds.match_probability
    ):
        return "review"
    return "non_match"


def grade_of(band: Band, probability: float, thresholds: Thresholds) -> Grade:
    """FHIR $match grade: certain (auto-link), probable or possible (review), certainly-not."""
    if band == "match":
        return "certain"
    if band == "review":
        return "probable" if probability >= thresholds.probable_probability else "possible"
    return "certainly-not"


def score_prepared(a: PreparedRecord, b: PreparedRecord, model: MatchModel) -> MatchResult:
    """Score two prepared records."""
    config = model.config
    levels = compare_levels(a, b, model.comparators)
    explanation = []
    weight = model.prior_weight
    frequencies = model.frequencies
    for i, (spec, level) in enumerate(zip(config.fields, levels, strict=True)):
        w = model.level_weight(i, level)
        tf = None
        if level == 0 and frequencies is not None and i in model.tf_fields:
            tf = frequencies.tf(spec.name, exact_key(a.values[i]))
            if tf is not None:
                w = model.exact_weight_tf(i, tf)
        weight += w
        label = "missing" if level < 0 else spec.levels[level].label
        explanation.append(
            FieldExplanation(spec.name, label, round(w, 4), None if tf is None else round(tf, 8))
        )
    probability = probability_from_weight(weight)
    fired = hard_rules_fired(a, b, config, levels)
    decided_by = decisive_rule(a, b, config, levels)
    band = band_of(probability, bool(fired), config.thresholds, decided_by is not None)
    return MatchResult(
        record_id_1=a.record_id,
        record_id_2=b.record_id,
        probability=probability,
        weight=round(weight, 4),
        band=band,
        grade=grade_of(band, probability, config.thresholds),
        explanation=tuple(explanation),
        rules_fired=fired,
        config_name=config.name,
        config_version=config.version,
        model_version=model.version,
        decided_by=decided_by
        if band == "match" and probability < config.thresholds.match_probability
        else None,
    )


def prepare_record(record: CanonicalRecord, config: MatchConfig) -> PreparedRecord:
    """Prepare a canonical record for scoring (do it once per record when scoring many pairs)."""
    return prepare_row(record_to_row(record), config)


def score_pair(a: CanonicalRecord, b: CanonicalRecord, model: MatchModel) -> MatchResult:
    """Score two canonical records: probability, weight, band, grade, explanation, hard rules."""
    return score_prepared(prepare_record(a, model.config), prepare_record(b, model.config), model)


def rank_candidates(
    query: CanonicalRecord, candidates: list[CanonicalRecord], model: MatchModel
) -> list[MatchResult]:
    """Score a query against candidates fetched by blocking key, best first."""
    config = model.config
    return rank_prepared(
        prepare_record(query, config), [prepare_record(c, config) for c in candidates], model
    )


def rank_prepared(
    query: PreparedRecord, candidates: Sequence[PreparedRecord], model: MatchModel
) -> list[MatchResult]:
    """``rank_candidates`` for records prepared already (each once, however many searches use it)."""
    results = [score_prepared(query, c, model) for c in candidates]
    return sorted(results, key=lambda r: (-r.probability, r.record_id_2))


def search_outcome(results: list[MatchResult], config: MatchConfig) -> SearchOutcome:
    """The outcome of a search: one auto-link candidate is an exact match; none above review is no
    match; more than one auto-link candidate, or too many to review, is too many matches."""
    matches = sum(1 for r in results if r.band == "match")
    reviews = sum(1 for r in results if r.band == "review")
    if matches > 1 or reviews > config.thresholds.max_possible_matches:
        return "too_many_matches"
    if matches == 1:
        return "exact_match"
    if reviews:
        return "possible_matches"
    return "no_match"
