"""Offline estimation of a model's parameters from unlabelled records: u from random record pairs,
m and the prior by EM over the blocked candidate pairs (labels, where a data set has them, are never
read). ``gateway train`` runs this on generated records to produce the shipped default parameters.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

import numpy as np

from gateway.matching.batch import Progress, candidate_pairs, comparison_levels, prepare_rows
from gateway.matching.config import MatchConfig
from gateway.matching.model import EMResult, MatchModel, fit_model, untrained_model


def train_model(
    rows: Iterable[Mapping[str, str]],
    config: MatchConfig,
    seed: int,
    description: str,
    progress: Progress | None = None,
) -> tuple[MatchModel, EMResult]:
    """Estimate u, m and the prior of ``config`` on unlabelled rows."""
    records, _, _ = prepare_rows(rows, config, progress)
    if len(records) < 2:
        raise ValueError("training needs at least two records")
    start = untrained_model(config)
    rng = random.Random(seed)  # noqa: S311 (reproducible sampling, not security)
    n = len(records)
    wanted = min(config.em.random_pairs, n * (n - 1) // 2)
    random_pairs = np.array(
        [(i, j) for i, j in (rng.sample(range(n), 2) for _ in range(wanted))], dtype=np.int64
    )
    random_levels = comparison_levels(records, random_pairs, start, progress)
    blocked = candidate_pairs(records, config)
    blocked_levels = comparison_levels(records, blocked, start, progress)
    trained = f"{description}; {n} records, {len(random_pairs)} random pairs, {len(blocked)} blocked pairs"
    return fit_model(config, random_levels, blocked_levels, trained)
