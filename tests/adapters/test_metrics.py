"""What an operator sees of the sources: calls by outcome, latency, breaker state and quota used,
reported by the adapters' guards against the live mocks."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from gateway.adapters.resilience import GuardedVerifier
from gateway.app import create_app
from gateway.context import AppContext
from gateway.matching.synthetic import generate_population
from gateway.observability import AdapterMetrics
from mocks.server import RunningMocks
from tests.fixtures.adapters import orchestrator


def test_verifications_are_counted_per_source_and_outcome(mocks: RunningMocks) -> None:
    registry = CollectorRegistry()
    verify = orchestrator(mocks)
    verify.report_to(AdapterMetrics(registry))
    record = next(r for r in generate_population(300, 11) if r.id_type == "resident_id")
    try:
        verify.verify_identity(record)
        verify.verify_identity(replace(record, id_number="110105201001010011"))
    finally:
        verify.close()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    public = {"source": "public_security"}
    assert sample("gateway_adapter_calls_total", outcome="found", **public) == 1
    assert sample("gateway_adapter_calls_total", outcome="not_found", **public) == 1
    assert sample("gateway_adapter_call_duration_seconds_count", **public) == 2
    assert sample("gateway_adapter_breaker_state", state="closed", **public) == 1
    assert sample("gateway_adapter_breaker_state", state="open", **public) == 0
    assert sample("gateway_adapter_quota_used", **public) == 2
    assert sample("gateway_adapter_quota_used", source="social_security") is not None
    assert sample("gateway_adapter_calls_total", outcome="found", source="exit_entry") is None
    # No label value carries anything of the person.
    text = "\n".join(str(s) for m in registry.collect() for s in m.samples)
    assert record.id_number is not None and record.id_number not in text
    assert record.name not in text


def test_the_app_reports_its_adapters_to_its_own_metrics(
    app_context: AppContext, mocks: RunningMocks
) -> None:
    verify = orchestrator(mocks)
    app_context.services.verifier = verify
    app = create_app(context=app_context)
    try:
        with TestClient(app):
            observers = {
                id(v.guard.observer) for v in verify.verifiers.values() if isinstance(v, GuardedVerifier)
            }
            assert observers == {id(app.state.metrics.adapters)}
    finally:
        verify.close()
