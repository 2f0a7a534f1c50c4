from __future__ import annotations

from collections.abc import Iterator

import pytest

from mocks.population import Population
from mocks.server import RunningMocks
from tests.mocks.live import known_population, reset_faults, running_mocks


@pytest.fixture(scope="package")
def population() -> Population:
    return known_population()


@pytest.fixture(scope="package")
def live_mocks(population: Population) -> Iterator[RunningMocks]:
    yield from running_mocks(population)


@pytest.fixture
def mocks(live_mocks: RunningMocks) -> RunningMocks:
    reset_faults(live_mocks)
    return live_mocks
