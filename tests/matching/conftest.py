"""Fixtures of the matching tests: the shipped configuration and model, and a few clean persons."""

from __future__ import annotations

import pytest

from gateway.identity import CanonicalRecord
from gateway.matching import MatchConfig, MatchModel, generate_population, load_config, load_model


@pytest.fixture(scope="session")
def config() -> MatchConfig:
    return load_config()


@pytest.fixture(scope="session")
def model(config: MatchConfig) -> MatchModel:
    return load_model(None, config)


@pytest.fixture(scope="session")
def persons() -> list[CanonicalRecord]:
    return [p for p in generate_population(400, 5) if p.id_type == "resident_id" and p.ethnicity == "01"]
