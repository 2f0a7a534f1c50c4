"""Quality of a model on labelled data: precision, recall and F1 of the auto-link band and of
match+review together, the share of records sent to review, the recall of blocking, and the true pairs
missed broken down by the hard case they carry. ``gateway eval``, the quality tests and the benchmarks
read their figures from here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gateway.matching.batch import Progress, ScoredPairs, dedupe_rows
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
