"""Bulk registration: accept a whole file at once, then register its rows one by one, resumably.

Submitting stores the batch and every row in one transaction (the rows encrypted: they carry ID
numbers), so an accepted batch is never half stored. Running a batch takes a lease on it (one
runner per batch, across replicas), then works the pending rows in row order: each row goes
through the same ``registry.service.register`` as a single registration, with the idempotency key
``batch:{batch_id}:{row_number}``, and is then marked done in a small transaction of its own that
also extends the lease. A runner that dies between the two leaves the row pending; whoever resumes
the batch registers it again with the same key and gets the stored answer back, so no row is ever
processed twice. Rows are authorised by the submitter's role and jurisdiction as they were at
submission, but only while the submitting client may still be used: once it is disabled (or frozen)
the batch stops and its remaining rows are marked ``refused``. The verification of new codes is
left to the durable queue (``gateway worker``) unless ``verify_inline`` is asked for: a cohort of
tens of thousands must not wait on external systems row by row.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth import repository as clients
from gateway.auth.caller import Caller, ClientFields
from gateway.auth.scopes import Role
from gateway.auth.service import check_usable
from gateway.batches import collection, repository
from gateway.batches.models import Batch, BatchRow
from gateway.batches.parsing import MAX_ROWS, BatchFormat, ParsedRow, iter_batch
from gateway.batches.schemas import BatchAccepted, BatchStatus
from gateway.clock import as_utc, utcnow
from gateway.db import session_scope
from gateway.errors import FieldError, Forbidden, GatewayError, InvalidInput, NotFound
from gateway.jobs import BackgroundJobs, Lane, lease_is_free, new_lease_owner
from gateway.keyring import KeyRing
from gateway.registry import bulk, idempotency, outcomes, verification
from gateway.registry import service as registry
from gateway.registry.bulk import Refused, RowAnswer
from gateway.registry.outcomes import RegistrationOutcome
from gateway.registry.service import RegistryDeps
from gateway.settings import Settings

logger = logging.getLogger(__name__)

MAX_BATCH_BYTES = 64 * 1024 * 1024
ROW_CONTEXT = "batch:row"
RESULT_COLUMNS = ("row_number", "record_id", "outcome", "code", "problem_id", "errors")
# OWASP's list of characters that make a spreadsheet read a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class PayloadTooLarge(GatewayError):
    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class UnsupportedMediaType(GatewayError):
    status = 415
    title = "Unsupported media type"
    type_slug = "unsupported-media-type"


def status_path(batch_id: str) -> str:
    return f"/v1/batches/{batch_id}"


def results_path(batch_id: str) -> str:
    return f"/v1/batches/{batch_id}/results.csv"


# --- submission -------------------------------------------------------------------------------


def _errors_json(errors: Sequence[FieldError]) -> str:
    return json.dumps([e.as_dict() for e in errors], ensure_ascii=False)


def _row_values(batch_id: str, row: ParsedRow, keyring: KeyRing, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "batch_id": batch_id,
        "row_number": row.row_number,
        "record_id": row.record_id,
        "payload_encrypted": None,
        "status": "pending",
        "outcome": None,
        "http_status": None,
        "code": None,
        "problem_id": None,
        "errors_json": None,
        "finished_at": None,
    }
    if row.body is None:
        values.update(
            status="done",
            outcome="rejected",
            http_status=422,
            errors_json=_errors_json(row.errors),
            finished_at=now,
        )
    else:
        values["payload_encrypted"] = keyring.encrypt(json.dumps(row.body, ensure_ascii=False), ROW_CONTEXT)
    return values


# Rows go to the database in slices, so a file of millions of rows is never held in memory at once.
_STORE_SLICE = 2000


def submit_batch(
    engine: Engine,
    keyring: KeyRing,
    caller: Caller,
    source: str | TextIO,
    fmt: BatchFormat,
    *,
    max_rows: int | None = MAX_ROWS,
    digest: str | None = None,
    replaces: str | None = None,
) -> BatchAccepted:
    """Parse and store a batch with all its rows in one transaction; it is then ready to run, or,
    submitted by a named entry clerk, held for review (``gateway.batches.collection``; ``replaces``
    names the returned submission this one corrects).

    ``source`` is the file's text, or the file itself, read as a stream and stored a slice at a time
    (``max_rows`` None: no limit on rows, for a province's file given to ``gateway import``).
    ``digest`` is the file's SHA-256 (computed from the text when not given)."""
    reviewed = collection.under_workflow(caller)
    if replaces is not None and not reviewed:
        raise collection.refuse_replaces_outside_workflow()
    stream = io.StringIO(source, newline="") if isinstance(source, str) else source
    batch_id = f"bt_{secrets.token_hex(8)}"
    now = utcnow()
    batch = Batch(
        id=batch_id,
        client_id=caller.client_id,
        client_name=caller.client_name,
        role=caller.role.value,
        jurisdiction=caller.jurisdiction.value,
        scopes=" ".join(sorted(caller.scopes)),
        stage=caller.stage,
        acting_user=caller.acting_user,
        request_id=caller.request_id,
        format=fmt.value,
        source_digest=digest or (source_digest(source) if isinstance(source, str) else None),
        status="queued",
        total_rows=0,
        done_rows=0,
        created_at=now,
    )
    total = error_rows = 0
    school_codes: set[str] = set()
    school_regions: set[str] = set()
    with session_scope(engine) as session:
        repository.add_batch(session, batch, [])
        rows = iter_batch(stream, fmt, max_rows=max_rows)
        while piece := list(islice(rows, _STORE_SLICE)):
            repository.add_rows(session, [_row_values(batch_id, row, keyring, now) for row in piece])
            total += len(piece)
            error_rows += sum(1 for row in piece if row.body is None)
            if reviewed:
                school_codes.update(str(r.body.get("school_code") or "") for r in piece if r.body)
                school_regions.update(str(r.body.get("school_region") or "") for r in piece if r.body)
        finished = error_rows == total
        status = "done" if finished else "queued"
        if reviewed:
            # Held, rows unrun, until the last level accepts it (even a file of unreadable lines:
            # the school's checker returns it).
            school = collection.submitting_school(session, caller, school_codes - {""}, school_regions)
            if replaces is not None:
                collection.take_up_returned(session, caller, replaces, school)
            batch.review_step = collection.ReviewStep.SUBMITTED
            batch.school_code, batch.school_region, batch.city_run = (
                school.code,
                school.region,
                school.city_run,
            )
            batch.step_at, batch.replaces = now, replaces
            session.add(batch)
            status, finished = "held", False
        repository.set_totals(
            session,
            batch_id,
            total_rows=total,
            done_rows=error_rows,
            status=status,
            finished_at=now if finished else None,
        )
        audit.record(
            session,
            action="batch.submit",
            caller=caller,
            object_type="batch",
            object_ref=batch_id,
            record_count=total,
        )
    return BatchAccepted(
        id=batch_id,
        status=status,
        review_step=collection.ReviewStep.SUBMITTED.value if reviewed else None,
        total_rows=total,
        error_rows=error_rows,
        status_url=status_path(batch_id),
        results_url=results_path(batch_id),
    )


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read a block at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def source_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unfinished_batch_of(session: Session, caller: Caller, digest: str) -> Batch | None:
    """The caller's batch of the file with this digest that is not done yet (its run was stopped or
    killed)."""
    return repository.unfinished_batch_from(session, caller.client_id, digest)


# --- reading ----------------------------------------------------------------------------------


def caller_of(batch: Batch) -> Caller:
    """The submitter as they were at submission: what authorises the rows when they run."""
    submitter = ClientFields(batch.client_id, batch.client_name, batch.role, batch.jurisdiction, batch.stage)
    return Caller.of_client(
        submitter, scopes=batch.scopes, acting_user=batch.acting_user, request_id=batch.request_id
    )


def get_visible_batch(session: Session, caller: Caller, batch_id: str) -> Batch:
    """The batch if the caller submitted it or is a central client; otherwise not found."""
    batch = repository.get_batch(session, batch_id)
    if batch is None or (batch.client_id != caller.client_id and caller.role is not Role.CENTRAL):
        raise NotFound("no such batch")
    return batch


def batch_status(session: Session, caller: Caller, batch_id: str) -> BatchStatus:
    batch = get_visible_batch(session, caller, batch_id)
    reviewed = collection.review_of_batch(session, batch)
    return BatchStatus(
        id=batch.id,
        status=batch.status,
        format=batch.format,
        total_rows=batch.total_rows,
        done_rows=batch.done_rows,
        progress=round(batch.done_rows / batch.total_rows, 4) if batch.total_rows else 1.0,
        counts=repository.outcome_counts(session, batch.id),
        created_at=as_utc(batch.created_at),
        started_at=as_utc(batch.started_at) if batch.started_at else None,
        finished_at=as_utc(batch.finished_at) if batch.finished_at else None,
        **_pace(batch),
        results_url=results_path(batch.id),
        review=collection.present(session, [reviewed])[0] if reviewed else None,
    )


def _pace(batch: Batch) -> dict[str, float | None]:
    """How fast the current (or last) run went, and how long it should still take."""
    if batch.run_started_at is None or batch.run_started_rows is None:
        return {"rows_per_second": None, "eta_seconds": None}
    end = as_utc(batch.finished_at) if batch.status == "done" and batch.finished_at else utcnow()
    elapsed = (end - as_utc(batch.run_started_at)).total_seconds()
    rows = batch.done_rows - batch.run_started_rows
    rate = rows / elapsed if elapsed > 0 and rows > 0 else None
    left = batch.total_rows - batch.done_rows
    eta = 0.0 if batch.status == "done" else (round(left / rate, 1) if rate else None)
    return {"rows_per_second": round(rate, 2) if rate else None, "eta_seconds": eta}


def _safe_cell(value: str) -> str:
    # An echoed value must stay text when the school opens the file in a spreadsheet.
    return "'" + value if value.startswith(_FORMULA_START) else value


def _errors_text(errors_json: str | None) -> str:
    if not errors_json:
        return ""
    return "; ".join(f"{e['field']}:{e['code']}:{e['message']}" for e in json.loads(errors_json))


def results_csv(session: Session, caller: Caller, batch_id: str) -> str:
    """Every row's outcome as CSV (with a BOM, for spreadsheets); the download is audited."""
    out = io.StringIO()
    write_results(session, caller, batch_id, out)
    return out.getvalue()


def write_results(session: Session, caller: Caller, batch_id: str, out: TextIO) -> int:
    """``results_csv`` written to ``out`` a slice of rows at a time (a province's file has millions);
    the download is audited. Returns the rows written."""
    batch = get_visible_batch(session, caller, batch_id)
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    written = 0
    for row_number, record_id, outcome, code, problem_id, errors_json in repository.iter_result_rows(
        session, batch.id
    ):
        writer.writerow(
            (
                row_number,
                _safe_cell(record_id or ""),
                outcome or "pending",
                code or "",
                "" if problem_id is None else problem_id,
                _safe_cell(_errors_text(errors_json)),
            )
        )
        written += 1
    audit.record(
        session,
        action="batch.results",
        caller=caller,
        object_type="batch",
        object_ref=batch.id,
        record_count=written,
    )
    return written


# --- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    batch_id: str
    claimed: bool
    rows_worked: int
    finished: bool
    lease_lost: bool = False


@dataclass(frozen=True)
class _Claim:
    caller: Caller
    total_rows: int
    done_rows: int


class _LeaseLost(Exception):
    pass


ProgressCallback = Callable[[int, int], None]


def _claim(session: Session, batch_id: str, owner: str, lease_seconds: float) -> _Claim | None:
    batch = repository.get_batch(session, batch_id, for_update=True)
    if batch is None or batch.status not in repository.RUNNABLE:
        # Done, or held for review: a submission runs only once its last level accepted it.
        return None
    now = utcnow()
    if not lease_is_free(batch.lease_until, now):
        return None
    batch.lease_owner = owner
    batch.lease_until = now + timedelta(seconds=lease_seconds)
    batch.status = "running"
    batch.started_at = batch.started_at or now
    batch.run_started_at, batch.run_started_rows = now, batch.done_rows
    session.add(batch)
    return _Claim(caller_of(batch), batch.total_rows, batch.done_rows)


def _row_of_outcome(outcome: RegistrationOutcome) -> dict[str, Any]:
    return {
        "outcome": outcome.kind,
        "http_status": outcomes.status_of(outcome),
        "code": getattr(outcome, "code", None),
        "problem_id": getattr(outcome, "problem_id", None),
    }


def _register_row(
    engine: Engine, deps: RegistryDeps, caller: Caller, key: str, body: dict[str, Any]
) -> dict[str, Any]:
    try:
        return _row_of_outcome(registry.register(engine, deps, caller, body, key))
    except InvalidInput as exc:
        return {"outcome": "rejected", "http_status": 422, "errors_json": _errors_json(exc.errors)}
    except Forbidden as exc:
        error = FieldError("school_code", "outside_jurisdiction", exc.detail)
        return {"outcome": "forbidden", "http_status": 403, "errors_json": _errors_json([error])}
    except GatewayError as exc:
        error = FieldError("row", exc.type_slug, exc.detail)
        return {"outcome": "error", "http_status": exc.status, "errors_json": _errors_json([error])}


def _work_row(
    engine: Engine, deps: RegistryDeps, caller: Caller, batch_id: str, row: BatchRow
) -> dict[str, Any]:
    if row.payload_encrypted is None:
        error = FieldError("row", "missing_payload", "the row holds no record")
        return {"outcome": "error", "http_status": 500, "errors_json": _errors_json([error])}
    body = json.loads(deps.keyring.decrypt(row.payload_encrypted, ROW_CONTEXT))
    key = f"batch:{batch_id}:{row.row_number}"
    try:
        return _register_row(engine, deps, caller, key, body)
    except Exception:
        # A failure after the registration committed (say, in inline verification) must not be
        # reported as an error for a person who was registered: a second call replays the answer.
        logger.exception("batch %s row %s failed; trying once more", batch_id, row.row_number)
    try:
        return _register_row(engine, deps, caller, key, body)
    except Exception:
        logger.exception("batch %s row %s failed twice; reported as an error", batch_id, row.row_number)
        error = FieldError("row", "internal", "the row could not be registered because of an internal error")
        return {"outcome": "error", "http_status": 500, "errors_json": _errors_json([error])}


def _record_row(
    engine: Engine, batch_id: str, row_number: int, owner: str, values: dict[str, Any], lease_seconds: float
) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        changed = repository.finish_row(session, batch_id, row_number, {**values, "finished_at": now})
        lease_until = now + timedelta(seconds=lease_seconds)
        if not repository.advance_under_lease(session, batch_id, owner, lease_until, int(changed)):
            # Another runner owns the batch now; undo this mark and leave the row to it.
            raise _LeaseLost


def _submitter_refusal(engine: Engine, client_id: str, settings: Settings | None) -> str | None:
    """Why the submitting client may no longer have rows registered, or None while it may.

    Disabled is always checked; frozen (unused for too long) where the settings are known."""
    with session_scope(engine) as session:
        client = clients.get_client(session, client_id)
        if client is None:
            return "the submitting client no longer exists"
        if client.disabled_at is not None:
            return "the submitting client is disabled"
        if settings is not None:
            try:
                check_usable(client, settings)
            except GatewayError as exc:
                return exc.detail
    return None


def _refuse_remaining(engine: Engine, batch_id: str, owner: str, reason: str, lease_seconds: float) -> int:
    now = utcnow()
    error = FieldError("row", "client_unusable", f"not registered: {reason}")
    values = {
        "outcome": "refused",
        "http_status": 403,
        "errors_json": _errors_json([error]),
        "finished_at": now,
    }
    with session_scope(engine) as session:
        refused = repository.finish_pending_rows(session, batch_id, values)
        lease_until = now + timedelta(seconds=lease_seconds)
        if not repository.advance_under_lease(session, batch_id, owner, lease_until, refused):
            raise _LeaseLost
    return refused


def _row_of_answer(answer: RowAnswer) -> dict[str, Any]:
    if isinstance(answer, Refused):
        return {
            "outcome": answer.kind,
            "http_status": answer.status,
            "errors_json": _errors_json(answer.errors),
        }
    return _row_of_outcome(answer)


def _record_answers(
    session: Session,
    batch_id: str,
    owner: str,
    answers: dict[int, dict[str, Any]],
    lease_seconds: float,
) -> None:
    """Mark rows done with their answers and count them, in the caller's transaction, while this
    runner still holds the lease (otherwise the whole transaction is undone)."""
    now = utcnow()
    repository.finish_rows(session, batch_id, {n: {**v, "finished_at": now} for n, v in answers.items()})
    lease_until = now + timedelta(seconds=lease_seconds)
    if not repository.advance_under_lease(session, batch_id, owner, lease_until, len(answers)):
        raise _LeaseLost


@dataclass
class _Run:
    """One run of a batch: who holds it and how far it got."""

    engine: Engine
    deps: RegistryDeps
    batch_id: str
    owner: str
    claim: _Claim
    lease_seconds: float
    on_progress: ProgressCallback | None
    verify: bool = False
    worked: int = 0

    def progress(self, rows: int) -> None:
        self.worked += rows
        if self.on_progress is not None:
            self.on_progress(self.claim.done_rows + self.worked, self.claim.total_rows)

    def record(self, session: Session, answers: dict[int, RowAnswer]) -> None:
        values = {n: _row_of_answer(a) for n, a in answers.items()}
        _record_answers(session, self.batch_id, self.owner, values, self.lease_seconds)

    def singly(self, rows: Sequence[BatchRow]) -> None:
        """The rows one by one through the single registration (with their idempotency keys)."""
        for row in rows:
            values = _work_row(self.engine, self.deps, self.claim.caller, self.batch_id, row)
            _record_row(self.engine, self.batch_id, row.row_number, self.owner, values, self.lease_seconds)
            self.progress(1)

    def replays(self, rows: Sequence[BatchRow]) -> dict[int, dict[str, Any]]:
        """Rows a single registration answered already (an earlier run registered them by their
        key, then stopped before marking them done): their stored answers."""
        keys = {f"batch:{self.batch_id}:{row.row_number}": row.row_number for row in rows}
        with session_scope(self.engine) as session:
            stored = idempotency.answered(session, self.claim.caller.client_id, list(keys))
        return {keys[k]: _row_of_outcome(outcomes.from_json(a.body)) for k, a in stored.items()}

    def items(self, rows: Sequence[BatchRow]) -> list[tuple[int, Any]]:
        """The registration bodies of the readable rows (decrypted)."""
        return [
            (row.row_number, json.loads(self.deps.keyring.decrypt(row.payload_encrypted, ROW_CONTEXT)))
            for row in rows
            if row.payload_encrypted is not None
        ]

    def chunk(
        self, rows: Sequence[BatchRow], prepared: Future[bulk.Prepared], should_stop: Callable[[], bool]
    ) -> bool:
        """Register a chunk of pending rows set-based, wave by wave, from their ``prepared`` form
        (``bulk.prepare_rows`` of ``items``); False when told to stop between waves (the rest
        stays pending)."""
        replayed = self.replays(rows)
        if replayed:
            with session_scope(self.engine) as session:
                _record_answers(session, self.batch_id, self.owner, replayed, self.lease_seconds)
            self.progress(len(replayed))
        unreadable = [r for r in rows if r.payload_encrypted is None and r.row_number not in replayed]
        if unreadable:
            self.singly(unreadable)
        parsed, ready = prepared.result()
        refused = {n: answer for n, answer in parsed.items() if n not in replayed}
        ready = [row for row in ready if row.number not in replayed]
        outside, ready = bulk.refuse_outside(self.claim.caller, ready)
        unknown, ready = bulk.refuse_unknown_schools(self.engine, self.claim.caller, ready)
        refused.update(outside)
        refused.update(unknown)
        by_number = {row.row_number: row for row in rows}
        waves = [w[i : i + WAVE_ROWS] for w in bulk.waves(ready) for i in range(0, len(w), WAVE_ROWS)]
        created: list[int] = []
        if not waves and refused:
            with session_scope(self.engine) as session:
                self.record(session, dict(refused))
            self.progress(len(refused))
        for index, wave in enumerate(waves):
            if should_stop():
                return False
            first = refused if index == 0 else {}
            try:
                written = bulk.register_wave(
                    self.engine, self.deps, self.claim.caller, wave, self.record, first
                )
                created.extend(written.new_persons)
            except _LeaseLost:
                raise
            except Exception:
                # Whatever failed is undone; the wave's rows go the single way, each on its own.
                logger.exception(
                    "batch %s: a wave of %s rows failed; registering them one by one",
                    self.batch_id,
                    len(wave),
                )
                self.singly([by_number[n] for n in sorted([*first, *(r.number for r in wave)])])
                continue
            self.progress(len(wave) + len(first))
        if self.verify and created and self.deps.verifier is not None:
            counts = verification.verify_new_persons(self.engine, self.deps, created)
            logger.info("batch %s: verified in bulk: %s", self.batch_id, dict(counts.recorded))
        return True


def _prepare_in_helper(preparation: bulk.Preparation, items: list[tuple[int, Any]]) -> bulk.Prepared:
    prepared = bulk.prepare_rows(preparation, items)
    # What the helper keeps between chunks is its name and code caches, which never form cycles:
    # frozen, the collector stops rescanning them at every full collection. The helper is this
    # run's alone and ends with it.
    gc.freeze()
    return prepared


class _Preparer:
    """Prepares chunks of rows (``bulk.prepare_rows``: normalising, matching forms, keys): in this
    process, or in one helper process, so that the next chunk is prepared while this one is written
    (the database and this process's own work then use both cores)."""

    def __init__(self, preparation: bulk.Preparation, *, helper: bool) -> None:
        self.preparation = preparation
        self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn")) if helper else None

    @property
    def ahead(self) -> bool:
        return self._pool is not None

    def submit(self, items: list[tuple[int, Any]]) -> Future[bulk.Prepared]:
        if self._pool is not None:
            return self._pool.submit(_prepare_in_helper, self.preparation, items)
        done: Future[bulk.Prepared] = Future()
        done.set_result(bulk.prepare_rows(self.preparation, items))
        return done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# A wave's rows go to the database in one transaction; its size bounds the statements' parameter
# lists (SQLite takes 32,766 parameters at most) and how long single registrations wait.
WAVE_ROWS = 2000


def run_batch(
    engine: Engine,
    deps: RegistryDeps,
    batch_id: str,
    *,
    lease_seconds: float | None = None,
    chunk_size: int | None = None,
    verify_inline: bool = False,
    set_based: bool = True,
    stop_after: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: ProgressCallback | None = None,
    settings: Settings | None = None,
) -> RunReport:
    """Work a batch's pending rows in row order under a lease; returns what this run did.

    Rows are registered set-based (``registry.bulk``), a chunk at a time, each row with the outcome a
    single registration would give it; the persons a chunk wrote are then verified in bulk when
    ``verify_inline`` is asked for (else by the worker). With ``set_based`` off, rows go one by one
    through the single registration (each verified as it is written when ``verify_inline``): the
    way every batch ran before the set-based path, kept for comparison. ``stop_after`` and
    ``should_stop`` end the run early (the lease is released and the batch goes back to
    ``queued``); a run that finds the batch leased by someone else does nothing. Before each chunk
    the submitting client is looked at afresh: disabled (or, given ``settings``, frozen), the rest
    of the batch is refused and the batch is done.
    """
    if lease_seconds is None:
        lease_seconds = settings.batch_lease_seconds if settings is not None else 120.0
    if chunk_size is None:
        chunk_size = settings.batch_chunk_rows if settings is not None else 5000
    owner = new_lease_owner()
    with session_scope(engine) as session:
        claim = _claim(session, batch_id, owner, lease_seconds)
    if claim is None:
        return RunReport(batch_id, claimed=False, rows_worked=0, finished=False)
    if set_based:
        run = _Run(engine, deps, batch_id, owner, claim, lease_seconds, on_progress, verify=verify_inline)
    else:
        row_deps = deps if verify_inline else replace(deps, verifier=None)
        run = _Run(engine, row_deps, batch_id, owner, claim, lease_seconds, on_progress)
    told_to_stop = should_stop or (lambda: False)

    def stopping() -> bool:
        return (stop_after is not None and run.worked >= stop_after) or told_to_stop()

    # A helper process prepares the next chunk while this one is written, when there is a next one.
    helper = set_based and stop_after is None and claim.total_rows - claim.done_rows > chunk_size
    preparer = _Preparer(
        bulk.Preparation.of(deps), helper=helper and (settings is None or settings.batch_helper_process)
    )
    ahead: tuple[list[BatchRow], Future[bulk.Prepared]] | None = None
    try:
        while not stopping():
            refusal = _submitter_refusal(engine, claim.caller.client_id, settings)
            if refusal is not None:
                refused = _refuse_remaining(engine, batch_id, owner, refusal, lease_seconds)
                logger.warning("batch %s stopped: %s; %s rows refused", batch_id, refusal, refused)
                break
            limit = chunk_size if stop_after is None else min(chunk_size, stop_after - run.worked)
            if not set_based:
                limit = min(limit, 50)
            if ahead is not None:
                (rows, prepared), ahead = ahead, None
            else:
                with session_scope(engine) as session:
                    rows = list(repository.pending_rows(session, batch_id, 0, limit))
                prepared = preparer.submit(run.items(rows)) if set_based and rows else _nothing_prepared()
            if not rows:
                break
            if not set_based:
                run.singly(rows)
                continue
            if preparer.ahead:
                with session_scope(engine) as session:
                    following = list(repository.pending_rows(session, batch_id, rows[-1].row_number, limit))
                if following:
                    ahead = (following, preparer.submit(run.items(following)))
            if not run.chunk(rows, prepared, stopping):
                break
        if stopping() and _has_pending(engine, batch_id):
            with session_scope(engine) as session:
                repository.release(session, batch_id, owner, status="queued", finished_at=None)
            return RunReport(batch_id, claimed=True, rows_worked=run.worked, finished=False)
    except _LeaseLost:
        logger.warning("batch %s: lease lost after %s rows; another runner continues", batch_id, run.worked)
        return RunReport(batch_id, claimed=True, rows_worked=run.worked, finished=False, lease_lost=True)
    finally:
        preparer.close()
    with session_scope(engine) as session:
        released = repository.release(session, batch_id, owner, status="done", finished_at=utcnow())
    return RunReport(
        batch_id, claimed=True, rows_worked=run.worked, finished=released, lease_lost=not released
    )


def _nothing_prepared() -> Future[bulk.Prepared]:
    done: Future[bulk.Prepared] = Future()
    done.set_result(({}, []))
    return done


def is_done(engine: Engine, batch_id: str) -> bool:
    with session_scope(engine) as session:
        batch = repository.get_batch(session, batch_id)
        return batch is not None and batch.status == "done"


def _has_pending(engine: Engine, batch_id: str) -> bool:
    with session_scope(engine) as session:
        return bool(repository.pending_rows(session, batch_id, 0, 1))


def resume_unfinished(engine: Engine, deps: RegistryDeps, **options: Any) -> list[RunReport]:
    """Run every batch that is not done and not leased by a live runner (start-up, ``gateway worker``)."""
    with session_scope(engine) as session:
        batch_ids = repository.unfinished_batch_ids(session, utcnow())
    return [run_batch(engine, deps, batch_id, **options) for batch_id in batch_ids]


def run_in_background(
    jobs: BackgroundJobs, engine: Engine, deps: RegistryDeps, batch_id: str, settings: Settings | None = None
) -> Future[RunReport]:
    """Run a batch on this process's batch threads; it stops after the row in hand when the process
    closes, and what is left stays queued for the next start."""
    return jobs.submit(
        Lane.BATCHES,
        f"batch {batch_id}",
        lambda: run_batch(engine, deps, batch_id, should_stop=jobs.should_stop, settings=settings),
    )


def resume_in_background(
    jobs: BackgroundJobs, engine: Engine, deps: RegistryDeps, settings: Settings | None = None
) -> list[Future[RunReport]]:
    """At start-up: carry on, in the background, with the batches a stopped process left."""
    with session_scope(engine) as session:
        batch_ids = repository.unfinished_batch_ids(session, utcnow())
    return [run_in_background(jobs, engine, deps, batch_id, settings) for batch_id in batch_ids]
