"""Live mock servers for tests: a small known population served on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from gateway.matching.synthetic import generate_population
from mocks.faults import FaultPlan
from mocks.population import Person, Population
from mocks.server import RunningMocks, start_mocks

# People the synthetic generator rarely or never produces, added so every register has someone to find.
TRAVELLERS = (
    Person(
        record_id="T1",
        name="KIM MINJUN",
        gender="1",
        birth_date=date(2016, 4, 2),
        ethnicity=None,
        id_type="passport",
        id_number="M12345678",
        nationality="KOR",
        household_region=None,
        guardian_name="KIM SEOYEON",
    ),
    Person(
        record_id="T2",
        name="陈嘉怡",
        gender="2",
        birth_date=date(2015, 9, 30),
        ethnicity="01",
        id_type="hk_macau_permit",
        id_number="H87654321",
        nationality="CHN",
        household_region=None,
        guardian_name="陈志强",
    ),
)
# A child without a document whose guardian's ID number is given explicitly (the population file's
# optional guardian_id_number column).
UNDOCUMENTED = Person(
    record_id="U1",
    name="李小雨",
    gender="2",
    birth_date=date(2019, 2, 14),
    ethnicity="01",
    id_type="none",
    id_number=None,
    nationality="CHN",
    household_region="410102",
    guardian_name="李建国",
    guardian_id_number="410102198503070017",
)


def known_population(size: int = 300, seed: int = 11) -> Population:
    """The synthetic population plus the hand-made people above."""
    return Population([*generate_population(size, seed), *TRAVELLERS, UNDOCUMENTED])


def running_mocks(population: Population) -> Iterator[RunningMocks]:
    """Start the four mocks for a test module and stop them afterwards."""
    running = start_mocks(population)
    try:
        yield running
    finally:
        running.stop()


def reset_faults(running: RunningMocks) -> None:
    """Back to perfect, instant services with fresh counters."""
    for injector in running.injectors.values():
        injector.set_plan(FaultPlan())
