"""Fault plans: reproducible under a seed, rates honoured, down windows and quotas."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from mocks.faults import DownWindow, FaultInjector, FaultKind, FaultPlan
from mocks.population import write_csv
from mocks.server import start_from_settings
from mocks.settings import MocksSettings
from tests.fixtures.mocks import UNDOCUMENTED


def test_same_seed_same_decisions() -> None:
    plan = FaultPlan(seed=5, error_rate=0.5, error_kinds=list(FaultKind), latency_ms=20, latency_sigma=0.5)
    first = [FaultInjector(plan).decide() for _ in range(1)]
    runs = []
    for _ in range(2):
        injector = FaultInjector(plan)
        runs.append([injector.decide() for _ in range(200)])
    assert runs[0] == runs[1]
    assert first[0] == runs[0][0]


def test_error_rate_is_honoured() -> None:
    injector = FaultInjector(
        FaultPlan(seed=1, error_rate=0.3, error_kinds=[FaultKind.HTTP_503, FaultKind.TIMEOUT])
    )
    faults = Counter(d.fault for d in (injector.decide() for _ in range(2000)))
    share = (faults[FaultKind.HTTP_503] + faults[FaultKind.TIMEOUT]) / 2000
    assert 0.25 < share < 0.35
    assert faults[FaultKind.HTTP_503] > 0 and faults[FaultKind.TIMEOUT] > 0


def test_down_window_wraps_midnight() -> None:
    window = DownWindow(start=time(23, 0), end=time(1, 0))
    assert window.covers(time(23, 30)) and window.covers(time(0, 30))
    assert not window.covers(time(12, 0))
    injector = FaultInjector(FaultPlan(down_windows=[window]))
    assert injector.decide(datetime(2026, 9, 1, 0, 10, tzinfo=UTC)).down
    assert not injector.decide(datetime(2026, 9, 1, 10, 0, tzinfo=UTC)).down


def test_quota_counts_only_served_requests() -> None:
    injector = FaultInjector(FaultPlan(daily_quota=2))
    decisions = [injector.decide() for _ in range(4)]
    assert [d.quota_exhausted for d in decisions] == [False, False, True, True]
    assert injector.snapshot()["quota_exhausted"] == 2


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    write_csv([UNDOCUMENTED], path)
    monkeypatch.setenv("GATEWAY_MOCKS_POPULATION", str(path))
    monkeypatch.setenv("GATEWAY_MOCKS_HOUSEHOLD_FAULTS", '{"error_rate": 0.3, "error_kinds": ["http_429"]}')
    for name in ("PUBLIC_SECURITY", "EXIT_ENTRY", "HOUSEHOLD", "SOCIAL_SECURITY"):
        monkeypatch.setenv(f"GATEWAY_MOCKS_{name}_PORT", "0")
    settings = MocksSettings()
    assert settings.household_faults.error_kinds == [FaultKind.HTTP_429]
    running = start_from_settings(settings)
    try:
        assert running.population_size == 1
        assert running.injectors["household"].plan.error_rate == 0.3
        assert running.injectors["public_security"].plan == FaultPlan()
    finally:
        running.stop()
