"""Bulk exports survive the process that accepted them, and their files do not outlive retention.

An export answered 202 is an acknowledged request: if the process dies before (or while) writing it,
whoever runs next (the worker, or the next start-up) finishes it. Once downloaded data has been
kept for the retention period the files are removed and the export answers 410 Gone.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.audit.models import AuditEvent
from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.handoff import exports
from gateway.handoff.models import Export
from gateway.jobs import Lane
from tests.fixtures.api import ApiCaller
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
    (policy.directory / second).mkdir(parents=True)
    (policy.directory / second / "HandoffRecord-7.ndjson").write_text('{"half": "a record"}\n')

    assert exports.resume_exports(committed_context.engine, committed_context.keyring, policy) == [
        export_id,
        second,
    ]
    for status_url in (url, f"/v1/handoff/exports/{second}"):
        manifest = verified(handoff_api, handoff_api.get(status_url, headers=preschool.headers))
        assert manifest["status"] == "done"
        assert len(_lines(handoff_api, preschool, manifest)) == 4
    assert not (policy.directory / second / "HandoffRecord-7.ndjson").exists()


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
    # Within retention nothing is removed.
    assert exports.expire_exports(committed_context.engine, policy) == []
    assert handoff_api.get(file_url, headers=preschool.headers).status_code == 200
    with Session(committed_context.engine) as s:
        row = s.get(Export, export_id)
        assert row is not None and row.expires_at is not None
        row.expires_at = utcnow() - timedelta(seconds=1)  # the retention period has passed
        s.add(row)
        s.commit()
    assert exports.expire_exports(committed_context.engine, policy) == [export_id]
    assert not (policy.directory / export_id).exists()
    status = handoff_api.get(url, headers=preschool.headers)
    assert status.status_code == 410 and verified(handoff_api, status)["status"] == "expired"
    gone = handoff_api.get(file_url, headers=preschool.headers)
    assert gone.status_code == 410 and "start a new export" in gone.json()["detail"]
    with Session(committed_context.engine) as s:
        expiry = s.exec(select(AuditEvent).where(AuditEvent.action == "handoff.export.expire")).all()
        assert [e.object_ref for e in expiry] == [export_id]
    assert exports.expire_exports(committed_context.engine, policy) == []  # done once
