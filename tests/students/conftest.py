"""Fixtures of the students tests: stored students, and the committed app with its parties (the
close of a school year commits its own work)."""

from tests.fixtures.handoff import handoff_api, party
from tests.fixtures.students import seed_student

__all__ = ["handoff_api", "party", "seed_student"]
