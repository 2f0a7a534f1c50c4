"""Fixtures of the adapter tests: the live mock servers."""

from tests.fixtures.mocks import live_mocks, mocks, population

__all__ = ["live_mocks", "mocks", "population"]
