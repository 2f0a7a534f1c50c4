"""Estimating a model's parameters from unlabelled comparisons, whatever engine compared the pairs:
u from the comparison levels of random record pairs, m and the prior by EM over the levels of the
blocked candidate pairs (labels, where a data set has them, are never read). The Python batch
(``gateway.matching.batch``), the SQL executors and ``gateway train`` all hand their level matrices to
``estimate_model``; it guards against degenerate fits and falls back, field by field or whole, to the
parameters it was given as the fallback (the shipped ones), saying why. ``estimate_model_by_rule``
(``em.m_by_blocking_rule``) estimates m per blocking rule instead, with u and the prior of random pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.matching.config import MatchConfig
from gateway.matching.model import (
    EMResult,
    LevelMatrix,
    MatchModel,
    expectation_maximisation,
    fit_model,
    level_frequencies,
)

IntArray = npt.NDArray[np.int64]

# Fewer blocked pairs than this and EM has nothing to learn from: the fallback is used as it is.
MIN_BLOCKED_PAIRS = 50
# A prior giving fewer expected matches (or non-matches) than this among the blocked pairs has
# collapsed: EM found no cluster of matches worth estimating m on (or took every pair for one).
MIN_EXPECTED_MATCHES = 30
_DISAGREEMENT_CAPPED = "disagreement estimated as evidence of a match"


@dataclass(frozen=True)
class Estimate:
    """The parameters to use, how they were obtained, and what the guards replaced (one line each)."""

    model: MatchModel
    em: EMResult | None
    fallbacks: tuple[str, ...]

    @property
    def source(self) -> str:
        if self.em is None:
            return "fallback"
        return "estimated with fallbacks" if self.fallbacks else "estimated"


def random_pairs(n: int, count: int, seed: int, source: npt.NDArray[np.int8] | None = None) -> IntArray:
    """``count`` random pairs of distinct records out of ``n`` (reproducible by ``seed``); with
    ``source`` (0 or 1 per record, a link run), pairs across the two sources only."""
    rng = np.random.default_rng(seed)
    if source is not None:
        left, right = np.flatnonzero(source == 0), np.flatnonzero(source == 1)
        if not len(left) or not len(right):
            return np.empty((0, 2), dtype=np.int64)
        count = min(count, len(left) * len(right))
        return np.stack([rng.choice(left, count), rng.choice(right, count)], axis=1).astype(np.int64)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    count = min(count, n * (n - 1) // 2)
    i = rng.integers(0, n, count)
    j = rng.integers(0, n - 1, count)
    j = j + (j >= i)  # never a record with itself
    return np.stack([i, j], axis=1).astype(np.int64)


def estimate_model(
    random_levels: LevelMatrix,
    blocked_levels: LevelMatrix,
    fallback: MatchModel,
    description: str,
) -> Estimate:
    """u from ``random_levels``, m and the prior by EM on ``blocked_levels`` (pairs x fields, -1
    missing), for ``fallback``'s configuration.

    Guards: too few blocked pairs, a prior that collapses (EM finds next to no matches, or next to
    no non-matches), parameters that are not finite, or more than half the fields degenerate give the
    fallback whole; a field with a level never observed among the blocked pairs, or whose exact level
    the fit makes no more likely among matches than among random pairs (the fit followed another
    cluster, a household rather than a person), keeps the fallback's m and u for that field.
    """
    config = fallback.config
    n = len(blocked_levels)
    if n < MIN_BLOCKED_PAIRS or not len(random_levels):
        why = f"only {n} blocked pairs" if n < MIN_BLOCKED_PAIRS else "no random pairs"
        return Estimate(fallback, None, (f"{why}: nothing to learn from, parameters {fallback.trained}",))
    fitted, em = fit_model(config, random_levels, blocked_levels, description)
    values = [em.prior, *(x for v in em.m + em.u for x in v)]
    if not np.all(np.isfinite(values)):
        return Estimate(fallback, None, ("EM gave non-finite parameters: the fallback is used",))
    if min(em.prior, 1 - em.prior) * n < MIN_EXPECTED_MATCHES:
        message = (
            f"EM prior collapsed to {em.prior:.3g} over {n} blocked pairs (fewer than "
            f"{MIN_EXPECTED_MATCHES} pairs judged matches, or non-matches): the fallback parameters are used"
        )
        return Estimate(fallback, None, (message,))
    m, u = list(fitted.m), list(fitted.u)
    # Among blocked pairs a field the blocking keys are built on agrees often whoever the records
    # are; whether agreement is evidence at all is judged against random pairs.
    u_random = level_frequencies(random_levels, [len(spec.levels) for spec in config.fields])
    fallbacks: list[str] = []
    kept: set[int] = set()
    for f, spec in enumerate(config.fields):
        column = blocked_levels[:, f]
        seen = np.bincount(column[column >= 0], minlength=len(spec.levels))
        unseen = [spec.levels[k].label for k in range(len(spec.levels)) if seen[k] == 0]
        reason: str | None = None
        if unseen:
            reason = f"level {', '.join(unseen)} never observed among {n} blocked pairs"
        elif m[f][0] <= u_random[f][0]:
            reason = (
                "exact agreement estimated as no evidence of a match "
                f"(m {m[f][0]:.3g} <= u {u_random[f][0]:.3g} among random pairs)"
            )
        if reason is not None:
            m[f], u[f] = fallback.m[f], fallback.u[f]
            kept.add(f)
            fallbacks.append(f"field {spec.name}: {reason}; its m/u are the fallback's")
    if len(fallbacks) * 2 > len(config.fields):
        message = (
            f"{len(fallbacks)} of {len(config.fields)} fields degenerate: the fallback parameters are used"
        )
        return Estimate(fallback, None, (*fallbacks, message))
    for f, spec in enumerate(config.fields):
        if f not in kept and m[f][-1] > u[f][-1]:
            m[f] = _no_evidence_in_disagreement(m[f], u[f][-1])
            fallbacks.append(
                f"field {spec.name}: {_DISAGREEMENT_CAPPED} (m "
                f"{fitted.m[f][-1]:.3g} > u {u[f][-1]:.3g}); weighed as no evidence"
            )
    model = MatchModel(config, tuple(m), tuple(u), fitted.prior, fitted.trained)
    return Estimate(model, em, tuple(fallbacks))


def _no_evidence_in_disagreement(m: tuple[float, ...], u_last: float) -> tuple[float, ...]:
    """``m`` with its last level ('else', the values disagree) lowered to ``u_last`` (weight 0) and the
    other levels scaled up to keep the sum: among blocked pairs, where the keys make agreement common
    whoever the records are, EM can find disagreement a little likelier among matches than among the
    rest, which no data set means."""
    rest = sum(m[:-1])
    scale = (1.0 - u_last) / rest if rest > 0 else 1.0
    return (*(round(x * scale, 10) for x in m[:-1]), u_last)


def fields_fixed_by_rules(config: MatchConfig) -> list[frozenset[int]]:
    """For every blocking rule, the fields its key is built on (in part or whole): among the pairs
    the rule produces they agree whoever the records are, so those pairs say nothing of their m."""
    index = {spec.name: f for f, spec in enumerate(config.fields)}
    return [
        frozenset(index[part.partition(".")[0]] for part in rule.parts if part.partition(".")[0] in index)
        for rule in config.blocking
    ]


def estimate_model_by_rule(
    random_levels: LevelMatrix,
    blocked_levels: LevelMatrix,
    rule_levels: Sequence[LevelMatrix],
    total_pairs: int,
    fallback: MatchModel,
    description: str,
) -> Estimate:
    """m estimated per blocking rule, u from random pairs (``em.m_by_blocking_rule``).

    ``rule_levels`` holds, for every blocking rule of the configuration, the levels of the candidate
    pairs that rule produced (a pair produced by several rules is in each). One EM session per rule,
    u fixed at its random-pair estimate, the fields the rule's key is built on left out (missing):
    each field's m is the mean over the sessions that did not fix it. The prior becomes the chance
    that two records drawn at random match: the matches EM expects among all blocked pairs over
    ``total_pairs`` (every pair the input could form), since u now describes random pairs, not
    blocked ones. ``estimate_model`` on the blocked pairs runs first: its guards hold as they are, and
    a field it gave the fallback's m and u keeps them; a session with too few pairs or expected
    matches is left out, with a line saying so.
    """
    first = estimate_model(random_levels, blocked_levels, fallback, description)
    if first.em is None:
        return first
    config = fallback.config
    n_levels = [len(spec.levels) for spec in config.fields]
    u_random = level_frequencies(random_levels, n_levels)
    kept = {f for f, spec in enumerate(config.fields) if first.model.m[f] == fallback.m[f]}
    fixed_by = fields_fixed_by_rules(config)
    notes: list[str] = []
    sums = [np.zeros(n) for n in n_levels]
    sessions = [0] * len(n_levels)
    for rule, levels, fixed in zip(config.blocking, rule_levels, fixed_by, strict=True):
        free = [f for f in range(len(n_levels)) if f not in fixed]
        if len(levels) < MIN_BLOCKED_PAIRS:
            notes.append(f"rule {rule.name}: only {len(levels)} pairs, no m estimated on them")
            continue
        held_out = levels.copy()
        held_out[:, sorted(fixed)] = -1
        em = expectation_maximisation(
            held_out,
            u_random,
            [np.asarray(x, dtype=np.float64) for x in first.model.m],
            0.5,
            config.em.max_iterations,
            config.em.tolerance,
            True,
            config.em.min_probability,
            config.em.m_floor,
        )
        finite = np.all(np.isfinite([em.prior, *(x for f in free for x in em.m[f])]))
        if not finite or em.prior * len(levels) < MIN_EXPECTED_MATCHES:
            notes.append(f"rule {rule.name}: EM found no cluster of matches among {len(levels)} pairs")
            continue
        for f in free:
            sums[f] += em.m[f]
            sessions[f] += 1
    m = list(first.model.m)
    u = list(first.model.u)
    for f, spec in enumerate(config.fields):
        if f in kept:
            continue
        if sessions[f]:
            m[f] = tuple(round(float(x), 10) for x in sums[f] / sessions[f])
        else:
            notes.append(
                f"field {spec.name}: fixed by every rule that was estimated; m among all blocked pairs"
            )
        u[f] = tuple(round(float(x), 10) for x in u_random[f])
        if m[f][-1] > u[f][-1]:
            notes.append(
                f"field {spec.name}: {_DISAGREEMENT_CAPPED} (m "
                f"{m[f][-1]:.3g} > u {u[f][-1]:.3g}); weighed as no evidence"
            )
            m[f] = _no_evidence_in_disagreement(m[f], u[f][-1])
    em_first = first.em
    prior = min(em_first.prior * len(blocked_levels) / max(total_pairs, 1), 0.5)
    model = MatchModel(config, tuple(m), tuple(u), round(prior, 12), first.model.trained)
    # The first fit's fields kept at the fallback stand; its cap of disagreement was on its own m.
    kept_notes = [line for line in first.fallbacks if _DISAGREEMENT_CAPPED not in line]
    return Estimate(model, em_first, (*kept_notes, *notes))
