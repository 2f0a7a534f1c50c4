"""The registration workflow: normalise, search before create, one code per person, verify, promote.

A registration ends in one typed outcome (``gateway.registry.outcomes``). Under locks on the
person's blocking keys, the first unit of work decides it; when it is a new person, the external
systems are asked outside any transaction (within a short deadline), and a second unit of work
decides again under the same locks and writes the person, their codes (promoted at once when
verified), blocking keys, identifier and verification job together. A verdict not reached in time
leaves the job queued for ``gateway worker`` (``gateway.registry.verification``). The national
duplicate search that registration runs (``find_candidates``) is here too: corrections, transfers and
the real-time search use it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.clock import utcnow
from gateway.db import advisory_xact_locks, registration_gate
from gateway.errors import Forbidden, InvalidInput
from gateway.identity import CanonicalRecord, normalise_record
from gateway.idgen import service as codes
from gateway.keyring import KeyRing, lookup_hash
from gateway.matching import (
    MatchConfig,
    MatchModel,
    MatchResult,
    blocking_key_digest,
    prepare_record,
    prepared_blocking_keys,
    rank_prepared,
    search_outcome,
)
from gateway.matching.comparators import PreparedRecord
from gateway.persons import identifiers
from gateway.persons import repository as people
from gateway.persons.models import Person, PersonSummary
from gateway.persons.records import person_to_record, store_record
from gateway.privacy import disclosed_code
from gateway.registry import idempotency, outcomes, problems, repository, verification
from gateway.registry.idempotency import IdempotentRequest, KeyedUnitOfWork, StoredAnswer
from gateway.registry.models import MatchDecision, VerificationJob
from gateway.registry.modelstore import ModelCache, active_model
from gateway.registry.outcomes import Existing, HeldElsewhere, Issued, RegistrationOutcome, ReviewRequired
from gateway.registry.submission import Submission, parse_submission
from gateway.schools.service import check_school, registers_at_schools
from gateway.verdicts import Judgement, VerdictOutcome, Verifier

logger = logging.getLogger(__name__)


@dataclass
class RegistryDeps:
    """What the workflow needs besides a database: keys, the matcher and the verifier. ``model`` is
    the configuration and the parameters started with; an active stored version (``modelstore``)
    takes their place when scoring."""

    keyring: KeyRing
    model: MatchModel
    verifier: Verifier | None
    verify_deadline: float = 2.0
    candidate_limit: int = 200
    retry_backoff_seconds: tuple[float, ...] = field(default=(30, 120, 600, 1800, 3600))
    model_cache: ModelCache = field(default_factory=dict)


def digests_of(record: CanonicalRecord, deps: RegistryDeps) -> list[str]:
    return blocking_digests(
        prepare_record(record, deps.model.config), deps.model.config, deps.keyring.hmac_key
    )


def blocking_digests(prepared: PreparedRecord, config: MatchConfig, hmac_key: bytes) -> list[str]:
    """The stored form (keyed digests) of a prepared record's blocking keys."""
    return sorted({blocking_key_digest(k, hmac_key) for k in prepared_blocking_keys(prepared, config)})


@dataclass(frozen=True)
class SearchHit:
    person: PersonSummary
    result: MatchResult


def document_of(record: CanonicalRecord, deps: RegistryDeps) -> tuple[str, str] | None:
    return document_key(record, deps.keyring.hmac_key)


def document_key(record: CanonicalRecord, hmac_key: bytes) -> tuple[str, str] | None:
    """The record's national document as (scheme, keyed hash), the way identifiers are looked up."""
    scheme = scheme_of(record)
    if scheme and record.id_number:
        return scheme, lookup_hash(hmac_key, scheme, record.id_number.strip())
    return None


@dataclass(frozen=True)
class Found:
    """What a search found for a record: the hits scored best first, the search outcome, and the
    persons actively holding the record's document."""

    hits: list[SearchHit]
    outcome: str
    holders: list[int]


def rank_found(
    deps: RegistryDeps,
    record: CanonicalRecord,
    found: list[PersonSummary],
    holders: list[int],
    *,
    model: MatchModel,
    prepared: PreparedRecord | None = None,
    cache: dict[int, PreparedRecord] | None = None,
) -> Found:
    """Score the persons a search read (in id order) against the record (``prepared`` already, or
    not) with ``model`` (the active version's: ``modelstore.active_model``). ``cache`` keeps the
    persons' prepared records (decrypted once) when one set of persons serves many searches."""
    config = deps.model.config
    active = [p for p in found if p.status == "active"]
    candidates = []
    for p in active:
        person_id = int(p.id or 0)
        ready = cache.get(person_id) if cache is not None else None
        if ready is None:
            ready = prepare_record(person_to_record(p, deps.keyring), config)
            if cache is not None:
                cache[person_id] = ready
        candidates.append(ready)
    query = prepared if prepared is not None else prepare_record(record, config)
    results = rank_prepared(query, candidates, model)
    by_id = {str(p.id): p for p in active}
    hits = [SearchHit(by_id[r.record_id_2], r) for r in results]
    return Found(hits, search_outcome(results, config), holders)


def find_candidates(
    session: Session, deps: RegistryDeps, record: CanonicalRecord, digests: list[str] | None = None
) -> tuple[list[SearchHit], str, list[int]]:
    """Candidates by indexed blocking keys (plus holders of the same document), scored best first.

    Returns the hits, the search outcome and the persons actively holding the record's document.
    """
    digests = digests if digests is not None else digests_of(record, deps)
    found, holders = people.search_candidates(
        session, digests, deps.candidate_limit, document_of(record, deps)
    )
    model = active_model(session, deps.model, deps.model_cache)
    ranked = rank_found(deps, record, found, holders, model=model)
    return ranked.hits, ranked.outcome, ranked.holders


@dataclass(frozen=True)
class SearchFound:
    """A real-time search as the caller may see it: the outcome over the persons inside its
    jurisdiction, the candidates to show, and the ID number searched with (a G code carrying it
    may be shown in full)."""

    outcome: str
    shown: list[SearchHit]
    supplied: frozenset[str]


def search(session: Session, deps: RegistryDeps, caller: Caller, fields: dict[str, Any]) -> SearchFound:
    """Ranked candidates for a record (422 naming the fields it refuses); audited."""
    normalised = normalise_record(fields)
    if normalised.record is None:
        raise InvalidInput(
            errors=[{"field": i.field, "code": i.code, "message": i.message} for i in normalised.errors]
        )
    hits, _outcome, _holders = find_candidates(session, deps, normalised.record)
    # A G code is an ID number: shown in full only when it carries the very number searched with.
    supplied = frozenset({normalised.record.id_number} if normalised.record.id_number else ())
    visible = [h for h in hits if caller.jurisdiction.covers(h.person.region, h.person.school_code)]
    shown = [h for h in visible if h.result.band != "non_match"][:20]
    audit.record(session, action="search", caller=caller, object_type="search", record_count=len(shown))
    return SearchFound(search_outcome([h.result for h in visible], deps.model.config), shown, supplied)


def hit_explanation(person_id: int | None, result: MatchResult) -> dict[str, Any]:
    """One scored candidate as stored with a decision: score, band, every field's level and weight
    (with the value's frequency where the weight was TF-adjusted), hard rules, the rule that decided an
    auto-link below the match threshold (``decided_by``), configuration and model version (None: the
    parameters shipped)."""
    return {
        "person_id": person_id,
        "probability": round(result.probability, 6),
        "band": result.band,
        "grade": result.grade,
        "fields": [
            {"field": e.field, "level": e.level, "weight": round(e.weight, 3)}
            | ({} if e.tf is None else {"tf": e.tf})
            for e in result.explanation
        ],
        "rules_fired": list(result.rules_fired),
        "config": f"{result.config_name}@{result.config_version}",
        "model_version": result.model_version,
    } | ({} if result.decided_by is None else {"decided_by": result.decided_by})


def explanation_json(hits: list[SearchHit]) -> str:
    return json.dumps([hit_explanation(h.person.id, h.result) for h in hits[:10]], ensure_ascii=False)


def scheme_of(record: CanonicalRecord) -> str | None:
    if not record.id_number:
        return None
    if record.id_type == "household_booklet":
        return "resident_id"
    if record.id_type in identifiers.NATIONAL_DOCUMENT_SCHEMES:
        return str(record.id_type)
    return None


def attach_document(
    session: Session,
    deps: RegistryDeps,
    person_id: int,
    record: CanonicalRecord,
    actor: str,
    *,
    new_person: bool = False,
) -> None:
    """The record's national document, when it has one, becomes an identifier of the person."""
    scheme = scheme_of(record)
    if scheme and record.id_number:
        identifiers.attach_identifier(
            session,
            deps.keyring,
            person_id=person_id,
            scheme=scheme,
            value=record.id_number,
            source=actor,
            new_person=new_person,
        )


def new_person(
    session: Session,
    *,
    region: str,
    school_code: str | None,
    birth_date: date,
    actor: str,
    record: CanonicalRecord | None = None,
    keyring: KeyRing | None = None,
    verification_status: str = "unverified",
    formal: Literal["G", "J"] | None = None,
    promotion_reason: str | None = None,
    grade: int | None = None,
) -> tuple[Person, codes.NewCodes]:
    """Write a new person holding a fresh ``L`` code (with ``formal``: already promoted to it).

    ``record`` (with the keyring that encrypts its ID number) gives the demographics. Returns the
    person as written, outside the session (``people.get_person`` to change it through the ORM),
    and their codes."""
    id_number = record.id_number if record is not None else None
    codes_ = codes.issue_new_person_codes(
        session, region=region, birth_date=birth_date, actor=actor, id_number=id_number, formal=formal
    )
    now = utcnow()
    person = Person(
        current_code=codes_.current,
        region=region,
        school_code=school_code,
        birth_date=birth_date,
        created_at=now,
        updated_at=now,
        verification_status=verification_status,
        grade=grade,
    )
    if record is not None:
        assert keyring is not None
        store_record(person, record, keyring)
    people.insert_person(session, person)
    codes.bind_new_codes(session, codes_, person, actor=actor, reason=promotion_reason)
    return person, codes_


def create_person(
    session: Session,
    deps: RegistryDeps,
    submission: Submission,
    actor: str,
    digests: list[str] | None = None,
    verdict: Judgement | None = None,
) -> tuple[Person, Issued]:
    """A new person with their identifiers and blocking keys, and their verification.

    Without a verdict the person gets an L code and a queued verification job. With one (the
    external systems answered before the person was written) it is applied in the same transaction:
    the L code issued and promoted at once, a wrong-ID problem opened, or the job queued for a retry.
    """
    record = submission.record
    now = utcnow()
    final = verdict is not None and verification.is_final(verdict.outcome, str(record.id_type))
    status = VerdictOutcome(verdict.outcome) if verdict is not None and final else VerdictOutcome.PENDING
    target = verification.promotion_target(str(record.id_type), record.id_number, status)
    person, issued = new_person(
        session,
        region=submission.school_region,
        school_code=submission.school_code,
        birth_date=record.birth_date,
        actor=actor,
        record=record,
        keyring=deps.keyring,
        verification_status=status,
        formal=None if target is None else ("G" if target == "G" else "J"),
        promotion_reason="verified_and_deduplicated"
        if status == VerdictOutcome.VERIFIED
        else "deduplicated_without_id",
        grade=submission.grade,
    )
    assert person.id is not None
    attach_document(session, deps, person.id, record, actor, new_person=True)
    people.add_blocking_keys(
        session, person.id, digests if digests is not None else digests_of(record, deps), new_person=True
    )
    repository.add_job(session, _verification_job(deps, person.id, submission, verdict, final, now))
    problem_id = None
    if verdict is not None and verdict.outcome == VerdictOutcome.FAILED:
        problem_id = problems.open_wrong_id(session, deps.keyring, person, verdict.reason, actor).id
    return person, Issued(
        code=disclosed_code(person.current_code, supplied={str(record.id_number)}),
        code_type=person.current_code[0],
        verification=status,
        promoted_from=issued.temporary if issued.formal else None,
        problem_id=problem_id,
        warnings=submission.warnings,
        flags=submission.flags,
    )


def _verification_job(
    deps: RegistryDeps,
    person_id: int,
    submission: Submission,
    verdict: Judgement | None,
    final: bool,
    now: datetime,
) -> VerificationJob:
    """A new person's verification job: queued, done with the verdict already in, or queued for
    a retry when the verdict asked to be asked again."""
    job = VerificationJob(
        person_id=person_id,
        next_attempt_at=now,
        guardian_id_encrypted=deps.keyring.encrypt(submission.guardian_id_number, "job:guardian")
        if submission.guardian_id_number
        else None,
        created_at=now,
    )
    if verdict is not None and final:
        job.status, job.outcome, job.finished_at, job.last_reason = (
            "done",
            verdict.outcome,
            now,
            verdict.reason,
        )
    elif verdict is not None:
        job.attempts = 1
        job.next_attempt_at = now + timedelta(seconds=deps.retry_backoff_seconds[0])
        job.last_reason = verdict.reason
    return job


def _answer_existing(
    session: Session, deps: RegistryDeps, caller: Caller, submission: Submission, hit: SearchHit
) -> Existing:
    """An auto-link: recorded with the model version, score and explanation that made it (and the
    submission, encrypted, so that a later version can re-score it)."""
    person, result = hit.person, hit.result
    assert person.id is not None
    repository.add_match_decision(
        session,
        MatchDecision(
            person_id=person.id,
            model_version=result.model_version,
            config_label=f"{result.config_name}@{result.config_version}",
            probability=result.probability,
            explanation_json=json.dumps(hit_explanation(person.id, result), ensure_ascii=False),
            submitted_encrypted=problems.seal_submission(submission, deps.keyring),
            decided_at=utcnow(),
            decided_by=caller.client_id,
        ),
    )
    # The registrant learns a G code in full only when it sent that ID number itself.
    code = disclosed_code(person.current_code, supplied={str(submission.record.id_number)})
    return Existing(code=code, code_type=person.current_code[0])


def lock_blocking_keys(session: Session, digests: list[str]) -> None:
    """Serialise the writers of these blocking keys until the transaction ends: two registrations
    of one child (or a correction making a record match another) never decide at the same time.
    The registration gate is taken shared first, so a bulk load's unit of work (which takes it
    exclusively, ``registration_gate``) never interleaves with them."""
    registration_gate(session, exclusive=False)
    advisory_xact_locks(session, [f"bk:{d}" for d in digests])


def _decide_registration(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    submission: Submission,
    *,
    verdict: Judgement | None = None,
    defer_new: bool = False,
) -> RegistrationOutcome | None:
    """The one outcome of a registration, written; None (nothing written) when the outcome is a new
    person and ``defer_new`` asks to verify them before they are written."""
    digests = digests_of(submission.record, deps)
    lock_blocking_keys(session, digests)
    hits, outcome, holders = find_candidates(session, deps, submission.record, digests)
    decided = decide_found(session, deps, caller, submission, Found(hits, outcome, holders))
    if decided is not None or defer_new:
        return decided
    return create_person(session, deps, submission, caller.client_id, digests, verdict)[1]


def decide_found(
    session: Session, deps: RegistryDeps, caller: Caller, submission: Submission, found: Found
) -> RegistrationOutcome | None:
    """The outcome of a registration given what its search found (under its keys' locks), written;
    None when it is a new person, whom the caller writes (one by one, or a bulk load's many at once).

    A child already held by another jurisdiction (a certain match, or the holder of the same ID
    number) is never answered with their code: that is a duplicate registration (重复学籍), answered
    ``held_elsewhere`` with a problem record both sides see masked; the way forward is a transfer.
    """
    record = submission.record
    hits, outcome, holders = found.hits, found.outcome, found.holders
    actor = caller.client_id
    matches = [h for h in hits if h.result.band == "match"]
    ours = {
        int(h.person.id or 0)
        for h in hits
        if caller.jurisdiction.covers(h.person.region, h.person.school_code)
    }
    if outcome == "exact_match" and (not holders or holders == [matches[0].person.id]):
        person = matches[0].person
        assert person.id is not None
        if person.id in ours:
            if not holders:
                attach_document(session, deps, person.id, record, actor)
            return _answer_existing(session, deps, caller, submission, matches[0])
    reviewable = [h for h in hits if h.result.band in ("match", "review")]
    candidate_ids = [int(h.person.id or 0) for h in reviewable] + [
        h for h in holders if h not in {x.person.id for x in reviewable}
    ]
    held_elsewhere = [int(h.person.id or 0) for h in matches if h.person.id not in ours]
    held_elsewhere += [h for h in holders if h not in ours and h not in held_elsewhere]
    if held_elsewhere:
        return _answer_held_elsewhere(session, deps, caller, submission, hits, candidate_ids, held_elsewhere)
    if reviewable or holders:
        return _answer_review_required(
            session, deps, caller, submission, hits, outcome, candidate_ids, held_by_someone=bool(holders)
        )
    return None


def _answer_review_required(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    submission: Submission,
    hits: list[SearchHit],
    outcome: str,
    candidate_ids: list[int],
    *,
    held_by_someone: bool,
) -> ReviewRequired:
    """Possibly someone registered already (inside the caller's jurisdiction): nothing issued, a
    problem record for a reviewer, of the kind the evidence calls for."""
    if held_by_someone:
        kind = "duplicate_id"
    elif submission.record.id_type == "none":
        kind = "duplicate_no_id"
    else:
        kind = "possible_duplicate"
    problem = problems.open_problem_on_submission(
        session,
        deps.keyring,
        submission,
        kind=kind,
        actor=caller.client_id,
        candidates=candidate_ids,
        explanation=explanation_json(hits),
    )
    assert problem.id is not None
    return ReviewRequired(
        problem_id=problem.id,
        problem_type=kind,
        search_outcome=outcome,
        candidate_count=len(candidate_ids),
    )


def _answer_held_elsewhere(
    session: Session,
    deps: RegistryDeps,
    caller: Caller,
    submission: Submission,
    hits: list[SearchHit],
    candidate_ids: list[int],
    held_elsewhere: list[int],
) -> HeldElsewhere:
    """The child is enrolled in another jurisdiction. Nothing is registered; a duplicate-enrolment
    problem record names both sides (each sees the other masked), and the registrant's way forward
    is a transfer application with the code the family holds."""
    problem = problems.open_problem_on_submission(
        session,
        deps.keyring,
        submission,
        kind="duplicate_enrolment",
        actor=caller.client_id,
        candidates=candidate_ids,
        explanation=explanation_json(hits),
    )
    assert problem.id is not None
    provinces = sorted({p.region[:2] for p in people.persons_by_ids(session, held_elsewhere)})
    return HeldElsewhere(problem_id=problem.id, held_in_provinces=provinces)


@dataclass(frozen=True)
class Pending:
    """A registration that found nobody: verify it (``verify_now``), then ``finish`` it."""

    request: IdempotentRequest
    submission: Submission


def begin(
    engine: Engine, deps: RegistryDeps, caller: Caller, body: Any, idempotency_key: str | None
) -> RegistrationOutcome | Pending:
    """The first unit of work of a registration: its outcome, written, unless it is a new person to
    be verified first (``Pending``: nothing written, no lock held while the systems are asked)."""
    request = idempotency.idempotent_request(caller.client_id, idempotency_key, body)
    verify_first = deps.verifier is not None and deps.verify_deadline > 0
    with idempotency.answering(engine, request) as work:
        if work.replay is not None:
            return outcomes.from_json(work.replay.body)
        submission = parse_submission(body)
        if not caller.jurisdiction.covers(submission.school_region, submission.school_code):
            raise Forbidden("the school is outside your jurisdiction")
        if registers_at_schools(caller):
            refused = check_school(
                work.session, submission.school_code, submission.school_region, submission.grade
            )
            if refused:
                raise InvalidInput(errors=refused)
        decided = _decide_registration(work.session, deps, caller, submission, defer_new=verify_first)
        if decided is not None:
            return _record_answer(work, caller, decided)
    return Pending(request, submission)


def finish(
    engine: Engine, deps: RegistryDeps, caller: Caller, pending: Pending, verdict: Judgement | None
) -> RegistrationOutcome:
    """The second unit of work: decided again under the same locks (a twin registered meanwhile is
    found), then the person, their codes and the verdict written together."""
    with idempotency.answering(engine, pending.request) as work:
        if work.replay is not None:
            # The same key, sent twice at once, was answered meanwhile.
            return outcomes.from_json(work.replay.body)
        decided = _decide_registration(work.session, deps, caller, pending.submission, verdict=verdict)
        assert decided is not None
        return _record_answer(work, caller, decided)


def register(
    engine: Engine, deps: RegistryDeps, caller: Caller, body: Any, idempotency_key: str | None
) -> RegistrationOutcome:
    """Register one person; exactly one outcome, replayable by its Idempotency-Key.

    A registration that finds nobody is verified before the new person is written: the external
    systems are asked outside any transaction (with the short deadline), then the outcome is decided
    again under the same locks, so a twin registered meanwhile is still found, and the person, the
    L code and, when verified, its promotion are written in one transaction. If the process dies
    while the systems are asked, nothing was acknowledged and nothing was written. (The route runs
    the same three steps, ``begin``, ``verify_now`` and ``finish``, without holding a request
    thread while the systems are asked.)
    """
    started = begin(engine, deps, caller, body, idempotency_key)
    if not isinstance(started, Pending):
        return started
    return finish(engine, deps, caller, started, verification.verify_now(deps, started.submission))


def _record_answer(
    work: KeyedUnitOfWork, caller: Caller, outcome: RegistrationOutcome
) -> RegistrationOutcome:
    work.store(StoredAnswer(outcomes.status_of(outcome), outcomes.to_json(outcome)))
    audit_registration(work.session, caller, outcome)
    return outcome


def audit_registration(session: Session, caller: Caller, outcome: RegistrationOutcome) -> None:
    """The audit row of one registration's outcome."""
    audit.record(
        session,
        action="registration.create",
        caller=caller,
        object_type="person",
        object_ref=outcomes.object_ref(outcome),
        outcome=outcome.kind,
    )
