"""Fixtures of the console tests: the committed app."""

from tests.fixtures.console import console

__all__ = ["console"]
