"""The Fellegi-Sunter model: for every field and agreement level an m probability (the level's
frequency among true matches) and a u probability (its frequency among non-matches), plus the prior
probability that a compared pair matches. u is estimated from random record pairs, where matches are
vanishingly rare; m and the prior by expectation-maximisation on blocked, unlabelled pairs with u held
fixed (holding u fixed stops EM from drifting to "same household" instead of "same person"). The
parameters are trained offline (``gateway train``) and shipped as JSON next to the configuration, so a
search never trains at request time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.matching.comparators import FieldComparator, compile_config
from gateway.matching.config import MatchConfig, load_config
from gateway.matching.frequencies import (
    TF_U_DIVISOR,
    TermFrequencies,
    tf_adjustment,
    tf_field_indexes,
)

DEFAULT_MODEL_FILE = "default_student_model.json"

# Keeps every weight finite: a level never seen among random pairs is still not impossible.
PROBABILITY_FLOOR = 1e-7

LevelMatrix = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MatchModel:
    """A configuration with its trained m/u probabilities (per field, per level, best level first)."""

    config: MatchConfig
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior: float
    trained: str = ""
    # The reference the TF fields are weighed against; None: no TF adjustment (plain level weights).
    frequencies: TermFrequencies | None = field(default=None, repr=False, compare=False)
    # The registry's version number of these parameters (None: a file's, e.g. the shipped ones).
    version: int | None = None
    comparators: tuple[FieldComparator, ...] = field(init=False, repr=False, compare=False)
    weight_table: FloatArray = field(init=False, repr=False, compare=False)
    tf_fields: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.m) != len(self.config.fields) or len(self.u) != len(self.config.fields):
            raise ValueError("one m and one u vector per configured field")
        for spec, m, u in zip(self.config.fields, self.m, self.u, strict=True):
            if len(m) != len(spec.levels) or len(u) != len(spec.levels):
                raise ValueError(f"field {spec.name}: one m and u per level")
        object.__setattr__(self, "comparators", compile_config(self.config))
        width = max(len(spec.levels) for spec in self.config.fields) + 1
        # The last column stays 0: a missing value (level -1) is no evidence either way.
        table = np.zeros((len(self.config.fields), width), dtype=np.float64)
        for i, (m, u) in enumerate(zip(self.m, self.u, strict=True)):
            for level, (mi, ui) in enumerate(zip(m, u, strict=True)):
                table[i, level] = math.log2(max(mi, PROBABILITY_FLOOR) / max(ui, PROBABILITY_FLOOR))
        object.__setattr__(self, "weight_table", table)
        object.__setattr__(self, "tf_fields", tf_field_indexes(self.config) if self.frequencies else ())

    def with_frequencies(self, frequencies: TermFrequencies | None) -> MatchModel:
        """The same parameters weighed against another reference (None: no TF adjustment)."""
        return MatchModel(self.config, self.m, self.u, self.prior, self.trained, frequencies, self.version)

    def exact_weight_tf(self, field_index: int, tf: float) -> float:
        """The exact level's weight of ``field_index`` for a value of frequency ``tf``: the level's
        weight plus the value's adjustment against the reference's average (``frequencies``)."""
        weight = float(self.weight_table[field_index, 0])
        average = None
        if self.frequencies is not None:
            average = self.frequencies.average(self.config.fields[field_index].name)
        return weight if average is None else weight + tf_adjustment(tf, average)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def level_weight(self, field_index: int, level: int) -> float:
        return 0.0 if level < 0 else float(self.weight_table[field_index, level])

    def total_weights(self, levels: LevelMatrix, tf: FloatArray | None = None) -> FloatArray:
        """Match weights (log2 odds) of many pairs at once: ``levels`` is pairs x fields; ``tf``
        (pairs x fields, NaN where none) the frequency of each pair's value in the TF fields."""
        rows = np.arange(levels.shape[1])[None, :]
        cols = np.where(levels < 0, self.weight_table.shape[1] - 1, levels)
        total: FloatArray = self.prior_weight + self.weight_table[rows, cols].sum(axis=1)
        if tf is not None:
            for f in self.tf_fields:
                assert self.frequencies is not None  # tf_fields is empty without a reference
                average = self.frequencies.average(self.config.fields[f].name)
                if average is None:
                    continue
                column = tf[:, f]
                exact = (levels[:, f] == 0) & ~np.isnan(column)
                # As frequencies.tf_adjustment, element-wise (the average stands in where not exact).
                held = np.maximum(np.where(exact, column, average), average / TF_U_DIVISOR)
                total += np.where(exact, np.log2(average / held), 0.0)
        return total

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "config": {"name": self.config.name, "version": self.config.version},
            "prior": self.prior,
            "trained": self.trained,
            "fields": {
                spec.name: {"levels": [lv.label for lv in spec.levels], "m": list(m), "u": list(u)}
                for spec, m, u in zip(self.config.fields, self.m, self.u, strict=True)
            },
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def probability_from_weight(weight: float) -> float:
    """Posterior match probability of a log2-odds weight."""
    if weight > 60:
        return 1.0
    odds: float = 2.0**weight
    return odds / (1.0 + odds)


def model_from_json(text: str, config: MatchConfig) -> MatchModel:
    """Rebuild a model; the parameters must have been trained for this configuration version."""
    data = json.loads(text)
    if data["config"] != {"name": config.name, "version": config.version}:
        raise ValueError(f"parameters are for {data['config']}, not {config.label}")
    fields_data = data["fields"]
    return MatchModel(
        config=config,
        m=tuple(tuple(float(x) for x in fields_data[s.name]["m"]) for s in config.fields),
        u=tuple(tuple(float(x) for x in fields_data[s.name]["u"]) for s in config.fields),
        prior=float(data["prior"]),
        trained=str(data.get("trained", "")),
    )


def load_model(path: Path | None = None, config: MatchConfig | None = None) -> MatchModel:
    """Load trained parameters; with no arguments, the shipped canonical-student model."""
    config = config or load_config()
    if path is None:
        text = resources.files("gateway.matching").joinpath(DEFAULT_MODEL_FILE).read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return model_from_json(text, config)


def untrained_model(config: MatchConfig) -> MatchModel:
    """A model from the configuration's starting values, with uniform u: the starting point of EM."""
    m = []
    u = []
    for spec in config.fields:
        n = len(spec.levels)
        m.append(tuple(spec.m_start) if spec.m_start else tuple([0.9] + [0.1 / (n - 1)] * (n - 1)))
        u.append(tuple([1.0 / n] * n))
    return MatchModel(config, tuple(m), tuple(u), config.em.prior_start, "untrained")


# --- estimation ----------------------------------------------------------------------------------


def level_frequencies(
    levels: LevelMatrix, n_levels: list[int], pseudo_count: float = 0.5
) -> list[FloatArray]:
    """Per-field level frequencies, ignoring missing values, with a small pseudo count per level."""
    out = []
    for f, n in enumerate(n_levels):
        column = levels[:, f]
        counts = np.bincount(column[column >= 0], minlength=n).astype(np.float64) + pseudo_count
        out.append(counts / counts.sum())
    return out


@dataclass(frozen=True)
class EMResult:
    m: list[FloatArray]
    u: list[FloatArray]
    prior: float
    iterations: int
    converged: bool


def unique_patterns(levels: LevelMatrix) -> tuple[LevelMatrix, npt.NDArray[np.int64]]:
    """``np.unique(levels, axis=0, return_counts=True)``, the same patterns in the same order, but
    with each row packed into one integer first (levels -1..14, at most 15 fields): sorting a
    million rows of int64 takes a fraction of sorting them as rows."""
    width = levels.shape[1]
    if not len(levels) or width > 15 or levels.min() < -1 or levels.max() > 14:
        patterns, counts = np.unique(levels, axis=0, return_counts=True)
        return patterns, counts.astype(np.int64)
    keys = np.zeros(len(levels), dtype=np.int64)
    for f in range(width):
        keys = keys * 16 + (levels[:, f].astype(np.int64) + 1)
    packed, counts = np.unique(keys, return_counts=True)
    unpacked = np.empty((len(packed), width), dtype=levels.dtype)
    for f in reversed(range(width)):
        unpacked[:, f] = packed % 16 - 1
        packed = packed // 16
    return unpacked, counts.astype(np.int64)


def expectation_maximisation(
    levels: LevelMatrix,
    u: list[FloatArray],
    m_start: list[FloatArray],
    prior_start: float,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
    fix_u: bool = True,
    min_probability: float = PROBABILITY_FLOOR,
    m_floor: float | None = None,
) -> EMResult:
    """Estimate m, the prior and (unless ``fix_u``) u on unlabelled pairs (pairs x fields, -1 missing);
    every m at least ``m_floor`` (default ``min_probability``)."""
    m_min = max(min_probability, m_floor or 0.0)
    n_fields = levels.shape[1]
    # Count identical comparison vectors once: blocked pairs collapse to a few thousand patterns.
    patterns, counts = unique_patterns(levels)
    weights = counts.astype(np.float64)
    m = [np.clip(x.astype(np.float64), PROBABILITY_FLOOR, None) for x in m_start]
    u = [np.clip(x.astype(np.float64), PROBABILITY_FLOOR, None) for x in u]
    prior = prior_start
    converged = False
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 (reported below)
        log_m = np.zeros(len(patterns))
        log_u = np.zeros(len(patterns))
        for f in range(n_fields):
            col = patterns[:, f]
            log_m += np.where(col >= 0, np.log(m[f][np.clip(col, 0, None)]), 0.0)
            log_u += np.where(col >= 0, np.log(u[f][np.clip(col, 0, None)]), 0.0)
        a = np.log(prior) + log_m
        b = np.log1p(-prior) + log_u
        top = np.maximum(a, b)
        posterior = np.exp(a - top) / (np.exp(a - top) + np.exp(b - top))
        g = posterior * weights
        new_prior = float(g.sum() / weights.sum())
        h = (1.0 - posterior) * weights
        new_m = [_reestimate(patterns[:, f], g, m[f], m_min) for f in range(n_fields)]
        new_u = (
            u if fix_u else [_reestimate(patterns[:, f], h, u[f], min_probability) for f in range(n_fields)]
        )
        change = max(
            abs(new_prior - prior),
            *(float(np.abs(x - y).max()) for x, y in zip(new_m + new_u, m + u, strict=True)),
        )
        m, u, prior = new_m, new_u, min(max(new_prior, 1e-9), 1 - 1e-9)
        if change < tolerance:
            converged = True
            break
    return EMResult(m=m, u=u, prior=prior, iterations=iteration, converged=converged)


def _reestimate(
    column: LevelMatrix, responsibility: FloatArray, previous: FloatArray, floor: float
) -> FloatArray:
    present = column >= 0
    sums = np.bincount(column[present], weights=responsibility[present], minlength=len(previous))
    total = sums.sum()
    vec = sums / total if total > 0 else previous
    floored: FloatArray = np.maximum(vec, floor)
    normalised: FloatArray = floored / floored.sum()
    return normalised


def fit_model(
    config: MatchConfig,
    random_levels: LevelMatrix,
    blocked_levels: LevelMatrix,
    trained: str,
) -> tuple[MatchModel, EMResult]:
    """u from random pairs, then m, the prior and (unless fixed) u by EM on blocked pairs."""
    n_levels = [len(spec.levels) for spec in config.fields]
    u = level_frequencies(random_levels, n_levels)
    start = untrained_model(config)
    em = expectation_maximisation(
        blocked_levels,
        u,
        [np.array(x) for x in start.m],
        config.em.prior_start,
        config.em.max_iterations,
        config.em.tolerance,
        config.em.fix_u,
        config.em.min_probability,
        config.em.m_floor,
    )
    model = MatchModel(
        config=config,
        m=tuple(tuple(round(float(v), 10) for v in x) for x in em.m),
        u=tuple(tuple(round(float(v), 10) for v in x) for x in em.u),
        prior=round(em.prior, 10),
        trained=trained,
    )
    return model, em
