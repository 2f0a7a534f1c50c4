"""Bulk exports survive the process that accepted them, and their files do not outlive retention.

An export answered 202 is an acknowledged request: if the process dies before (or while) writing it,
whoever runs next (the worker, or the next start-up) finishes it. Once downloaded data has been
kept for the retention period the files are removed and the export answers 410 Gone.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.app import create_app
from gateway.audit.models import AuditEvent
from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.db import build_engine
from gateway.handoff import exports
from gateway.handoff.models import Export
from gateway.handoff.storage import read_file
from gateway.jobs import Lane
from gateway.wiring import attach_services
from tests.fixtures.api import ApiCaller, offline
from tests.fixtures.handoff import BASIS, MakeParty, cohort, hand_over, verified, wait_for
from tests.fixtures.jobs import HeldJobs


def _preschool_with_cohort(api: TestClient, party: MakeParty, size: int) -> ApiCaller:
    preschool = party("registry", "41", "handoff:write handoff:read", stage="preschool")
    hand_over(api, preschool, cohort(size))
    return preschool


def _start(api: TestClient, caller: ApiCaller) -> str:
    started = api.post("/v1/handoff/exports", headers={**caller.headers, **BASIS})
    assert started.status_code == 202, started.text
    url: str = verified(api, started)["status_url"]
    return url


def _lines(api: TestClient, caller: ApiCaller, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for output in manifest["output"]:
        got = api.get(output["url"], headers=caller.headers)
        assert got.status_code == 200, got.text
        lines.extend(json.loads(line) for line in got.text.splitlines())
    return lines


def test_an_export_whose_process_died_is_finished_by_the_next_runner(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext
) -> None:
    preschool = _preschool_with_cohort(handoff_api, party, 4)
    committed_context.services.jobs = HeldJobs(Lane.HANDOFF)  # the process died after 202
    url = _start(handoff_api, preschool)
    export_id = url.rsplit("/", 1)[-1]
    assert handoff_api.get(url, headers=preschool.headers).status_code == 202
    policy = exports.ExportPolicy.from_settings(committed_context.settings)
    # A second export died while running: its lease is out and a partial file lies on disk.
    second = _start(handoff_api, preschool).rsplit("/", 1)[-1]
    with Session(committed_context.engine) as s:
        row = s.get(Export, second)
        assert row is not None
        row.status, row.lease_until = "running", utcnow() - timedelta(seconds=1)
        s.add(row)
        s.commit()
    store = policy.store(committed_context.engine, committed_context.keyring)
    store.append(second, "HandoffRecord-7.ndjson", b'{"half": "a record"}\n')
    store.append(second, "HandoffRecord-1.ndjson", b'{"half": "a')

    assert exports.resume_exports(committed_context.engine, committed_context.keyring, policy) == [
        export_id,
        second,
    ]
    for status_url in (url, f"/v1/handoff/exports/{second}"):
        manifest = verified(handoff_api, handoff_api.get(status_url, headers=preschool.headers))
        assert manifest["status"] == "done"
        assert len(_lines(handoff_api, preschool, manifest)) == 4
    # The partial files were replaced: only the rewritten file is stored, holding whole records.
    assert store.names(second) == ["HandoffRecord-1.ndjson"]
    assert len(read_file(store, second, "HandoffRecord-1.ndjson").decode().splitlines()) == 4


def test_a_running_export_with_a_live_lease_is_left_to_its_runner(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext
) -> None:
    preschool = _preschool_with_cohort(handoff_api, party, 1)
    committed_context.services.jobs = HeldJobs(Lane.HANDOFF)  # the process died after 202
    export_id = _start(handoff_api, preschool).rsplit("/", 1)[-1]
    with Session(committed_context.engine) as s:
        row = s.get(Export, export_id)
        assert row is not None
        row.status, row.lease_until = "running", utcnow() + timedelta(minutes=5)
        s.add(row)
        s.commit()
    policy = exports.ExportPolicy.from_settings(committed_context.settings)
    exports.resume_exports(committed_context.engine, committed_context.keyring, policy)
    with Session(committed_context.engine) as s:
        row = s.get(Export, export_id)
        assert row is not None and row.status == "running" and row.manifest_json is None


def test_files_are_removed_after_retention_and_the_export_is_gone(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext
) -> None:
    preschool = _preschool_with_cohort(handoff_api, party, 3)
    url = _start(handoff_api, preschool)
    export_id = url.rsplit("/", 1)[-1]
    wait_for(lambda: handoff_api.get(url, headers=preschool.headers).status_code == 200)
    manifest = verified(handoff_api, handoff_api.get(url, headers=preschool.headers))
    file_url = manifest["output"][0]["url"]
    policy = exports.ExportPolicy.from_settings(committed_context.settings)
    store = policy.store(committed_context.engine)
    # Within retention nothing is removed.
    assert exports.expire_exports(committed_context.engine, policy) == []
    assert store.names(export_id) == ["HandoffRecord-1.ndjson"]
    assert handoff_api.get(file_url, headers=preschool.headers).status_code == 200
    with Session(committed_context.engine) as s:
        row = s.get(Export, export_id)
        assert row is not None and row.expires_at is not None
        row.expires_at = utcnow() - timedelta(seconds=1)  # the retention period has passed
        s.add(row)
        s.commit()
    assert exports.expire_exports(committed_context.engine, policy) == [export_id]
    assert store.names(export_id) == []
    assert not (policy.directory / export_id).exists()
    status = handoff_api.get(url, headers=preschool.headers)
    assert status.status_code == 410 and verified(handoff_api, status)["status"] == "expired"
    gone = handoff_api.get(file_url, headers=preschool.headers)
    assert gone.status_code == 410 and "start a new export" in gone.json()["detail"]
    with Session(committed_context.engine) as s:
        expiry = s.exec(select(AuditEvent).where(AuditEvent.action == "handoff.export.expire")).all()
        assert [e.object_ref for e in expiry] == [export_id]
    assert exports.expire_exports(committed_context.engine, policy) == []  # done once


@pytest.mark.postgres
def test_an_export_written_on_one_replica_is_downloaded_from_another(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext, tmp_path: Path
) -> None:
    preschool = _preschool_with_cohort(handoff_api, party, 3)
    url = _start(handoff_api, preschool)
    wait_for(lambda: handoff_api.get(url, headers=preschool.headers).status_code == 200)
    # Another machine: its own engine on the same database, its own (empty) data directory, the
    # registry's keys.
    other_dir = tmp_path / "replica-b"
    settings = committed_context.settings.model_copy(update={"data_dir": other_dir})
    engine = build_engine(committed_context.engine.url.render_as_string(hide_password=False), pool_size=2)
    replica = offline(attach_services(AppContext(settings, engine, committed_context.keyring), None))
    try:
        with TestClient(create_app(context=replica), raise_server_exceptions=False) as other:
            manifest = verified(other, other.get(url, headers=preschool.headers))
            assert manifest["status"] == "done"
            for output in manifest["output"]:
                here = handoff_api.get(output["url"], headers=preschool.headers)
                there = other.get(output["url"], headers=preschool.headers)
                assert there.status_code == 200, there.text
                assert verified(other, there) == here.text and there.content == here.content
            assert len(_lines(other, preschool, manifest)) == 3
    finally:
        engine.dispose()
    assert not (other_dir / "exports").exists()


def test_files_split_at_their_size_across_chunks(
    handoff_api: TestClient, party: MakeParty, committed_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "EXPORT_FILE_ROWS", 2)
    monkeypatch.setattr(exports, "EXPORT_CHUNK", 3)  # the second file starts in one chunk, ends in the next
    preschool = _preschool_with_cohort(handoff_api, party, 5)
    url = _start(handoff_api, preschool)
    wait_for(lambda: handoff_api.get(url, headers=preschool.headers).status_code == 200)
    manifest = verified(handoff_api, handoff_api.get(url, headers=preschool.headers))
    assert [(o["url"].rsplit("/", 1)[-1], o["count"]) for o in manifest["output"]] == [
        ("HandoffRecord-1.ndjson", 2),
        ("HandoffRecord-2.ndjson", 2),
        ("HandoffRecord-3.ndjson", 1),
    ]
    lines = _lines(handoff_api, preschool, manifest)
    assert len(lines) == 5 and len({json.dumps(line, sort_keys=True) for line in lines}) == 5
