"""Fixtures for the registry tests: tokens per province, and the app wired to live mock registers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.context import AppContext
from gateway.wiring import attach_services
from mocks.population import Population
from mocks.server import RunningMocks
from tests.fixtures.adapters import orchestrator
from tests.fixtures.api import ApiCaller, offline, register_caller
from tests.fixtures.mocks import known_population, live_mocks, mocks

__all__ = ["live_mocks", "mocks"]


@pytest.fixture
def tokens_by_province(committed_context: AppContext) -> Callable[[str, list[str]], dict[str, str]]:
    """A province client per prefix, with a token fetched from the running server."""

    def make(base_url: str, provinces: list[str]) -> dict[str, str]:
        with httpx.Client(base_url=base_url) as http:
            return {
                province: register_caller(
                    http, committed_context.engine, role="province", jurisdiction=province
                ).token
                for province in sorted(set(provinces))
            }

    return make


@pytest.fixture(scope="module")
def population() -> Population:
    """The people the mock registers know (one population per test module)."""
    return known_population(size=200, seed=31)


@pytest.fixture
def verified_context(committed_context: AppContext, mocks: RunningMocks) -> Iterator[AppContext]:
    verifier = orchestrator(mocks)
    offline(attach_services(committed_context, verifier))
    yield committed_context
    verifier.close()


@pytest.fixture
def verified_api(verified_context: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(context=verified_context), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def verified_registry(verified_api: TestClient, verified_context: AppContext) -> ApiCaller:
    return register_caller(verified_api, verified_context.engine, role="central", jurisdiction="CN")
