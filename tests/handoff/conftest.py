"""Fixtures of the handoff tests: the committed app and callers of every party."""

from tests.fixtures.handoff import handoff_api, party

__all__ = ["handoff_api", "party"]
