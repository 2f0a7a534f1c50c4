"""Verification of registered persons and the promotion it earns: a verdict of the external
systems applied to a person (promote their code, open a wrong-ID problem record, or ask again later),
and the queue of verification jobs the worker (``gateway worker``) runs.

Registration and corrections ask the systems before their unit of work (``verify_now``, within the
short deadline) and apply the verdict inside it (``apply_verdict``); a verdict not reached in time
leaves the job queued, and ``work_queue_once`` leases due jobs, asks again outside any transaction
and applies what comes back.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.clock import utcnow
from gateway.db import advisory_xact_lock, session_scope
from gateway.identity import CITIZEN_ID_TYPES
from gateway.idgen import service as codes
from gateway.keyring import KeyRing
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record
from gateway.registry import problems, repository
from gateway.registry.submission import Submission
from gateway.verdicts import Judgement, Verifier

logger = logging.getLogger(__name__)


class VerificationDeps(Protocol):
    """What verification needs of the registry's dependencies (``registry.service.RegistryDeps``)."""

    keyring: KeyRing
    verifier: Verifier | None
    verify_deadline: float
    retry_backoff_seconds: tuple[float, ...]


def is_final(outcome: str, id_type: str | None) -> bool:
    """False when the verdict must be asked again later (the job stays queued)."""
    return not (outcome == "pending" or (outcome == "not_applicable" and id_type in CITIZEN_ID_TYPES))


def verify_now(deps: VerificationDeps, submission: Submission) -> Judgement | None:
    """The external systems' verdict within the short deadline; None if asking failed outright
    (the person is then written with a queued verification, as without a verifier)."""
    assert deps.verifier is not None
    try:
        result = deps.verifier.verify_identity(
            submission.record,
            guardian_id_number=submission.guardian_id_number,
            deadline_seconds=deps.verify_deadline,
        )
    except Exception:
        logger.exception("verification during registration failed; the worker will verify later")
        return None
    return result


def promotion_target(id_type: str | None, id_number: str | None, outcome: str) -> str | None:
    if outcome == "verified":
        return "G" if id_type in CITIZEN_ID_TYPES and id_number else "J"
    if outcome == "not_applicable" and id_type not in CITIZEN_ID_TYPES:
        # No source can vouch for the document, but the national duplicate check passed.
        return "J"
    return None


def apply_verdict(
    session: Session, deps: VerificationDeps, job_id: int, outcome: str, reason: str, actor: str
) -> dict[str, Any] | None:
    """Record a verification verdict: promote, open a wrong-ID problem, or reschedule the job."""
    job = repository.get_job(session, job_id, for_update=True)
    if job is None or job.status == "done":
        return None
    advisory_xact_lock(session, "person", str(job.person_id))
    person = people.get_person(session, job.person_id, for_update=True)
    assert person is not None and person.id is not None
    now = utcnow()
    if not is_final(outcome, person.id_type):
        job.attempts += 1
        delay = deps.retry_backoff_seconds[min(job.attempts - 1, len(deps.retry_backoff_seconds) - 1)]
        job.next_attempt_at = now + timedelta(seconds=delay)
        job.lease_until = None
        job.last_reason = reason
        session.add(job)
        return {"verification": "pending"}
    job.status, job.outcome, job.finished_at, job.lease_until, job.last_reason = (
        "done",
        outcome,
        now,
        None,
        reason,
    )
    session.add(job)
    result: dict[str, Any] = {"verification": outcome}
    if outcome == "failed":
        person.verification_status = "failed"
        session.add(person)
        result["problem_id"] = problems.open_wrong_id(session, deps.keyring, person, reason, actor).id
        return result
    person.verification_status = outcome
    session.add(person)
    result.update(_promote_if_earned(session, deps, person, outcome, actor))
    return result


def _promote_if_earned(
    session: Session, deps: VerificationDeps, person: Person, outcome: str, actor: str
) -> dict[str, str]:
    """Promote the code of an active person the verdict vouches for (none while a problem record
    about them is open); the new code and the one it replaced, or nothing."""
    assert person.id is not None
    if (
        person.status != "active"
        or person.current_code[0] == "G"
        or repository.open_problems_about(session, person.id)
    ):
        return {}
    record = person_to_record(person, deps.keyring)
    target = promotion_target(person.id_type, record.id_number, outcome)
    why = "verified_and_deduplicated" if outcome == "verified" else "deduplicated_without_id"
    if person.current_code[0] == "J":
        # A J code becomes G once the person has a verified resident ID number (student-codes.md),
        # unless that G form is already someone's code: then the J code simply stays.
        if target != "G" or codes.is_issued(session, "G" + str(record.id_number)):
            return {}
        why = "id_number_obtained"
    if target is None:
        return {}
    promotion = codes.promote_code(
        session,
        person.current_code,
        target="G" if target == "G" else "J",
        resident_id=record.id_number if target == "G" else None,
        actor=actor,
        reason=why,
    )
    return {
        "code": promotion.new_code,
        "code_type": promotion.new_code[0],
        "promoted_from": promotion.old_code,
    }


def run_verification_job(
    engine: Engine, deps: VerificationDeps, job_id: int, *, deadline: float | None, actor: str
) -> dict[str, Any] | None:
    """Ask the external systems about a job's person (outside any transaction), then apply the verdict."""
    if deps.verifier is None:
        return None
    with session_scope(engine) as session:
        job = repository.get_job(session, job_id)
        if job is None or job.status == "done":
            return None
        person = people.get_person(session, job.person_id)
        assert person is not None
        record = person_to_record(person, deps.keyring)
        guardian = (
            deps.keyring.decrypt(job.guardian_id_encrypted, "job:guardian")
            if job.guardian_id_encrypted
            else None
        )
    verdict = deps.verifier.verify_identity(record, guardian_id_number=guardian, deadline_seconds=deadline)
    with session_scope(engine) as session:
        return apply_verdict(session, deps, job_id, verdict.outcome, verdict.reason, actor)


def claim_due_jobs(engine: Engine, limit: int, lease_seconds: float) -> list[int]:
    """Lease due jobs to this worker; a worker that dies loses its lease, not the job."""
    now = utcnow()
    with session_scope(engine) as session:
        jobs = repository.due_jobs_unleased(session, now, limit)
        for job in jobs:
            job.lease_until = now + timedelta(seconds=lease_seconds)
            session.add(job)
        return [int(j.id or 0) for j in jobs]


def work_queue_once(
    engine: Engine, deps: VerificationDeps, *, limit: int = 20, lease_seconds: float = 120
) -> int:
    """One pass of the worker: claim due jobs and run each; returns how many were run."""
    ids = claim_due_jobs(engine, limit, lease_seconds)
    for job_id in ids:
        try:
            run_verification_job(engine, deps, job_id, deadline=None, actor="worker")
        except Exception:
            logger.exception("verification job %s failed; it stays queued", job_id)
    return len(ids)
