"""Fixtures of the students tests: stored students."""

from tests.fixtures.students import seed_student

__all__ = ["seed_student"]
