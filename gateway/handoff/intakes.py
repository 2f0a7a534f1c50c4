"""Preschool intake: a preschool registry hands its children over in one upload, stored and worked as
a registration batch by the batch runner; once the batch is done each registered child is admitted
to the preschool (an ``Admission`` with its own number, also kept as the child's ``preschool``
identifier), which is what a school's claim later looks for. Intakes run in the background and are
resumed after a restart."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.scopes import Role, Stage
from gateway.batches import repository as batch_repository
from gateway.batches import service as batches
from gateway.batches.parsing import BatchFormat, parse_batch
from gateway.clock import as_utc, utcnow
from gateway.db import session_scope
from gateway.errors import FieldError, Forbidden, InvalidInput, NotFound
from gateway.handoff import repository
from gateway.handoff.disclosure import Disclosure
from gateway.handoff.models import Admission, Intake
from gateway.idgen.service import resolve_code
from gateway.keyring import KeyRing
from gateway.persons import identifiers
from gateway.registry.service import RegistryDeps

logger = logging.getLogger(__name__)


def intake_path(intake_id: str) -> str:
    return f"/v1/handoff/intakes/{intake_id}"


def _require_preschool(caller: Caller) -> None:
    if caller.role is not Role.REGISTRY or caller.stage != Stage.PRESCHOOL:
        raise Forbidden("only a preschool registry hands children over")


def submit_intake(
    engine: Engine, keyring: KeyRing, caller: Caller, text: str, fmt: BatchFormat, disclosure: Disclosure
) -> Intake:
    """Store a preschool's handover as a registration batch; each row's record_id is the preschool's
    own number of the child, kept as the child's ``preschool`` identifier once registered."""
    _require_preschool(caller)
    parsed = parse_batch(text, fmt)
    missing = [row.row_number for row in parsed.rows if not row.record_id]
    if missing:
        raise InvalidInput(
            errors=[
                FieldError("record_id", "missing", f"row {n} has no record_id (the preschool's number)")
                for n in missing[:20]
            ]
        )
    accepted = batches.submit_batch(engine, keyring, caller, text, fmt)
    intake = Intake(
        id=f"in_{secrets.token_hex(8)}",
        client_id=caller.client_id,
        batch_id=accepted.id,
        status="queued",
        total_rows=accepted.total_rows,
        purpose=disclosure.purpose,
        approval_ref=disclosure.approval_ref,
        created_at=utcnow(),
    )
    with session_scope(engine) as session:
        repository.add(session, intake)
        audit.record(
            session,
            action="handoff.intake",
            caller=caller,
            object_type="intake",
            object_ref=intake.id,
            purpose=disclosure.purpose,
            approval_ref=disclosure.approval_ref,
            record_count=accepted.total_rows,
        )
    return intake


def run_intake(engine: Engine, deps: RegistryDeps, intake_id: str) -> Intake:
    """Register the intake's children (the batch runner does the work), then record the handover."""
    with session_scope(engine) as session:
        intake = repository.get_intake(session, intake_id)
        if intake is None:
            raise NotFound("no such intake")
        if intake.status == "done":
            return intake
        batch_id = intake.batch_id
        intake.status = "running"
        session.add(intake)
    report = batches.run_batch(engine, deps, batch_id)
    with session_scope(engine) as session:
        batch = batch_repository.get_batch(session, batch_id)
        assert batch is not None
        if batch.status != "done":
            logger.info("intake %s: batch %s not finished (%s)", intake_id, batch_id, report)
            intake = repository.get_intake(session, intake_id)
            assert intake is not None
            return intake
        return _finish_intake(session, deps, intake_id)


def _finish_intake(session: Session, deps: RegistryDeps, intake_id: str) -> Intake:
    intake = repository.get_intake(session, intake_id, for_update=True)
    assert intake is not None
    if intake.status == "done":
        return intake
    handed = 0
    for _row, record_id, outcome, code, _problem, _errors in batch_repository.result_rows(
        session, intake.batch_id
    ):
        if code is None or record_id is None or outcome not in ("issued", "existing"):
            continue
        person = resolve_code(session, code).person
        assert person.id is not None
        identifiers.attach_identifier(
            session,
            deps.keyring,
            person_id=person.id,
            scheme="preschool",
            value=record_id,
            source=intake.client_id,
        )
        if repository.get_admission(session, intake.client_id, person.id) is None:
            repository.add(
                session,
                Admission(
                    client_id=intake.client_id,
                    person_id=person.id,
                    stage=Stage.PRESCHOOL.value,
                    student_number=record_id,
                    source="intake",
                    purpose=intake.purpose,
                    approval_ref=intake.approval_ref,
                    admitted_at=utcnow(),
                ),
            )
        handed += 1
    intake.status, intake.handed_over, intake.finished_at = "done", handed, utcnow()
    session.add(intake)
    return intake


def resume_intakes(engine: Engine, deps: RegistryDeps) -> list[str]:
    """Finish intakes a stopped process left behind (run at start-up or by the worker)."""
    with session_scope(engine) as session:
        pending = repository.unfinished_intake_ids(session)
    finished = []
    for intake_id in pending:
        if run_intake(engine, deps, intake_id).status == "done":
            finished.append(intake_id)
    return finished


def intake_status(session: Session, caller: Caller, intake_id: str) -> dict[str, Any]:
    intake = repository.get_intake(session, intake_id)
    if intake is None or intake.client_id != caller.client_id:
        raise NotFound("no such intake")
    return {
        "id": intake.id,
        "status": intake.status,
        "total_rows": intake.total_rows,
        "handed_over": intake.handed_over,
        "counts": batch_repository.outcome_counts(session, intake.batch_id),
        "batch_id": intake.batch_id,
        "results_url": batches.results_path(intake.batch_id),
        "finished_at": as_utc(intake.finished_at).isoformat() if intake.finished_at else None,
    }
