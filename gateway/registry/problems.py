"""Problem records opened: what registration, verification, corrections and reviewers' reports file
for a reviewer, and the submission a record keeps (encrypted) read back for the decision.

A problem record names the persons it is about (its visibility follows where they are now); the
submission it keeps is what the registrant sent, so that a reviewer who decides "different persons"
registers exactly that. Deciding problem records is ``gateway.registry.reviews``.
"""

from __future__ import annotations

import json

from sqlmodel import Session

from gateway.clock import utcnow
from gateway.keyring import KeyRing
from gateway.persons.models import Person
from gateway.registry import repository
from gateway.registry.models import ProblemRecord
from gateway.registry.submission import Submission, parse_submission

_SUBMISSION_CONTEXT = "problem:submission"


def open_problem(
    session: Session,
    keyring: KeyRing,
    *,
    kind: str,
    region: str,
    school_code: str | None,
    opened_by: str,
    subject: Person | None = None,
    candidates: list[int] | None = None,
    submission: Submission | None = None,
    explanation: str | None = None,
) -> ProblemRecord:
    """A new problem record filed in ``region`` (and school), naming its subject and candidates."""
    submitted = None if submission is None else seal_submission(submission, keyring)
    problem = ProblemRecord(
        type=kind,
        region=region,
        school_code=school_code,
        subject_person_id=subject.id if subject else None,
        candidate_person_ids=" ".join(str(c) for c in (candidates or [])),
        submitted_encrypted=submitted,
        explanation_json=explanation,
        opened_at=utcnow(),
        opened_by=opened_by,
    )
    repository.add_problem(session, problem)
    assert problem.id is not None
    involved = ([subject.id] if subject is not None and subject.id is not None else []) + list(
        candidates or []
    )
    repository.add_problem_persons(session, problem.id, involved)
    return problem


def open_problem_about(
    session: Session,
    keyring: KeyRing,
    person: Person,
    *,
    kind: str,
    actor: str,
    candidates: list[int] | None = None,
    explanation: str | None = None,
    submission: Submission | None = None,
) -> ProblemRecord:
    """A problem record whose subject is a registered person, filed where their school is."""
    return open_problem(
        session,
        keyring,
        kind=kind,
        region=person.region,
        school_code=person.school_code,
        opened_by=actor,
        subject=person,
        candidates=candidates,
        submission=submission,
        explanation=explanation,
    )


def open_problem_on_submission(
    session: Session,
    keyring: KeyRing,
    submission: Submission,
    *,
    kind: str,
    actor: str,
    candidates: list[int],
    explanation: str,
) -> ProblemRecord:
    """A problem record about a registration not written (nobody registered by it), filed where
    the submitting school is and keeping what it submitted."""
    return open_problem(
        session,
        keyring,
        kind=kind,
        region=submission.school_region,
        school_code=submission.school_code,
        opened_by=actor,
        candidates=candidates,
        submission=submission,
        explanation=explanation,
    )


def open_wrong_id(
    session: Session, keyring: KeyRing, person: Person, reason: str, actor: str
) -> ProblemRecord:
    """A failed verification: the person keeps their L code until a reviewer resolves this."""
    return open_problem_about(
        session, keyring, person, kind="wrong_id", actor=actor, explanation=json.dumps({"reason": reason})
    )


def seal_submission(submission: Submission, keyring: KeyRing) -> str:
    """What a registrant submitted, encrypted, as a problem record or an auto-link keeps it."""
    payload = {
        "record": submission.record.to_dict(),
        "school_code": submission.school_code,
        "school_region": submission.school_region,
        "guardian_id_number": submission.guardian_id_number,
    }
    return keyring.encrypt(json.dumps(payload, ensure_ascii=False), _SUBMISSION_CONTEXT)


def stored_submission(problem: ProblemRecord, keyring: KeyRing) -> Submission | None:
    """What the registrant submitted, as ``open_problem`` kept it (None when nothing was)."""
    if not problem.submitted_encrypted:
        return None
    return unseal_submission(problem.submitted_encrypted, keyring)


def unseal_submission(sealed: str, keyring: KeyRing) -> Submission:
    """Read back what ``seal_submission`` kept."""
    payload = json.loads(keyring.decrypt(sealed, _SUBMISSION_CONTEXT))
    body = {
        **payload["record"],
        "school_code": payload["school_code"],
        "school_region": payload["school_region"],
    }
    if payload.get("guardian_id_number"):
        body["guardian_id_number"] = payload["guardian_id_number"]
    body = {k: v for k, v in body.items() if v is not None}
    return parse_submission(body)
