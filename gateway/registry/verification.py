"""Verification of registered persons and the promotion it earns: a verdict of the external
systems applied to a person (promote their code, open a wrong-ID problem record, or ask again later),
and the queue of verification jobs the worker (``gateway worker``) runs.

Registration and corrections ask the systems before their unit of work (``verify_now``, within the
short deadline) and apply the verdict inside it (``apply_verdict``); a verdict not reached in time
leaves the job queued, and ``work_queue_once`` leases due jobs, asks again outside any transaction
and applies what comes back.

The queue is verified in bulk: the leased jobs' persons go to the systems together
(``Verifier.verify_identities``, which sends each source chunks of up to 100 rows per call), and the
verdicts are applied ``APPLY_CHUNK`` jobs to a transaction, in person order; if such a transaction
fails, its verdicts are applied one job to a transaction, so that one bad job holds up no other.
``work_jobs`` does the same for given jobs (a bulk import verifying the persons it just wrote),
leasing them first so that a worker running meanwhile never asks about them too. A job whose
verdict says "ask again" is rescheduled with back-off; one whose verdict was never applied (the
process died, the database failed) keeps its lease until it runs out, and is then asked again;
``apply_verdict`` applies nothing to a job already done, so no verdict is applied twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.clock import utcnow
from gateway.db import advisory_xact_lock, session_scope
from gateway.identity import CITIZEN_ID_TYPES, CanonicalRecord
from gateway.idgen import service as codes
from gateway.keyring import KeyRing
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record
from gateway.registry import problems, repository
from gateway.registry.submission import Submission
from gateway.verdicts import Judgement, Verifier

logger = logging.getLogger(__name__)

# Verdicts applied in one transaction (as many as one call to a source answers).
APPLY_CHUNK = 100
# Given jobs leased, asked about and applied at a time by ``work_jobs``.
JOBS_PER_LEASE = 500


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


@dataclass
class VerificationCounts:
    """What a bulk verification did with its jobs.

    ``leased``: jobs taken and asked about; ``skipped``: jobs given but not taken (done, unknown, or
    leased by another worker); ``recorded``: verdicts applied, by the verification recorded
    (``verified``, ``failed``, ``not_applicable``, or ``pending``: rescheduled with back-off);
    ``already_done``: leased jobs another process finished meanwhile; ``unapplied``: jobs whose
    verdict could not be applied (they keep their lease until it runs out, then are asked again)."""

    leased: int = 0
    skipped: int = 0
    recorded: Counter[str] = field(default_factory=Counter)
    already_done: int = 0
    unapplied: int = 0


@dataclass(frozen=True)
class _Asked:
    job_id: int
    person_id: int
    record: CanonicalRecord
    guardian_id_number: str | None


def claim_due_jobs(engine: Engine, limit: int, lease_seconds: float) -> list[int]:
    """Lease due jobs to this worker; a worker that dies loses its lease, not the job."""
    now = utcnow()
    with session_scope(engine) as session:
        jobs = repository.due_jobs_unleased(session, now, limit)
        for job in jobs:
            job.lease_until = now + timedelta(seconds=lease_seconds)
            session.add(job)
        return [int(j.id or 0) for j in jobs]


def lease_jobs(engine: Engine, job_ids: Sequence[int], lease_seconds: float) -> list[int]:
    """Lease those of the given jobs that are queued and free (due or not); the ids leased."""
    now = utcnow()
    with session_scope(engine) as session:
        jobs = repository.free_jobs_among(session, job_ids, now)
        for job in jobs:
            job.lease_until = now + timedelta(seconds=lease_seconds)
            session.add(job)
        return [int(j.id or 0) for j in jobs]


def work_queue_once(
    engine: Engine, deps: VerificationDeps, *, limit: int = 100, lease_seconds: float = 120
) -> int:
    """One pass of the worker: lease up to ``limit`` due jobs and verify them in bulk; returns how
    many were leased."""
    ids = claim_due_jobs(engine, limit, lease_seconds)
    if ids:
        verify_leased_jobs(engine, deps, ids, counts=VerificationCounts(), deadline=None, actor="worker")
    return len(ids)


def work_jobs(
    engine: Engine,
    deps: VerificationDeps,
    job_ids: Sequence[int],
    *,
    lease_seconds: float = 120,
    deadline: float | None = None,
    actor: str = "worker",
) -> VerificationCounts:
    """Verify the given queued jobs now, as the worker would (a bulk import verifying the persons it
    just wrote): lease them (``JOBS_PER_LEASE`` at a time; jobs done, unknown or leased by another
    worker are skipped), ask the systems about them in bulk outside any transaction, and apply the
    verdicts. ``deadline`` bounds each bulk question (None: the verifier's own deadline). Jobs whose
    verdict is pending stay queued for ``gateway worker`` with back-off."""
    counts = VerificationCounts()
    unique = list(dict.fromkeys(job_ids))
    if deps.verifier is None:
        counts.skipped = len(unique)
        return counts
    for start in range(0, len(unique), JOBS_PER_LEASE):
        part = unique[start : start + JOBS_PER_LEASE]
        leased = lease_jobs(engine, part, lease_seconds)
        counts.leased += len(leased)
        counts.skipped += len(part) - len(leased)
        if leased:
            verify_leased_jobs(engine, deps, leased, counts=counts, deadline=deadline, actor=actor)
    return counts


def verify_leased_jobs(
    engine: Engine,
    deps: VerificationDeps,
    job_ids: Sequence[int],
    *,
    counts: VerificationCounts,
    deadline: float | None,
    actor: str,
) -> None:
    """Ask the systems about leased jobs' persons together (outside any transaction), then apply
    the verdicts, ``APPLY_CHUNK`` to a transaction; what happened is added to ``counts``."""
    if deps.verifier is None:
        return
    asked = _persons_of_jobs(engine, deps, job_ids)
    counts.already_done += len(job_ids) - len(asked)
    if not asked:
        return
    try:
        verdicts = deps.verifier.verify_identities(
            [(one.record, one.guardian_id_number) for one in asked], deadline_seconds=deadline
        )
    except Exception:
        logger.exception("bulk verification of %d jobs failed; they stay queued", len(asked))
        counts.unapplied += len(asked)
        return
    # In person order, so that two transactions applying verdicts take the persons' locks alike.
    ordered = sorted(zip(asked, verdicts, strict=True), key=lambda pair: (pair[0].person_id, pair[0].job_id))
    for start in range(0, len(ordered), APPLY_CHUNK):
        _apply_together(engine, deps, ordered[start : start + APPLY_CHUNK], counts, actor)


def _persons_of_jobs(engine: Engine, deps: VerificationDeps, job_ids: Sequence[int]) -> list[_Asked]:
    with session_scope(engine) as session:
        jobs = [job for job in repository.jobs_by_ids(session, job_ids) if job.status != "done"]
        persons = {p.id: p for p in people.persons_by_ids(session, sorted({j.person_id for j in jobs}))}
        return [
            _Asked(
                job_id=int(job.id or 0),
                person_id=job.person_id,
                record=person_to_record(persons[job.person_id], deps.keyring),
                guardian_id_number=deps.keyring.decrypt(job.guardian_id_encrypted, "job:guardian")
                if job.guardian_id_encrypted
                else None,
            )
            for job in jobs
        ]


def _apply_together(
    engine: Engine,
    deps: VerificationDeps,
    chunk: Sequence[tuple[_Asked, Judgement]],
    counts: VerificationCounts,
    actor: str,
) -> None:
    """Apply a chunk's verdicts in one transaction; if it fails, one job to a transaction."""
    try:
        with session_scope(engine) as session:
            results = [
                apply_verdict(session, deps, one.job_id, verdict.outcome, verdict.reason, actor)
                for one, verdict in chunk
            ]
    except Exception:
        logger.warning("%d verdicts could not be applied together; applying them one by one", len(chunk))
        results = []
        for one, verdict in chunk:
            try:
                with session_scope(engine) as session:
                    results.append(
                        apply_verdict(session, deps, one.job_id, verdict.outcome, verdict.reason, actor)
                    )
            except Exception:
                logger.exception("verdict of verification job %s not applied; it stays queued", one.job_id)
                counts.unapplied += 1
    for result in results:
        if result is None:
            counts.already_done += 1
        else:
            counts.recorded[str(result["verification"])] += 1


def verify_new_persons(
    engine: Engine, deps: VerificationDeps, person_ids: Sequence[int]
) -> VerificationCounts:
    """Verify persons a bulk load just wrote, in bulk, as the worker would (``work_jobs`` on their
    queued jobs); what stays unanswered stays queued for the worker."""
    if not person_ids:
        return VerificationCounts()
    with session_scope(engine) as session:
        job_ids = repository.queued_job_ids_of(session, list(person_ids))
    return work_jobs(engine, deps, job_ids)
