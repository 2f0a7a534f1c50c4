"""The Fellegi-Sunter model: EM recovers known parameters; parameters round-trip and are versioned."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.matching import MatchConfig, MatchModel, load_model
from gateway.matching.model import (
    expectation_maximisation,
    level_frequencies,
    model_from_json,
    probability_from_weight,
    unique_patterns,
)


def _draw(rng: np.random.Generator, probabilities: list[list[float]], n: int) -> np.ndarray:
    return np.stack([rng.choice(len(p), size=n, p=p) for p in probabilities], axis=1).astype(np.int8)


def test_em_recovers_m_u_and_prior_from_unlabelled_pairs() -> None:
    rng = np.random.default_rng(3)
    m_true = [[0.9, 0.07, 0.03], [0.85, 0.15], [0.8, 0.1, 0.1]]
    u_true = [[0.05, 0.15, 0.8], [0.3, 0.7], [0.02, 0.08, 0.9]]
    matches, non_matches = 6000, 14000
    levels = np.concatenate([_draw(rng, m_true, matches), _draw(rng, u_true, non_matches)])
    levels[rng.random(levels.shape) < 0.05] = -1  # some values missing
    result = expectation_maximisation(
        levels,
        u=[np.full(len(u), 1 / len(u)) for u in u_true],
        m_start=[np.array([0.6] + [0.4 / (len(m) - 1)] * (len(m) - 1)) for m in m_true],
        prior_start=0.5,
        max_iterations=500,
        tolerance=1e-9,
        fix_u=False,
    )
    assert result.converged
    assert result.prior == pytest.approx(0.3, abs=0.02)
    for estimated, true in zip(result.m + result.u, m_true + u_true, strict=True):
        assert np.allclose(estimated, true, atol=0.03)


def test_level_frequencies_ignore_missing_values() -> None:
    levels = np.array([[0], [0], [1], [-1], [-1]], dtype=np.int8)
    (freq,) = level_frequencies(levels, [2], pseudo_count=0.0)
    assert freq.tolist() == [2 / 3, 1 / 3]


def test_shipped_parameters_match_the_shipped_configuration(model: MatchModel, config: MatchConfig) -> None:
    assert model.config == config
    name = [f.name for f in config.fields].index("name")
    # Agreement is evidence for a match, disagreement against.
    assert model.level_weight(name, 0) > 0 > model.level_weight(name, len(config.fields[name].levels) - 1)
    assert model.level_weight(name, -1) == 0.0


def test_model_round_trips_through_json(model: MatchModel, config: MatchConfig) -> None:
    again = model_from_json(model.to_json(), config)
    assert again == model


def test_parameters_of_another_version_are_refused(model: MatchModel, config: MatchConfig) -> None:
    other = config.model_copy(update={"version": "0.0.1"})
    with pytest.raises(ValueError, match=r"not canonical-student@0\.0\.1"):
        model_from_json(model.to_json(), other)


def test_total_weights_agree_with_per_field_weights(model: MatchModel) -> None:
    levels = np.array([[0, 1, -1, 3, 0, 2, 1], [3, 3, 1, -1, -1, 0, 0]], dtype=np.int8)
    expected = [
        model.prior_weight + sum(model.level_weight(f, int(level)) for f, level in enumerate(row))
        for row in levels
    ]
    assert np.allclose(model.total_weights(levels), expected)


def test_probability_is_monotone_and_bounded() -> None:
    assert probability_from_weight(0.0) == 0.5
    assert probability_from_weight(-10) < probability_from_weight(3) < probability_from_weight(100) == 1.0


def test_load_model_defaults(config: MatchConfig) -> None:
    assert load_model().config == config


def test_unique_patterns_are_numpys_unique_rows() -> None:
    """EM counts comparison vectors by packing each row into one integer: the same patterns, in the
    same order, with the same counts as numpy's row-wise unique (and numpy's own where rows do not pack)."""
    rng = np.random.default_rng(11)
    for width, high in ((1, 3), (7, 5), (15, 15), (16, 3), (4, 20)):
        levels = rng.integers(-1, high, size=(5000, width)).astype(np.int8)
        expected_patterns, expected_counts = np.unique(levels, axis=0, return_counts=True)
        patterns, counts = unique_patterns(levels)
        assert patterns.dtype == levels.dtype
        assert np.array_equal(patterns, expected_patterns) and np.array_equal(counts, expected_counts)
    empty, none = unique_patterns(np.empty((0, 7), dtype=np.int8))
    assert empty.shape == (0, 7) and none.shape == (0,)
