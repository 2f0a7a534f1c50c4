"""The matching report: reviewers' decisions read as labels. Every problem record a reviewer decided
"same person" or "different persons" names the candidates it was opened with and their scores; the
candidate the record was resolved to (or merged with) is a true pair, every other candidate a false
one. From these pairs: precision per band and per score bucket, and a suggested pair of thresholds:

- match: the lowest observed probability t such that the decided pairs scoring at least t (leaving
  out pairs a hard rule kept from auto-linking, whatever the threshold) have at least the stated
  precision; none when no t reaches it;
- review: the lowest probability at which a reviewer found a true pair, so that every true pair
  decided so far would still reach a reviewer.

Only pairs that reached a reviewer are labelled, so a suggestion moves thresholds within the range
reviewers have seen. Thresholds change only when an operator accepts them
(``gateway matching accept-thresholds``), as a new, audited model version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.jurisdiction import Jurisdiction
from gateway.errors import FieldError, InvalidInput
from gateway.matching.config import Thresholds
from gateway.registry import repository
from gateway.registry.models import ProblemRecord
from gateway.registry.modelstore import active_model
from gateway.registry.service import RegistryDeps
from gateway.reports.schemas import MatchingReport, PrecisionFigures, SuggestedThresholds

BUCKETS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class LabelledPair:
    """A candidate a reviewer decided on: its score, band when shown, hard rules, and the verdict."""

    probability: float
    band: str
    vetoed: bool
    same: bool


def labelled_pairs(problem: ProblemRecord, positives: set[int]) -> list[LabelledPair]:
    """The candidates of a decided record (as its explanation stored them) with their labels."""
    if not problem.explanation_json:
        return []
    hits: Any = json.loads(problem.explanation_json)
    if not isinstance(hits, list):
        return []
    same = problem.decision == "same_person"
    return [
        LabelledPair(
            probability=float(hit["probability"]),
            band=str(hit["band"]),
            vetoed=bool(hit.get("rules_fired")),
            same=same and hit.get("person_id") in positives,
        )
        for hit in hits
        if isinstance(hit, dict) and hit.get("band") in ("match", "review") and "probability" in hit
    ]


def _figures(label: str, pairs: list[LabelledPair]) -> PrecisionFigures:
    true = sum(p.same for p in pairs)
    return PrecisionFigures(
        label=label, pairs=len(pairs), same=true, precision=round(true / len(pairs), 6) if pairs else None
    )


def suggest_thresholds(pairs: list[LabelledPair], precision: float) -> SuggestedThresholds:
    """The thresholds that would have met ``precision`` on these decided pairs (see the module)."""
    scored = sorted((p for p in pairs if not p.vetoed), key=lambda p: -p.probability)
    match = None
    true = total = 0
    k = 0
    while k < len(scored):
        t = scored[k].probability
        while k < len(scored) and scored[k].probability == t:
            true += scored[k].same
            total += 1
            k += 1
        if true / total >= precision:
            match = t
    found = [p.probability for p in pairs if p.same]
    return SuggestedThresholds(
        precision=precision,
        match_probability=match,
        review_probability=min(found) if found else None,
    )


def matching_quality(pairs: list[LabelledPair], precision: float, current: Thresholds) -> MatchingReport:
    """Precision per band and per score bucket, and the suggested thresholds."""
    buckets = []
    for low, high in zip(BUCKETS, (*BUCKETS[1:], 1.0000001), strict=True):
        inside = [p for p in pairs if low <= p.probability < high]
        if inside:
            buckets.append(_figures(f"[{low:g}, {min(high, 1.0):g}{']' if high > 1 else ')'}", inside))
    return MatchingReport(
        decided_pairs=len(pairs),
        bands=[_figures(band, [p for p in pairs if p.band == band]) for band in ("match", "review")],
        buckets=buckets,
        current_match_probability=current.match_probability,
        current_review_probability=current.review_probability,
        suggested=suggest_thresholds(pairs, precision),
    )


def matching_report(
    session: Session,
    deps: RegistryDeps,
    jurisdiction: Jurisdiction,
    precision: float,
    *,
    caller: Caller | None = None,
    actor: str | None = None,
) -> MatchingReport:
    """The report over the decided problem records inside ``jurisdiction``, against the active
    version's thresholds; audited (the caller's, or an operator's ``actor``)."""
    if not 0 < precision <= 1:
        raise InvalidInput(errors=[FieldError("precision", "out_of_range", "precision must be in (0, 1]")])
    pairs: list[LabelledPair] = []
    for problem in repository.decided_match_problems(session, jurisdiction):
        positives = {problem.result_person_id} if problem.result_person_id else set()
        merge = repository.merge_of_problem(session, problem.id or 0)
        if merge is not None:
            positives |= {merge.survivor_id, merge.merged_id}
        pairs.extend(labelled_pairs(problem, {int(p) for p in positives if p is not None}))
    audit.record(
        session,
        action="report.matching",
        caller=caller,
        actor=actor,
        object_type="region",
        object_ref=jurisdiction.value,
        record_count=len(pairs),
    )
    current = active_model(session, deps.model, deps.model_cache).config.thresholds
    return matching_quality(pairs, precision, current)
