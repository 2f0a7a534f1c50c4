"""Adapters pointed at the live mocks, with settings small enough for quick tests."""

from __future__ import annotations

from typing import Any

from gateway.adapters.base import IdentityVerifier, Source
from gateway.adapters.orchestrator import VerificationOrchestrator, build_verifiers
from gateway.adapters.settings import AdapterSettings, AdaptersSettings
from mocks.server import RunningMocks

HMAC_KEY = b"test-secret"


def quick(base: AdapterSettings, url: str, **overrides: Any) -> AdapterSettings:
    values: dict[str, Any] = {
        "base_url": url,
        "connect_timeout": 1.0,
        "read_timeout": 0.3,
        "deadline": 8.0,
        "max_attempts": 8,
        "backoff_base": 0.005,
        "backoff_max": 0.05,
        "breaker_failure_threshold": 50,
        "breaker_reset_timeout": 0.3,
        "cache_ttl": 0.0,
    }
    values.update(overrides)
    return base.model_copy(update=values)


def adapter_settings(mocks: RunningMocks, **overrides: Any) -> AdaptersSettings:
    defaults = AdaptersSettings()
    return defaults.model_copy(
        update={
            source.value: quick(getattr(defaults, source.value), mocks.endpoints[source.value], **overrides)
            for source in Source
        }
    )


def verifiers(mocks: RunningMocks, **overrides: Any) -> dict[Source, IdentityVerifier]:
    return build_verifiers(adapter_settings(mocks, **overrides), hmac_key=HMAC_KEY)


def orchestrator(mocks: RunningMocks, **overrides: Any) -> VerificationOrchestrator:
    return VerificationOrchestrator(verifiers(mocks, **overrides), deadline_seconds=10.0)
