"""Declarative, versioned matching configuration: the fields compared, the agreement levels of each
comparator (best first, each a list of named rules), the blocking rules, the hard rules and the
thresholds that turn a match probability into a band, a grade and a search outcome. A configuration
is validated data (TOML or JSON) so that it can be reviewed, versioned and swapped per data set without
touching code; every decision records the configuration's ``name`` and ``version``.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldKind = Literal["person_name", "date", "id_number", "region", "string", "category"]

# The rules each comparator kind understands; a level holds when any of its rules holds.
RULES_BY_KIND: dict[str, frozenset[str]] = {
    "person_name": frozenset({"exact", "same_pinyin", "same_reading", "pinyin_jaro_winkler", "else"}),
    "date": frozenset(
        {"exact", "day_month_swap", "within_days", "year_slip", "one_digit", "same_year_month", "else"}
    ),
    "id_number": frozenset(
        {"exact_consistent", "exact", "one_substitution", "adjacent_transposition", "else"}
    ),
    "region": frozenset({"prefix", "else"}),
    "string": frozenset({"exact", "jaro_winkler", "levenshtein", "else"}),
    "category": frozenset({"exact", "else"}),
}

# Transforms a blocking key part may apply to a prepared field value.
BLOCKING_TRANSFORMS: dict[str, frozenset[str]] = {
    "person_name": frozenset({"value", "pinyin", "surname_pinyin"}),
    "date": frozenset({"yyyymmdd", "yyyymm", "yyyy", "mmdd", "year_unordered_month_day"}),
    "id_number": frozenset({"value", "head14", "tail12", "region_and_sequence"}),
    "region": frozenset({"value", "prefix4", "prefix2"}),
    "string": frozenset({"value", "soundex", "first3"}),
    "category": frozenset({"value"}),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LevelSpec(_Frozen):
    """One agreement level of a comparator: it holds when any of ``rules`` holds."""

    label: str
    rules: list[str] = Field(min_length=1)
    threshold: float | None = Field(default=None, description="Similarity floor for *_jaro_winkler.")
    days: int | None = Field(default=None, ge=0, description="Tolerance of within_days.")
    length: int | None = Field(default=None, ge=1, description="Prefix length of region prefix.")
    distance: int | None = Field(default=None, ge=0, description="Maximum edits of levenshtein.")


class FieldSpec(_Frozen):
    """A compared field: where its value comes from, how it is prepared and its agreement levels."""

    name: str
    column: str
    kind: FieldKind
    levels: list[LevelSpec] = Field(min_length=2)
    missing_values: list[str] = Field(
        default_factory=list, description="Values that mean 'not known' (compared as missing)."
    )
    id_type_column: str | None = Field(default=None, description="id_number: the document type column.")
    birth_date_column: str | None = Field(
        default=None, description="id_number: the record's own birth date, for the consistency check."
    )
    gender_column: str | None = Field(
        default=None, description="id_number: the record's own gender, for the consistency check."
    )
    m_start: list[float] | None = Field(
        default=None, description="Starting m probabilities for EM, one per level (best first)."
    )
    tf_adjustment: bool = Field(
        default=False,
        description=(
            "Weigh exact agreement by how common the value is in the reference (the batch input or "
            "the registry): agreement on a rare name counts more (gateway.matching.frequencies)."
        ),
    )

    def level_codes(self, labels: list[str]) -> list[int]:
        """The codes (indexes) of the levels named ``labels`` (what rules name levels by)."""
        return [code for code, level in enumerate(self.levels) if level.label in labels]

    @model_validator(mode="after")
    def _check_levels(self) -> FieldSpec:
        allowed = RULES_BY_KIND[self.kind]
        for level in self.levels:
            unknown = set(level.rules) - allowed
            if unknown:
                raise ValueError(f"field {self.name}: rules {sorted(unknown)} unknown for kind {self.kind}")
            similarity = {"pinyin_jaro_winkler", "jaro_winkler"} & set(level.rules)
            if similarity and level.threshold is None:
                raise ValueError(f"field {self.name}, level {level.label}: threshold required")
            if "within_days" in level.rules and level.days is None:
                raise ValueError(f"field {self.name}, level {level.label}: days required")
            if "prefix" in level.rules and level.length is None:
                raise ValueError(f"field {self.name}, level {level.label}: length required")
            if "levenshtein" in level.rules and level.distance is None:
                raise ValueError(f"field {self.name}, level {level.label}: distance required")
        if self.levels[-1].rules != ["else"]:
            raise ValueError(f"field {self.name}: the last level must be rules = ['else']")
        if any("else" in level.rules for level in self.levels[:-1]):
            raise ValueError(f"field {self.name}: only the last level may use 'else'")
        if self.m_start is not None and len(self.m_start) != len(self.levels):
            raise ValueError(f"field {self.name}: m_start needs one value per level")
        return self


class BlockingRule(_Frozen):
    """A blocking key: the concatenation of ``parts`` (``field.transform``), skipped if any is empty."""

    name: str
    parts: list[str] = Field(min_length=1)
    max_block_size: int = Field(
        default=200, ge=2, description="Batch runs skip blocks larger than this (key too common)."
    )
    unordered: bool = Field(
        default=False,
        description=(
            "Sort the parts' texts before joining them, so that the key ignores which field holds "
            "which: given and family names swapped between two records still meet."
        ),
    )


class HardRules(_Frozen):
    """Rules applied on top of the weights; each caps the band at review."""

    distinct_ids_veto: bool = Field(
        default=True, description="Two valid, different citizen ID numbers never auto-link."
    )
    distinct_ids_only_consistent: bool = Field(
        default=True,
        description=(
            "The distinct-ID veto needs both numbers consistent with their own record's birth date and "
            "gender: a valid number that contradicts its own record was more likely copied from "
            "another person (a sibling's, a classmate's) than issued to this one, and says nothing "
            "of two persons; the weights decide such a pair."
        ),
    )
    decisive_id_and_name: bool = Field(
        default=True,
        description=(
            "Auto-link, whatever the weights say, when both ID numbers are the same valid citizen "
            "number at one of decisive_id_levels (consistent with both records' birth date and gender) "
            "and the names agree at one of decisive_name_levels: guardians, households and ethnicity "
            "are changed or mistyped between submissions, that evidence together is not. The vetoes "
            "still apply."
        ),
    )
    decisive_id_levels: list[str] = Field(default_factory=lambda: ["exact_consistent"])
    decisive_name_levels: list[str] = Field(default_factory=lambda: ["exact", "homophone"])
    twins_guard: bool = Field(
        default=True,
        description=(
            "Same surname, birth date and household, different given names (not homophones) and ID "
            "numbers that do not show one person (different, mistyped, missing, or the same number "
            "on records of different genders: one twin's number on the other's record): possibly "
            "twins, never auto-linked."
        ),
    )
    require_name_or_id: bool = Field(
        default=True,
        description=(
            "Auto-link only when the names agree at one of name_confirming_levels, or the ID numbers "
            "at one of id_confirming_levels and the names at one of name_levels_with_id: household, "
            "guardian and birth date agreeing around a different name is a sibling as often as a typo."
        ),
    )
    name_confirming_levels: list[str] = Field(default_factory=lambda: ["exact", "homophone"])
    id_confirming_levels: list[str] = Field(
        default_factory=lambda: ["exact_consistent", "exact_inconsistent"]
    )
    name_levels_with_id: list[str] = Field(
        default_factory=lambda: ["exact", "homophone", "pinyin_similar"],
        description=(
            "With identical ID numbers the names must still agree at one of these levels (or the "
            "guardians at guardian_confirming_levels): a typo can land on another person's valid "
            "number, so the number alone is strong, not certain."
        ),
    )
    guardian_confirming_levels: list[str] = Field(default_factory=lambda: ["exact", "homophone"])
    guardian_field: str | None = "guardian_name"
    name_field: str | None = "name"
    birth_date_field: str | None = "birth_date"
    region_field: str | None = "household_region"
    id_field: str | None = "id_number"
    gender_field: str | None = "gender"


class Thresholds(_Frozen):
    """Probability cut-offs of the bands and grades, and the search outcome limits."""

    match_probability: float = Field(gt=0, lt=1, description="At or above: auto-link.")
    review_probability: float = Field(gt=0, lt=1, description="At or above: review by a person.")
    probable_probability: float = Field(
        gt=0, lt=1, description="Review results at or above are graded probable, below possible."
    )
    max_possible_matches: int = Field(
        default=10, ge=1, description="More review-band candidates than this: too_many_matches."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.review_probability <= self.probable_probability <= self.match_probability:
            raise ValueError("thresholds must satisfy review <= probable <= match")
        return self


class EMSettings(_Frozen):
    """How ``train`` estimates parameters: u from random pairs, m and the prior by EM on blocked pairs."""

    max_iterations: int = Field(default=100, ge=1)
    tolerance: float = Field(default=1e-6, gt=0)
    random_pairs: int = Field(default=200_000, ge=1000)
    prior_start: float = Field(default=0.1, gt=0, lt=1)
    min_probability: float = Field(
        default=0.001,
        gt=0,
        lt=0.1,
        description=(
            "Floor of every estimated m and u: a level the training data never shows among matches "
            "(a guardian's homophone, say) must not become near-impossible evidence."
        ),
    )
    m_floor: float | None = Field(
        default=None,
        gt=0,
        lt=0.1,
        description=(
            "Floor of every estimated m (u keeps min_probability): the share of true pairs that "
            "disagree at a level is never taken below it. Where a field almost never changes in the "
            "data EM sees (gender, ethnicity, household), m of its disagreement would fall to "
            "min_probability and its disagreement would weigh -9 bits or more, more than data "
            "elsewhere, typed by other hands, deserves. None: min_probability."
        ),
    )
    m_by_blocking_rule: bool = Field(
        default=False,
        description=(
            "Estimate m per blocking rule (one EM session on the pairs each rule produces, the fields "
            "its key is built on left out, each field's m the mean over the sessions that did not fix "
            "it) and keep u at its random-pair estimate, the prior that of two random records. Off: "
            "one EM over all blocked pairs, where the fields blocked on agree whoever the records are."
        ),
    )
    fix_u: bool = Field(
        default=False,
        description=(
            "Keep u at its random-pair estimate. Off: EM re-estimates u among blocked pairs, which is "
            "the population candidates are actually scored in (twins, namesakes born the same day)."
        ),
    )


class MatchConfig(_Frozen):
    """A complete, named and versioned matching configuration."""

    name: str
    version: str
    description: str = ""
    record_schema: Literal["canonical", "generic"] = Field(
        default="canonical",
        description="canonical: rows are normalised by gateway.identity first; generic: compared as given.",
    )
    record_id_column: str = "record_id"
    fields: list[FieldSpec] = Field(min_length=1)
    blocking: list[BlockingRule] = Field(min_length=1)
    hard_rules: HardRules = Field(default_factory=HardRules)
    thresholds: Thresholds
    em: EMSettings = Field(default_factory=EMSettings)

    @model_validator(mode="after")
    def _check_references(self) -> MatchConfig:
        by_name = {f.name: f for f in self.fields}
        if len(by_name) != len(self.fields):
            raise ValueError("field names must be unique")
        for rule in self.blocking:
            for part in rule.parts:
                field_name, _, transform = part.partition(".")
                if field_name not in by_name:
                    raise ValueError(f"blocking {rule.name}: unknown field {field_name}")
                if transform not in BLOCKING_TRANSFORMS[by_name[field_name].kind]:
                    raise ValueError(f"blocking {rule.name}: transform {transform!r} not valid for {part}")
        hr = self.hard_rules
        if hr.distinct_ids_veto or hr.twins_guard or hr.require_name_or_id:
            refs = (hr.name_field, hr.birth_date_field, hr.region_field, hr.id_field, hr.guardian_field)
            for ref in (*refs, hr.gender_field):
                if ref is not None and ref not in by_name:
                    raise ValueError(f"hard_rules: unknown field {ref}")
        if hr.decisive_id_and_name and hr.id_field in by_name and hr.name_field in by_name:
            for ref, labels in (
                (hr.id_field, hr.decisive_id_levels),
                (hr.name_field, hr.decisive_name_levels),
            ):
                if not set(labels) <= {level.label for level in by_name[ref].levels}:
                    raise ValueError(f"hard_rules: levels {labels} not all defined for {ref}")
        if hr.require_name_or_id:
            for ref, labels in (
                (hr.name_field, hr.name_confirming_levels),
                (hr.name_field, hr.name_levels_with_id),
                (hr.id_field, hr.id_confirming_levels),
                (hr.guardian_field, hr.guardian_confirming_levels),
            ):
                known = {level.label for level in by_name[ref].levels} if ref in by_name else set()
                if ref is not None and not set(labels) <= known:
                    raise ValueError(f"hard_rules: levels {labels} not all defined for {ref}")
        return self

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


DEFAULT_CONFIG_FILE = "default_student.toml"


def parse_config(text: str, *, suffix: str = ".toml") -> MatchConfig:
    """Validate a configuration given as TOML (default) or JSON text."""
    data = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    return MatchConfig.model_validate(data)


def load_config(path: Path | None = None) -> MatchConfig:
    """Load and validate a configuration file; ``None`` loads the shipped canonical-student default."""
    if path is None:
        text = resources.files("gateway.matching").joinpath(DEFAULT_CONFIG_FILE).read_text("utf-8")
        return parse_config(text)
    return parse_config(path.read_text("utf-8"), suffix=path.suffix.lower())
