"""Fixtures of the batch tests: the committed app without its batch runner."""

from tests.fixtures.batches import batch_api

__all__ = ["batch_api"]
