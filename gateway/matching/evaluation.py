"""Quality of a model on labelled data: precision, recall and F1 of the auto-link band and of
match+review together, the share of records sent to review, the recall of blocking, and the true pairs
missed broken down by the hard case they carry; and why true pairs missed the auto-link band (never
blocked, a hard rule, or a score below the threshold with the fields that disagreed). ``gateway eval``,
the quality tests and the benchmarks read their figures from here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.matching.batch import Progress, ScoredPairs, dedupe_rows
from gateway.matching.config import MatchConfig
from gateway.matching.model import MatchModel
from gateway.matching.synthetic import LabelledData


@dataclass(frozen=True)
class BandQuality:
    """Pair-level quality of one band (or of bands taken together)."""

    band: str
    pairs: int
    true_positives: int
    precision: float
    recall: float
    f1: float


def band_quality(band: str, predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> BandQuality:
    """Precision, recall and F1 of a set of predicted pairs against the true pairs."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BandQuality(band, len(predicted), tp, precision, recall, f1)


@dataclass(frozen=True)
class Evaluation:
    """Everything ``gateway eval`` prints."""

    records: int
    true_pairs: int
    candidate_pairs: int
    blocking_recall: float
    bands: list[BandQuality]
    review_share: float
    missed_by_case: dict[str, int] = field(default_factory=dict)
    false_links_by_case: dict[str, int] = field(default_factory=dict)

    def band(self, name: str) -> BandQuality:
        return next(b for b in self.bands if b.band == name)


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def evaluate_scored(data: LabelledData, ids: list[str], scored: ScoredPairs) -> Evaluation:
    """Compare scored pairs with the labels of ``data``."""
    truth = data.true_pairs()
    match: set[tuple[str, str]] = set()
    review: set[tuple[str, str]] = set()
    candidates: set[tuple[str, str]] = set()
    for (i, j), band in zip(scored.pairs.tolist(), scored.band.tolist(), strict=True):
        pair = _ordered(ids[i], ids[j])
        candidates.add(pair)
        if band == 2:
            match.add(pair)
        elif band == 1:
            review.add(pair)
    missed = Counter(
        case for a, b in truth - match - review for case in set(data.cases[a]) | set(data.cases[b])
    )
    false_links = Counter(case for a, b in match - truth for case in set(data.cases[a]) | set(data.cases[b]))
    return Evaluation(
        records=len(ids),
        true_pairs=len(truth),
        candidate_pairs=len(candidates),
        blocking_recall=len(candidates & truth) / len(truth) if truth else 1.0,
        bands=[
            band_quality("match", match, truth),
            band_quality("review", review, truth),
            band_quality("match+review", match | review, truth),
        ],
        review_share=len(review) / len(ids) if ids else 0.0,
        missed_by_case=dict(missed.most_common()),
        false_links_by_case=dict(false_links.most_common()),
    )


def evaluate_model(
    data: LabelledData, model: MatchModel, progress: Progress | None = None, learning: bool = False
) -> Evaluation:
    """Deduplicate the labelled rows with ``model`` (with ``learning``, parameters estimated on the
    rows, ``model`` the fallback; labels unused) and measure the result."""
    prepared, scored = dedupe_rows(data.rows, model, progress, learning=learning)
    return evaluate_scored(data, [r.record_id for r in prepared.records], scored)


# --- why true pairs miss the auto-link band --------------------------------------------------------

NEVER_BLOCKED = "never blocked"
BELOW_THRESHOLD = "below the match threshold"


@dataclass(frozen=True)
class PairOutcome:
    """One scored candidate pair as any engine reports it: levels per field (-1 missing), the hard
    rules fired (``scoring.RULE_*``), the probability and the band (0 non-match, 1 review, 2 match)."""

    pair: tuple[str, str]
    levels: tuple[int, ...]
    rules: tuple[str, ...]
    probability: float
    band: int


@dataclass(frozen=True)
class MissBreakdown:
    """True pairs that did not auto-link, by cause: ``never blocked``; a hard rule that capped a
    probability at or above the match threshold (rules joined with ``+``); or ``below the match
    threshold``, then counted by the fields that did not agree exactly (``field=level``, a missing
    value as ``field=missing``), alone and as patterns. ``in_review`` counts the causes' pairs that
    still reached a reviewer."""

    true_pairs: int
    missed: int
    causes: dict[str, int]
    in_review: dict[str, int]
    fields_below: dict[str, int]
    patterns_below: dict[str, int]
    cases_by_cause: dict[str, dict[str, int]] = field(default_factory=dict)


def miss_breakdown(
    truth: set[tuple[str, str]],
    outcomes: Iterable[PairOutcome],
    config: MatchConfig,
    cases: dict[str, tuple[str, ...]] | None = None,
) -> MissBreakdown:
    """Why each true pair (ids ordered, smaller first) missed auto-linking; ``cases`` (the labelled
    data's hard cases per record) adds which hard cases each cause's pairs carry."""
    seen: dict[tuple[str, str], PairOutcome] = {}
    for scored in outcomes:
        pair = _ordered(*scored.pair)
        if pair in truth:
            seen[pair] = scored
    causes: Counter[str] = Counter()
    in_review: Counter[str] = Counter()
    fields_below: Counter[str] = Counter()
    patterns_below: Counter[str] = Counter()
    by_cause: dict[str, Counter[str]] = {}
    threshold = config.thresholds.match_probability
    for pair in sorted(truth):
        outcome = seen.get(pair)
        if outcome is not None and outcome.band == 2:
            continue
        if outcome is None:
            cause = NEVER_BLOCKED
        elif outcome.probability >= threshold and outcome.rules:
            cause = "+".join(outcome.rules)
        else:
            cause = BELOW_THRESHOLD
            disagreeing = [
                f"{spec.name}={'missing' if level < 0 else spec.levels[level].label}"
                for spec, level in zip(config.fields, outcome.levels, strict=True)
                if level != 0
            ]
            fields_below.update(disagreeing)
            patterns_below[", ".join(disagreeing) or "(every field exact)"] += 1
        causes[cause] += 1
        if outcome is not None and outcome.band == 1:
            in_review[cause] += 1
        if cases is not None:
            by_cause.setdefault(cause, Counter()).update(set(cases[pair[0]]) | set(cases[pair[1]]))
    return MissBreakdown(
        true_pairs=len(truth),
        missed=sum(causes.values()),
        causes=dict(causes.most_common()),
        in_review=dict(in_review.most_common()),
        fields_below=dict(fields_below.most_common()),
        patterns_below=dict(patterns_below.most_common()),
        cases_by_cause={cause: dict(c.most_common()) for cause, c in by_cause.items()},
    )
