"""The matching model a registry decides with: the active stored version (``gateway matching
activate``), or the parameters the process was started with when none is active.

Every unit of work that scores asks which version is active (one indexed read of a small table), so
an activation takes effect at once on every replica; the parsed model of each version, with its name
frequencies, is cached per process, since a version never changes once stored (new thresholds are a
new version).
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.matching import MatchModel
from gateway.matching.config import Thresholds
from gateway.matching.frequencies import TermFrequencies
from gateway.matching.model import model_from_json
from gateway.registry import repository
from gateway.registry.models import MatchModelVersion

# version number -> its model; versions are immutable, so entries never go stale.
ModelCache = dict[int, MatchModel]


def model_of_version(row: MatchModelVersion, base: MatchModel) -> MatchModel:
    """A stored version as a model of ``base``'s configuration, with its own thresholds and TF table."""
    assert row.id is not None
    if row.config_label != base.config.label:
        raise ValueError(f"version {row.id} is for {row.config_label}, not {base.config.label}")
    thresholds = Thresholds(
        match_probability=row.match_probability,
        probable_probability=row.probable_probability,
        review_probability=row.review_probability,
        max_possible_matches=base.config.thresholds.max_possible_matches,
    )
    config = base.config.model_copy(update={"thresholds": thresholds})
    model = model_from_json(row.parameters_json, config)
    frequencies = TermFrequencies.from_json(row.frequencies_json) if row.frequencies_json else None
    return MatchModel(config, model.m, model.u, model.prior, model.trained, frequencies, row.id)


def active_model(session: Session, base: MatchModel, cache: ModelCache) -> MatchModel:
    """The model of the active version (``base`` when no version is active)."""
    version_id = repository.active_model_version_id(session)
    if version_id is None:
        return base
    model = cache.get(version_id)
    if model is None:
        row = repository.get_model_version(session, version_id)
        assert row is not None
        model = cache[version_id] = model_of_version(row, base)
    return model
