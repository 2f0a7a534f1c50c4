"""Estimating parameters from unlabelled comparisons (``estimate_model``): EM recovers known m and u
from generated comparison levels, and the guards fall back, saying why, when the fit is degenerate."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.matching import MatchModel, load_model
from gateway.matching.training import (
    estimate_model,
    estimate_model_by_rule,
    fields_fixed_by_rules,
    random_pairs,
)


def _draw(rng: np.random.Generator, probabilities: tuple[tuple[float, ...], ...], n: int) -> np.ndarray:
    return np.stack([rng.choice(len(p), size=n, p=p) for p in probabilities], axis=1).astype(np.int8)


def _drawn_model(
    shipped: MatchModel, seed: int, best: tuple[float, float], worst: tuple[float, float], prior: float
) -> MatchModel:
    """A model of the shipped configuration with m and u drawn at random: m of the first level in
    ``best``, u of the last level in ``worst``, the other levels sharing the rest."""
    rng = np.random.default_rng(seed)
    m, u = [], []
    for spec in shipped.config.fields:
        n = len(spec.levels)
        first = rng.uniform(*best)
        m.append(tuple([first, *((1 - first) * rng.dirichlet(np.full(n - 1, 5.0)))]))
        last = rng.uniform(*worst)
        u.append(tuple([*((1 - last) * rng.dirichlet(np.full(n - 1, 5.0))), last]))
    return MatchModel(shipped.config, tuple(m), tuple(u), prior)


def _known(shipped: MatchModel) -> MatchModel:
    """m and u unlike the shipped ones (every level likely enough to be observed among 20,000 pairs)."""
    return _drawn_model(shipped, 11, (0.6, 0.85), (0.55, 0.85), 0.25)


def _discriminating(shipped: MatchModel) -> MatchModel:
    """Like ``_known``, with the values of random pairs mostly different (as names, dates and ID
    numbers are): blocked on, they leave few non-matches among the pairs a rule produces."""
    return _drawn_model(shipped, 21, (0.7, 0.9), (0.9, 0.97), 0.01)


def test_em_recovers_known_m_and_u_within_a_tolerance() -> None:
    shipped = load_model()
    truth = _known(shipped)
    rng = np.random.default_rng(5)
    matches, non_matches = 5_000, 15_000
    blocked = np.concatenate([_draw(rng, truth.m, matches), _draw(rng, truth.u, non_matches)])
    blocked[rng.random(blocked.shape) < 0.03] = -1  # some values missing
    random = _draw(rng, truth.u, 100_000)
    estimate = estimate_model(random, blocked, shipped, "generated")
    assert estimate.em is not None and estimate.fallbacks == ()
    assert estimate.source == "estimated"
    assert estimate.model.prior == pytest.approx(0.25, abs=0.02)
    for estimated, true in zip(estimate.model.m + estimate.model.u, truth.m + truth.u, strict=True):
        assert np.allclose(estimated, true, atol=0.03), (estimated, true)
    assert estimate.model.m != shipped.m  # learnt, not the fallback


def test_a_level_never_observed_keeps_the_fallback_for_that_field_and_says_so() -> None:
    shipped = load_model()
    truth = _known(shipped)
    rng = np.random.default_rng(6)
    blocked = np.concatenate([_draw(rng, truth.m, 3_000), _draw(rng, truth.u, 9_000)])
    random = _draw(rng, truth.u, 50_000)
    gender = [s.name for s in shipped.config.fields].index("gender")
    blocked[:, gender] = 0  # gender never disagrees among the blocked pairs
    estimate = estimate_model(random, blocked, shipped, "generated")
    assert estimate.source == "estimated with fallbacks"
    assert estimate.model.m[gender] == shipped.m[gender] and estimate.model.u[gender] == shipped.u[gender]
    assert len(estimate.fallbacks) == 1
    assert "field gender" in estimate.fallbacks[0] and "different never observed" in estimate.fallbacks[0]
    others = [f for f in range(len(shipped.m)) if f != gender]
    assert all(estimate.model.m[f] != shipped.m[f] for f in others)


def test_a_collapsing_prior_falls_back_to_the_shipped_parameters() -> None:
    shipped = load_model()
    truth = _known(shipped)
    rng = np.random.default_rng(7)
    # Blocked pairs that look exactly like random ones: nothing among them is a match.
    blocked = _draw(rng, truth.u, 5_000)
    random = _draw(rng, truth.u, 50_000)
    estimate = estimate_model(random, blocked, shipped, "generated")
    assert estimate.em is None and estimate.model is shipped
    assert "prior collapsed" in estimate.fallbacks[0]


def test_most_fields_degenerate_fall_back_whole() -> None:
    shipped = load_model()
    truth = _known(shipped)
    rng = np.random.default_rng(9)
    blocked = np.concatenate([_draw(rng, truth.m, 3_000), _draw(rng, truth.u, 9_000)])
    for f in (0, 1, 3, 4):  # name, birth date, ID number, guardian: only exact or different
        blocked[:, f] = np.where(blocked[:, f] > 0, len(shipped.config.fields[f].levels) - 1, 0)
    estimate = estimate_model(_draw(rng, truth.u, 50_000), blocked, shipped, "generated")
    assert estimate.model is shipped and estimate.em is None
    assert estimate.fallbacks[-1] == "4 of 7 fields degenerate: the fallback parameters are used"


def test_too_few_blocked_pairs_fall_back() -> None:
    shipped = load_model()
    rng = np.random.default_rng(8)
    estimate = estimate_model(_draw(rng, shipped.u, 1000), _draw(rng, shipped.m, 10), shipped, "tiny")
    assert estimate.model is shipped and "only 10 blocked pairs" in estimate.fallbacks[0]


def test_random_pairs_are_distinct_records_and_cross_sources_in_a_link() -> None:
    pairs = random_pairs(100, 2000, seed=1)
    assert len(pairs) == 2000 and (pairs[:, 0] != pairs[:, 1]).all() and pairs.max() < 100
    assert len(random_pairs(50, 2000, seed=1)) == 50 * 49 // 2  # never more than there are
    source = np.array([0] * 10 + [1] * 40, dtype=np.int8)
    across = random_pairs(50, 300, seed=1, source=source)
    assert (source[across[:, 0]] == 0).all() and (source[across[:, 1]] == 1).all()


def test_disagreement_is_never_weighed_as_evidence_of_a_match() -> None:
    shipped = load_model()
    truth = _known(shipped)
    rng = np.random.default_rng(8)
    blocked = np.concatenate([_draw(rng, truth.m, 4_000), _draw(rng, truth.u, 12_000)])
    random = _draw(rng, truth.u, 60_000)
    name = [s.name for s in shipped.config.fields].index("name")
    # Names disagree among the matches more often than among the other blocked pairs (exact agreement
    # is still likelier among matches than among random pairs, so the field is not degenerate).
    blocked[:4_000, name] = np.where(rng.random(4_000) < 0.95, 3, 0)
    random[:, name] = np.where(rng.random(len(random)) < 0.01, 0, 3)
    estimate = estimate_model(random, blocked, shipped, "generated")
    assert estimate.em is not None
    assert any("field name: disagreement estimated as evidence" in line for line in estimate.fallbacks)
    m, u = estimate.model.m[name], estimate.model.u[name]
    assert m != shipped.m[name]  # learnt, then capped, not the fallback's
    assert m[-1] == pytest.approx(u[-1]) and estimate.model.level_weight(name, 3) == pytest.approx(0.0)
    assert sum(m) == pytest.approx(1.0)


def test_m_floor_keeps_every_level_of_m_off_the_floor_of_probabilities() -> None:
    shipped = load_model()
    assert shipped.config.em.m_floor == 0.01
    truth = _known(shipped)
    rng = np.random.default_rng(9)
    blocked = np.concatenate([_draw(rng, truth.m, 4_000), _draw(rng, truth.u, 12_000)])
    random = _draw(rng, truth.u, 60_000)
    gender = [s.name for s in shipped.config.fields].index("gender")
    blocked[:4_000, gender] = 0  # the matches never disagree on gender; some non-matches do
    floored = estimate_model(random, blocked, shipped, "generated").model
    em = shipped.config.em.model_copy(update={"m_floor": None})
    plain = MatchModel(shipped.config.model_copy(update={"em": em}), shipped.m, shipped.u, shipped.prior)
    unfloored = estimate_model(random, blocked, plain, "generated").model
    assert unfloored.m[gender][1] < 0.002  # at min_probability: disagreeing weighs about -8 bits
    assert floored.m[gender][1] == pytest.approx(0.01, rel=0.05)
    assert floored.level_weight(gender, 1) > unfloored.level_weight(gender, 1) + 2


def _blocked_universe(
    shipped: MatchModel, truth: MatchModel, seed: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Every pair of a generated input as comparison levels (matches drawn from ``truth.m``, the rest
    from ``truth.u``), blocked as the configuration's rules block: a rule produces a pair when every
    field its key is built on agrees exactly. Returns all pairs, the match labels, each rule's mask
    and the union of the masks."""
    rng = np.random.default_rng(seed)
    matches, non_matches = 6_000, 600_000
    universe = np.concatenate([_draw(rng, truth.m, matches), _draw(rng, truth.u, non_matches)])
    is_match = np.r_[np.ones(matches, dtype=bool), np.zeros(non_matches, dtype=bool)]
    masks = [
        np.all(universe[:, sorted(fixed)] == 0, axis=1) for fixed in fields_fixed_by_rules(shipped.config)
    ]
    return universe, is_match, masks, np.any(masks, axis=0)


def test_em_per_blocking_rule_recovers_known_m_where_one_em_over_blocked_pairs_cannot() -> None:
    shipped = load_model()
    truth = _discriminating(shipped)
    universe, is_match, masks, blocked = _blocked_universe(shipped, truth, 12)
    rng = np.random.default_rng(13)
    # Random pairs from the non-matches: among all pairs of a real input matches are next to none.
    others = universe[~is_match]
    random = others[rng.integers(0, len(others), 200_000)]
    whole = estimate_model(random, universe[blocked], shipped, "generated")
    by_rule = estimate_model_by_rule(
        random, universe[blocked], [universe[mask] for mask in masks], len(universe), shipped, "generated"
    )
    assert by_rule.em is not None and by_rule.model.m != shipped.m

    def error(model: MatchModel) -> float:
        return max(
            float(np.abs(np.array(a) - np.array(b)).max()) for a, b in zip(model.m, truth.m, strict=True)
        )

    assert error(by_rule.model) < 0.03, by_rule.model.m
    assert error(by_rule.model) <= error(whole.model)
    for estimated, true in zip(by_rule.model.u, truth.u, strict=True):
        assert np.allclose(estimated, true, atol=0.01)  # u of random pairs, not of blocked ones
    # The prior is that of two records drawn at random: the matches over every pair.
    assert by_rule.model.prior == pytest.approx(is_match.sum() / len(universe), rel=0.1)


def test_em_per_blocking_rule_keeps_the_guards() -> None:
    shipped = load_model()
    truth = _known(shipped)
    rng = np.random.default_rng(14)
    blocked = _draw(rng, truth.u, 5_000)  # nothing among them is a match
    random = _draw(rng, truth.u, 50_000)
    sessions = [blocked for _ in shipped.config.blocking]
    estimate = estimate_model_by_rule(random, blocked, sessions, 10**8, shipped, "generated")
    assert estimate.em is None and estimate.model is shipped
    assert "prior collapsed" in estimate.fallbacks[0]
    # A rule with too few pairs is left out, saying so; the others still estimate every field's m.
    universe, _, masks, union = _blocked_universe(shipped, _discriminating(shipped), 15)
    sessions = [universe[mask] for mask in masks]
    sessions[0] = sessions[0][:10]
    estimate = estimate_model_by_rule(
        universe[rng.integers(0, len(universe), 100_000)],
        universe[union],
        sessions,
        len(universe),
        shipped,
        "x",
    )
    assert estimate.em is not None
    assert any(
        line.startswith(f"rule {shipped.config.blocking[0].name}: only 10 pairs")
        for line in estimate.fallbacks
    )
