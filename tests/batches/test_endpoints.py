"""POST /v1/batches and its status and results on a committed database, run by the batch service."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.audit.models import AuditEvent
from gateway.batches import service
from gateway.batches.models import BatchRow
from gateway.context import AppContext
from gateway.jobs import BackgroundJobs
from gateway.persons.models import Person
from tests.fixtures.api import ApiCaller, register_caller
from tests.fixtures.batches import CHILDREN, COLUMNS, count, read_results, to_csv

OUTSIDE = {**CHILDREN[2], "school_code": "1101010001", "school_region": "110101"}


@pytest.fixture
def province(batch_api: TestClient, committed_context: AppContext) -> ApiCaller:
    return register_caller(batch_api, committed_context.engine, role="province", jurisdiction="41")


def _submit(api: TestClient, caller: ApiCaller, text: str, media: str = "text/csv") -> Any:
    return api.post(
        "/v1/batches",
        content=text.encode("utf-8"),
        headers={**caller.headers, "Content-Type": media},
    )


def _run(ctx: AppContext, batch_id: str) -> service.RunReport:
    return service.run_batch(ctx.engine, ctx.services.registry, batch_id)


def _mixed_csv() -> str:
    good_a, good_b = CHILDREN[0], CHILDREN[1]
    # The same child as row 1 again, written with a homophone and a traditional character.
    again = {**good_a, "name": "王子晗", "guardian_name": "王建國"}
    bad = {**CHILDREN[3], "birth_date": "2016-02-30"}
    text = to_csv(
        [
            {**good_a, "record_id": "s-1"},
            {**good_b, "record_id": "s-2"},
            {**again, "record_id": "s-3"},
            {**bad, "record_id": "=HYPERLINK(1)"},
            {**OUTSIDE, "record_id": "s-5"},
        ]
    )
    # One line with a cell too many: a structural error row, not a failed batch.
    return text + ",".join(["s-6", *[CHILDREN[4].get(c, "") for c in COLUMNS[1:]], "surplus"]) + "\n"


def test_csv_batch_registers_each_row_and_reports_every_outcome(
    batch_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    reply = _submit(batch_api, province, _mixed_csv())
    assert reply.status_code == 202, reply.text
    accepted = reply.json()
    batch_id = accepted["id"]
    assert reply.headers["location"] == f"/v1/batches/{batch_id}" == accepted["status_url"]
    assert (accepted["total_rows"], accepted["error_rows"]) == (6, 1)

    before = batch_api.get(f"/v1/batches/{batch_id}", headers=province.headers).json()
    assert (before["status"], before["done_rows"], before["counts"]) == ("queued", 1, {"rejected": 1})
    # Not run yet: no pace, no time to go.
    assert (before["rows_per_second"], before["eta_seconds"]) == (None, None)

    report = _run(committed_context, batch_id)
    assert report.finished and report.rows_worked == 5

    status = batch_api.get(f"/v1/batches/{batch_id}", headers=province.headers)
    assert status.status_code == 200
    body = status.json()
    assert (body["status"], body["done_rows"], body["total_rows"], body["progress"]) == ("done", 6, 6, 1.0)
    assert body["counts"] == {"issued": 2, "existing": 1, "rejected": 2, "forbidden": 1}
    # The run's pace: the rows it did over the time it took; nothing left to go.
    assert body["rows_per_second"] > 0 and body["eta_seconds"] == 0

    download = batch_api.get(f"/v1/batches/{batch_id}/results.csv", headers=province.headers)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = read_results(download.text)
    assert list(rows[0]) == ["row_number", "record_id", "outcome", "code", "problem_id", "errors"]
    by_id = {r["record_id"]: r for r in rows}
    assert [r["row_number"] for r in rows] == ["2", "3", "4", "5", "6", "7"]
    assert [r["outcome"] for r in rows] == [
        "issued",
        "issued",
        "existing",
        "rejected",
        "forbidden",
        "rejected",
    ]
    with Session(committed_context.engine) as s:
        codes = set(s.exec(select(Person.current_code)).all())
    assert codes == {by_id["s-1"]["code"], by_id["s-2"]["code"]}
    assert by_id["s-3"]["code"] == by_id["s-1"]["code"]
    # The echoed record_id cannot turn into a spreadsheet formula.
    assert "'=HYPERLINK(1)" in by_id
    assert "birth_date:" in by_id["'=HYPERLINK(1)"]["errors"]
    assert by_id["s-5"]["errors"].startswith("school_code:outside_jurisdiction:")
    assert by_id["s-6"]["errors"].startswith("row:too_many_columns:")
    assert all(r["code"] == "" for r in rows[3:])


def test_submission_and_downloads_are_audited_with_row_counts(
    batch_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    batch_id = _submit(batch_api, province, _mixed_csv()).json()["id"]
    batch_api.get(f"/v1/batches/{batch_id}/results.csv", headers=province.headers)
    with Session(committed_context.engine) as s:
        events = s.exec(
            select(AuditEvent).where(AuditEvent.object_type == "batch", AuditEvent.object_ref == batch_id)
        ).all()
    assert sorted((e.action, e.record_count, e.client_id) for e in events) == [
        ("batch.results", 6, province.client_id),
        ("batch.submit", 6, province.client_id),
    ]


def test_rows_are_stored_encrypted(
    batch_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    batch_id = _submit(batch_api, province, to_csv(CHILDREN[:2])).json()["id"]
    with Session(committed_context.engine) as s:
        stored = s.exec(select(BatchRow).where(BatchRow.batch_id == batch_id)).all()
    assert len(stored) == 2
    dumped = json.dumps([r.model_dump(mode="json") for r in stored], ensure_ascii=False)
    for person in CHILDREN[:2]:
        assert person["id_number"] not in dumped and person["name"] not in dumped


def test_ndjson_batch_with_an_unreadable_line(
    batch_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    lines = [
        json.dumps({**CHILDREN[0], "record_id": "n-1"}, ensure_ascii=False),
        "{this is not json",
        json.dumps({**OUTSIDE, "record_id": "n-3"}, ensure_ascii=False),
        json.dumps({**CHILDREN[1], "record_id": "n-4"}, ensure_ascii=False),
    ]
    reply = _submit(batch_api, province, "\n".join(lines) + "\n", "application/x-ndjson")
    assert reply.status_code == 202, reply.text
    batch_id = reply.json()["id"]
    _run(committed_context, batch_id)
    rows = read_results(batch_api.get(f"/v1/batches/{batch_id}/results.csv", headers=province.headers).text)
    assert [(r["row_number"], r["record_id"], r["outcome"]) for r in rows] == [
        ("1", "n-1", "issued"),
        ("2", "", "rejected"),
        ("3", "n-3", "forbidden"),
        ("4", "n-4", "issued"),
    ]
    assert rows[1]["errors"].startswith("row:unparseable:")
    assert count(committed_context, Person) == 2


def test_another_clients_batch_is_not_found_but_a_central_client_sees_it(
    batch_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    batch_id = _submit(batch_api, province, to_csv(CHILDREN[:1])).json()["id"]
    neighbour = register_caller(batch_api, committed_context.engine, role="province", jurisdiction="41")
    for path in (f"/v1/batches/{batch_id}", f"/v1/batches/{batch_id}/results.csv"):
        assert batch_api.get(path, headers=neighbour.headers).status_code == 404
    central = register_caller(batch_api, committed_context.engine, role="central", jurisdiction="CN")
    assert batch_api.get(f"/v1/batches/{batch_id}", headers=central.headers).status_code == 200
    assert batch_api.get("/v1/batches/bt_missing", headers=province.headers).status_code == 404


def test_refusals_of_the_whole_file(
    batch_api: TestClient, province: ApiCaller, committed_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = to_csv(CHILDREN[:1])
    wrong_type = _submit(batch_api, province, text, "application/json")
    assert wrong_type.status_code == 415
    assert wrong_type.headers["content-type"].startswith("application/problem+json")
    bad_header = _submit(batch_api, province, text.replace("school_region", "region", 1))
    assert bad_header.status_code == 422
    assert {e["code"] for e in bad_header.json()["errors"]} >= {"unknown_column", "missing_column"}
    monkeypatch.setattr(service, "MAX_BATCH_BYTES", len(text.encode()) - 1)
    assert _submit(batch_api, province, text).status_code == 413
    no_scope = register_caller(
        batch_api, committed_context.engine, role="province", jurisdiction="41", scopes="registrations:write"
    )
    assert _submit(batch_api, no_scope, text).status_code == 403
    assert count(committed_context, BatchRow) == 0


def test_the_runner_in_the_app_context_works_a_submitted_batch(
    batch_api: TestClient, province: ApiCaller, committed_context: AppContext
) -> None:
    jobs = committed_context.services.jobs = BackgroundJobs()
    try:
        batch_id = _submit(batch_api, province, to_csv(CHILDREN)).json()["id"]
        deadline = time.monotonic() + 60
        while True:
            status = batch_api.get(f"/v1/batches/{batch_id}", headers=province.headers).json()
            if status["status"] == "done" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        jobs.close()
    assert status["status"] == "done"
    assert status["counts"] == {"issued": 5}
    assert count(committed_context, Person) == 5
