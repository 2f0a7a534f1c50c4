"""Registering many rows at once: the set-based path of a bulk load (a province's first collection).

Each row ends in the outcome a single registration (``registry.service.register``) would give it,
in row order, but the work is done for many rows per unit of work:

1. ``prepare_rows`` normalises every row and computes its blocking keys and document hash; a row that
   fails is refused (naming its fields) as a single registration would refuse it, and so is a row
   naming a school the register does not know (``refuse_unknown_schools``, one query for all).
2. ``waves`` orders the rows so that rows sharing any blocking key or document (the same child
   submitted twice, twins, namesakes born the same month) are decided one after the other, in row
   order, each seeing what the earlier ones wrote; rows sharing nothing are independent, because a
   registration reads and writes only persons found through its own keys and document.
3. ``register_wave`` decides one wave in one transaction: the registration gate taken exclusively
   (``gateway.db.registration_gate``: single registrations, which take it shared, wait for the wave
   and the wave waits for them), every candidate read in three queries, each row scored and decided
   by the same ``decide_found`` as a single registration, the new persons written with multi-row
   statements (codes, persons, identifiers, blocking keys, verification jobs), one audit row per
   registration; the caller's ``record`` writes its own bookkeeping (the batch rows marked done)
   in the same transaction, so a crash loses or repeats nothing.

New persons get their ``L`` code and a queued verification job, verified in bulk afterwards; a bulk
load never waits on the external systems row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.auth.caller import Caller
from gateway.clock import utcnow
from gateway.db import registration_gate, session_scope
from gateway.errors import FieldError, Forbidden, GatewayError, InvalidInput
from gateway.idgen import service as codes
from gateway.matching import MatchConfig, prepare_record
from gateway.matching.comparators import PreparedRecord
from gateway.persons import identifiers
from gateway.persons import repository as people
from gateway.persons.records import stored_fields
from gateway.privacy import disclosed_code
from gateway.registry import repository
from gateway.registry.modelstore import active_model
from gateway.registry.outcomes import Issued, RegistrationOutcome
from gateway.registry.service import (
    RegistryDeps,
    audit_registration,
    blocking_digests,
    decide_found,
    document_key,
    rank_found,
    scheme_of,
)
from gateway.registry.submission import Submission, parse_submission
from gateway.schools.service import check_schools, registers_at_schools
from gateway.verdicts import VerdictOutcome


@dataclass(frozen=True)
class Refused:
    """A row not registered: refused as a single registration would be (nothing written)."""

    kind: Literal["rejected", "forbidden", "error"]
    status: int
    errors: list[FieldError]


RowAnswer = RegistrationOutcome | Refused


@dataclass(frozen=True)
class BulkRow:
    """A row ready to be decided: its number, submission, blocking keys and document."""

    number: int
    submission: Submission
    prepared: PreparedRecord
    digests: list[str]
    document: tuple[str, str] | None


def refusal_of(exc: GatewayError) -> Refused:
    """How a single registration's refusal reads as a row's answer."""
    if isinstance(exc, InvalidInput):
        return Refused("rejected", 422, list(exc.errors))
    if isinstance(exc, Forbidden):
        return Refused("forbidden", 403, [FieldError("school_code", "outside_jurisdiction", exc.detail)])
    return Refused("error", exc.status, [FieldError("row", exc.type_slug, exc.detail)])


@dataclass(frozen=True)
class Preparation:
    """What preparing rows needs, and no more: the matching configuration and the key of blocking
    digests and document hashes. Picklable, so a helper process can prepare the next chunk while
    this one is written."""

    config: MatchConfig
    hmac_key: bytes

    @classmethod
    def of(cls, deps: RegistryDeps) -> Preparation:
        return cls(deps.model.config, deps.keyring.hmac_key)


Prepared = tuple[dict[int, Refused], list[BulkRow]]


def prepare_rows(preparation: Preparation, items: Sequence[tuple[int, Any]]) -> Prepared:
    """Normalise rows (number, body) and compute their keys: the rows refused (naming their fields),
    and the rest. Pure: no database, no caller."""
    refused: dict[int, Refused] = {}
    rows: list[BulkRow] = []
    for number, body in items:
        try:
            submission = parse_submission(body)
        except GatewayError as exc:
            refused[number] = refusal_of(exc)
            continue
        record = submission.record
        prepared = prepare_record(record, preparation.config)
        digests = blocking_digests(prepared, preparation.config, preparation.hmac_key)
        rows.append(
            BulkRow(number, submission, prepared, digests, document_key(record, preparation.hmac_key))
        )
    return refused, rows


def refuse_outside(caller: Caller, rows: Sequence[BulkRow]) -> tuple[dict[int, Refused], list[BulkRow]]:
    """Rows whose school is outside the caller's jurisdiction, refused as a single registration
    refuses them (403), and the rest."""
    refused: dict[int, Refused] = {}
    inside: list[BulkRow] = []
    for row in rows:
        if caller.jurisdiction.covers(row.submission.school_region, row.submission.school_code):
            inside.append(row)
        else:
            refused[row.number] = refusal_of(Forbidden("the school is outside your jurisdiction"))
    return refused, inside


def refuse_unknown_schools(
    engine: Engine, caller: Caller, rows: Sequence[BulkRow]
) -> tuple[dict[int, Refused], list[BulkRow]]:
    """The school register's check of every row at once, as a single registration checks its row
    (after the jurisdiction): the rows refused (422 naming the field), and the rest."""
    if not rows or not registers_at_schools(caller):
        return {}, list(rows)
    places = [
        (r.number, r.submission.school_code, r.submission.school_region, r.submission.grade) for r in rows
    ]
    with session_scope(engine) as session:
        errors = check_schools(session, places)
    refused = {number: Refused("rejected", 422, list(found)) for number, found in errors.items()}
    return refused, [r for r in rows if r.number not in refused]


def waves(rows: Sequence[BulkRow]) -> list[list[BulkRow]]:
    """Rows in the order they may be decided: a row comes in a later wave than every earlier row
    (by number) that shares a blocking key or its document with it; in a wave no two rows share any."""
    last_wave: dict[Any, int] = {}
    out: list[list[BulkRow]] = []
    for row in sorted(rows, key=lambda r: r.number):
        keys: list[Any] = list(row.digests)
        if row.document is not None:
            keys.append(row.document)
        wave = 1 + max((last_wave.get(k, -1) for k in keys), default=-1)
        for k in keys:
            last_wave[k] = wave
        if wave == len(out):
            out.append([])
        out[wave].append(row)
    return out


Record = Callable[[Session, dict[int, RowAnswer]], None]


@dataclass(frozen=True)
class WaveWritten:
    """What one wave wrote: every row's answer, and the persons it created (their verification is
    queued)."""

    answers: dict[int, RowAnswer]
    new_persons: list[int]


def register_wave(
    engine: Engine,
    deps: RegistryDeps,
    caller: Caller,
    wave: Sequence[BulkRow],
    record: Record,
    refused: dict[int, Refused] | None = None,
) -> WaveWritten:
    """Decide and write one wave (rows sharing no key) in one transaction, with ``record`` writing
    the caller's bookkeeping of every answer (and of ``refused``, rows refused before) in it too."""
    with session_scope(engine) as session:
        answers: dict[int, RowAnswer] = dict(refused or {})
        decided, new_persons = _decide_wave(session, deps, caller, wave)
        answers.update(decided)
        record(session, answers)
    return WaveWritten(answers, new_persons)


def _decide_wave(
    session: Session, deps: RegistryDeps, caller: Caller, wave: Sequence[BulkRow]
) -> tuple[dict[int, RegistrationOutcome], list[int]]:
    if not wave:
        return {}, []
    registration_gate(session, exclusive=True)
    found = people.search_candidates_many(
        session,
        [d for row in wave for d in row.digests],
        [row.document for row in wave if row.document is not None],
    )
    cache: dict[int, PreparedRecord] = {}
    model = active_model(session, deps.model, deps.model_cache)
    answers: dict[int, RegistrationOutcome] = {}
    new: list[BulkRow] = []
    for row in wave:
        persons, holders = found.search(row.digests, row.document, deps.candidate_limit)
        ranked = rank_found(
            deps, row.submission.record, persons, holders, model=model, prepared=row.prepared, cache=cache
        )
        decided = decide_found(session, deps, caller, row.submission, ranked)
        if decided is None:
            new.append(row)
        else:
            answers[row.number] = decided
    created = create_persons(session, deps, new, caller.client_id)
    for row, (issued, _person_id) in zip(new, created, strict=True):
        answers[row.number] = issued
    for number in sorted(answers):
        audit_registration(session, caller, answers[number])
    return answers, [person_id for _issued, person_id in created]


def create_persons(
    session: Session, deps: RegistryDeps, rows: Sequence[BulkRow], actor: str
) -> list[tuple[Issued, int]]:
    """New persons for rows whose search found nobody, written with a few bulk statements: the same
    rows as ``registry.service.create_person`` without a verdict (an ``L`` code, a queued
    verification), in the same transaction. Each row's answer and its new person's id."""
    if not rows:
        return []
    records = [row.submission.record for row in rows]
    temporary = codes.choose_temporary_codes(
        session,
        [
            (row.submission.school_region, r.birth_date, r.id_number)
            for row, r in zip(rows, records, strict=True)
        ],
    )
    now = utcnow()
    persons = people.insert_new_persons(
        session,
        [
            {
                "current_code": code,
                "region": row.submission.school_region,
                "school_code": row.submission.school_code,
                "grade": row.submission.grade,
                "created_at": now,
                "updated_at": now,
                "verification_status": VerdictOutcome.PENDING.value,
                **stored_fields(record, deps.keyring),
            }
            for row, record, code in zip(rows, records, temporary, strict=True)
        ],
    )
    codes.write_temporary_codes(session, list(zip(temporary, persons, strict=True)), actor)
    identifiers.attach_new_identifiers(
        session,
        deps.keyring,
        [
            (person.id, scheme, str(record.id_number))
            for record, person in zip(records, persons, strict=True)
            if (scheme := scheme_of(record)) and record.id_number
        ],
        source=actor,
    )
    people.add_new_blocking_keys(session, [(p.id, row.digests) for row, p in zip(rows, persons, strict=True)])
    repository.add_new_jobs(
        session,
        [
            {
                "person_id": person.id,
                "next_attempt_at": now,
                "guardian_id_encrypted": deps.keyring.encrypt(
                    row.submission.guardian_id_number, "job:guardian"
                )
                if row.submission.guardian_id_number
                else None,
                "created_at": now,
            }
            for row, person in zip(rows, persons, strict=True)
        ],
    )
    return [
        (
            Issued(
                code=disclosed_code(person.current_code, supplied={str(record.id_number)}),
                code_type=person.current_code[0],
                verification=VerdictOutcome.PENDING,
                warnings=row.submission.warnings,
                flags=row.submission.flags,
            ),
            person.id,
        )
        for row, record, person in zip(rows, records, persons, strict=True)
    ]
