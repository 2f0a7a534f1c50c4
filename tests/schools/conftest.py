"""Fixtures of the school register's tests: the committed app and its parties, stored students."""

from tests.fixtures.handoff import handoff_api, party
from tests.fixtures.students import seed_student

__all__ = ["handoff_api", "party", "seed_student"]
