"""Running batches: resuming after a crash without processing a row twice, and one runner per batch."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.auth import service as auth_service
from gateway.auth.caller import Caller, ClientFields
from gateway.auth.models import ApiClient
from gateway.auth.scopes import Role
from gateway.batches import service
from gateway.batches.models import Batch, BatchRow
from gateway.batches.parsing import BatchFormat
from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.db import session_scope
from gateway.persons.models import Person
from gateway.registry import service as registry
from gateway.registry.models import IdempotencyRecord
from tests.fixtures.batches import CHILDREN, add_submitter, count, to_csv

PROVINCE = Caller.of_client(
    ClientFields("cl_batch_test", "Henan", Role.PROVINCE, "41"), scopes="batches:write"
)


@pytest.fixture
def batch_id(committed_context: AppContext) -> str:
    # The submitter exists as a client: a batch runs only while its submitter may still be used.
    add_submitter(committed_context.engine, PROVINCE)
    accepted = service.submit_batch(
        committed_context.engine, committed_context.keyring, PROVINCE, to_csv(CHILDREN), BatchFormat.CSV
    )
    return accepted.id


def _set_lease(ctx: AppContext, batch_id: str, owner: str, until: datetime) -> None:
    with session_scope(ctx.engine) as s:
        s.execute(
            update(Batch)
            .where(col(Batch.id) == batch_id)
            .values(status="running", lease_owner=owner, lease_until=until)
        )


def _rows(ctx: AppContext, batch_id: str) -> list[BatchRow]:
    with Session(ctx.engine) as s:
        return list(
            s.exec(
                select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(col(BatchRow.row_number))
            ).all()
        )


def _registrations_audited(ctx: AppContext) -> int:
    return count(ctx, AuditEvent, col(AuditEvent.action) == "registration.create")


def test_a_crashed_batch_resumes_and_registers_every_row_exactly_once(
    committed_context: AppContext, batch_id: str
) -> None:
    ctx, deps = committed_context, committed_context.services.registry
    first = service.run_batch(ctx.engine, deps, batch_id, stop_after=2)
    assert (first.rows_worked, first.finished) == (2, False)
    done_before = {r.row_number: r.finished_at for r in _rows(ctx, batch_id) if r.status == "done"}
    assert sorted(done_before) == [2, 3]

    # The runner then registered row 4 and died before marking it done, leaving its lease behind.
    crashed_row = 4
    registry.register(ctx.engine, deps, PROVINCE, _body_of(ctx, batch_id, crashed_row), f"batch:{batch_id}:4")
    _set_lease(ctx, batch_id, "dead-runner", utcnow() + timedelta(minutes=5))
    assert service.resume_unfinished(ctx.engine, deps) == []  # the lease is still live: hands off

    _set_lease(ctx, batch_id, "dead-runner", utcnow() - timedelta(seconds=1))
    [report] = service.resume_unfinished(ctx.engine, deps)
    assert report.finished and report.rows_worked == 3

    rows = _rows(ctx, batch_id)
    assert [(r.row_number, r.status, r.outcome) for r in rows] == [(n, "done", "issued") for n in range(2, 7)]
    assert {r.row_number: r.finished_at for r in rows if r.row_number in done_before} == done_before
    assert count(ctx, Person) == 5
    assert len({r.code for r in rows}) == 5
    # Set-based rows are kept by their batch row, marked done in the transaction that registers
    # them; only the row the single way registered before the crash holds an idempotency answer,
    # and the resumed run took that answer instead of registering the row again.
    keys = {k for k in _all(ctx, IdempotencyRecord.key) if k.startswith(f"batch:{batch_id}:")}
    assert keys == {f"batch:{batch_id}:{crashed_row}"}
    # Registering writes one audit row; replaying a stored answer writes none.
    assert _registrations_audited(ctx) == 5
    with Session(ctx.engine) as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None
        assert (batch.status, batch.done_rows, batch.lease_owner) == ("done", 5, None)


def test_a_runner_that_loses_its_lease_stops_and_leaves_the_row_to_the_new_holder(
    committed_context: AppContext, batch_id: str
) -> None:
    ctx, deps = committed_context, committed_context.services.registry

    def steal_after_first_row(done: int, _total: int) -> None:
        if done == 1:
            _set_lease(ctx, batch_id, "other-replica", utcnow() + timedelta(minutes=5))

    # A chunk of one row: the runner finds out about the lease at the second row's unit of work.
    report = service.run_batch(ctx.engine, deps, batch_id, chunk_size=1, on_progress=steal_after_first_row)
    assert report.lease_lost and report.rows_worked == 1
    assert [r.status for r in _rows(ctx, batch_id)] == ["done"] + ["pending"] * 4
    # The second row's registration was undone with the transaction that found the lease gone; the
    # row stays pending for the new holder.
    assert count(ctx, Person) == 1

    _set_lease(ctx, batch_id, "other-replica", utcnow() - timedelta(seconds=1))
    [resumed] = service.resume_unfinished(ctx.engine, deps)
    assert resumed.finished and resumed.rows_worked == 4
    assert count(ctx, Person) == 5
    assert _registrations_audited(ctx) == 5


def test_a_disabled_submitters_queued_batch_is_refused_not_run(
    committed_context: AppContext, batch_id: str
) -> None:
    ctx, deps = committed_context, committed_context.services.registry
    with session_scope(ctx.engine) as s:
        auth_service.disable_client(s, PROVINCE.client_id)
    report = service.run_batch(ctx.engine, deps, batch_id)
    assert report.finished and report.rows_worked == 0
    rows = _rows(ctx, batch_id)
    assert {(r.status, r.outcome, r.http_status) for r in rows} == {("done", "refused", 403)}
    assert all("client_unusable" in (r.errors_json or "") for r in rows)
    assert count(ctx, Person) == 0 and _registrations_audited(ctx) == 0
    with Session(ctx.engine) as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None and (batch.status, batch.done_rows) == ("done", 5)


def test_a_batch_stops_when_its_submitter_is_disabled_mid_run(
    committed_context: AppContext, batch_id: str
) -> None:
    ctx, deps = committed_context, committed_context.services.registry

    def disable_after_two_rows(done: int, _total: int) -> None:
        if done == 2:
            with session_scope(ctx.engine) as s:
                auth_service.disable_client(s, PROVINCE.client_id)

    # The client is looked at before each chunk: here chunks of one row.
    report = service.run_batch(ctx.engine, deps, batch_id, chunk_size=1, on_progress=disable_after_two_rows)
    assert report.finished and report.rows_worked == 2
    assert [r.outcome for r in _rows(ctx, batch_id)] == ["issued", "issued", "refused", "refused", "refused"]
    assert count(ctx, Person) == 2


def test_a_frozen_submitters_batch_is_refused(committed_context: AppContext, batch_id: str) -> None:
    ctx, deps = committed_context, committed_context.services.registry
    idle = utcnow() - timedelta(days=ctx.settings.client_freeze_days + 1)
    with session_scope(ctx.engine) as s:
        s.execute(update(ApiClient).where(col(ApiClient.id) == PROVINCE.client_id).values(last_used_at=idle))
    service.run_batch(ctx.engine, deps, batch_id, settings=ctx.settings)
    assert {r.outcome for r in _rows(ctx, batch_id)} == {"refused"}
    assert count(ctx, Person) == 0


def test_a_done_batch_is_not_run_again(committed_context: AppContext, batch_id: str) -> None:
    ctx, deps = committed_context, committed_context.services.registry
    assert service.run_batch(ctx.engine, deps, batch_id).finished
    again = service.run_batch(ctx.engine, deps, batch_id)
    assert (again.claimed, again.rows_worked) == (False, 0)
    assert service.resume_unfinished(ctx.engine, deps) == []
    assert _registrations_audited(ctx) == 5


def test_a_batch_of_only_unreadable_lines_is_done_at_once(committed_context: AppContext) -> None:
    accepted = service.submit_batch(
        committed_context.engine, committed_context.keyring, PROVINCE, "{oops\n[]\n", BatchFormat.NDJSON
    )
    assert (accepted.status, accepted.total_rows, accepted.error_rows) == ("done", 2, 2)
    assert service.resume_unfinished(committed_context.engine, committed_context.services.registry) == []


def _body_of(ctx: AppContext, batch_id: str, row_number: int) -> dict[str, str]:
    import json

    with Session(ctx.engine) as s:
        row = s.get(BatchRow, (batch_id, row_number))
        assert row is not None and row.payload_encrypted is not None
        body: dict[str, str] = json.loads(ctx.keyring.decrypt(row.payload_encrypted, service.ROW_CONTEXT))
        return body


def _all(ctx: AppContext, column: object) -> list[str]:
    with Session(ctx.engine) as s:
        return list(s.exec(select(column)).all())  # type: ignore[call-overload]


def test_a_running_batch_reports_its_pace_and_time_to_go(
    committed_context: AppContext, batch_id: str
) -> None:
    ctx, deps = committed_context, committed_context.services.registry
    seen: list[tuple[int, int, float | None, float | None]] = []

    def look(done: int, total: int) -> None:
        with Session(ctx.engine) as s:
            status = service.batch_status(s, PROVINCE, batch_id)
        seen.append((status.done_rows, total, status.rows_per_second, status.eta_seconds))

    service.run_batch(ctx.engine, deps, batch_id, chunk_size=1, on_progress=look)
    assert [done for done, *_ in seen] == [1, 2, 3, 4, 5]
    for done, total, rate, eta in seen:
        # The pace of the rows this run did, and the rows left at that pace.
        assert rate is not None and rate > 0
        assert eta is not None and math.isclose(eta, (total - done) / rate, rel_tol=0.1, abs_tol=0.06)
    assert seen[-1][3] == 0
