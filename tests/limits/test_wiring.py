"""A gateway on PostgreSQL shares its adapters' limits with its other processes; on SQLite (one
process) they stay the process's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters.base import Source
from gateway.adapters.resilience import DailyQuota, GuardedVerifier, LocalSlots
from gateway.keyring import load_keyring
from gateway.limits.service import SharedQuota, SharedSlots
from gateway.settings import Settings
from gateway.wiring import build_verifier


def guards_of(settings: Settings, keys_dir: Path) -> list[GuardedVerifier]:
    keyring = load_keyring(Settings(data_dir=keys_dir, migrate_on_start=False))
    verifier = build_verifier(settings, keyring)
    assert verifier is not None
    try:
        guarded = [v for v in verifier.verifiers.values() if isinstance(v, GuardedVerifier)]
        assert {v.source for v in guarded} == set(Source)
        return guarded
    finally:
        verifier.close()


@pytest.mark.postgres
def test_on_postgresql_every_adapter_counts_in_the_database(fresh_db_url: str, keys_dir: Path) -> None:
    settings = Settings(data_dir=keys_dir, database_url=fresh_db_url, migrate_on_start=False)
    for adapter in guards_of(settings, keys_dir):
        assert isinstance(adapter.guard.quota, SharedQuota)
        assert isinstance(adapter.guard.slots, SharedSlots)


def test_on_sqlite_every_adapter_counts_in_the_process(tmp_path: Path, keys_dir: Path) -> None:
    settings = Settings(data_dir=tmp_path, migrate_on_start=False)
    for adapter in guards_of(settings, keys_dir):
        assert isinstance(adapter.guard.quota, DailyQuota)
        assert isinstance(adapter.guard.slots, LocalSlots)
