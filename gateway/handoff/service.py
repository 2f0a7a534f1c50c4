"""The rules of handoffs between stages: preschool intake, claims, scoped handoff records, bulk
exports and the per-caller change feed.

Who sees whom: a registry or school sees the handoff record of exactly the persons it admitted (an
``Admission`` row written by its intake or its claim), followed through merges; nobody else's, and
a student it has not admitted is "not found" exactly like a code never issued. A claim admits a
student held anywhere only with their code and a matching identity; by identity alone it finds only
students the caller's own jurisdiction holds, and a refused claim answers like a child who does not
exist. Every disclosure carries a purpose and an approval reference and is audited once per disclosed
student. Without ``handoff:identity`` the ID number is masked and so is a ``G`` code (which is the ID
number); the per-registry ``subject_id`` is then the stable key (docs/adr/004-handoff-disclosure.md).
Functions work inside the caller's unit of work unless they take an engine.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import Role, Scope, Stage
from gateway.batches import repository as batch_repository
from gateway.batches import service as batches
from gateway.batches.parsing import BatchFormat, parse_batch
from gateway.clock import as_utc, utcnow
from gateway.db import advisory_xact_lock, session_scope
from gateway.errors import Conflict, FieldError, Forbidden, GatewayError, Gone, InvalidInput, NotFound
from gateway.feed import service as feed
from gateway.feed.models import ChangeEvent
from gateway.handoff import repository
from gateway.handoff.disclosure import Disclosure, audit_disclosure
from gateway.handoff.models import Admission, Export, Intake
from gateway.handoff.presentation import build_record, present_code, subject_id, supplied_values
from gateway.handoff.records import admission_for
from gateway.identity import CanonicalRecord, normalise_record
from gateway.idgen import repository as code_repository
from gateway.idgen.service import resolve_code
from gateway.keyring import KeyRing
from gateway.persons import identifiers
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record
from gateway.persons.repository import current_holder, get_person
from gateway.registry.service import RegistryDeps, find_candidates
from gateway.settings import Settings
from gateway.students import service as student_service
from gateway.students.schemas import StatusEventRequest
from gateway.students.statemachine import SchoolStatus, StatusEventType
from gateway.students.verification import Claim, Outcome, StoredFacts, verify

logger = logging.getLogger(__name__)

# Every claim that finds nobody answers the same, whatever the reason (no such child, a code with
# somebody else's identity, a child held outside the caller's jurisdiction claimed by identity
# alone, a child nobody handed over): a refusal must not tell the caller that a child exists.
CLAIM_NOT_FOUND = "no student matches this claim"
UPPER_STAGES = frozenset({Stage.SENIOR_SECONDARY, Stage.VOCATIONAL, Stage.HIGHER_EDUCATION})
# The identifier scheme a stage's own student number is kept under (identifiers.py).
STAGE_SCHEMES = {Stage.VOCATIONAL.value: "vocational", Stage.HIGHER_EDUCATION.value: "higher_education"}
GRADUATE_STATUSES = frozenset({SchoolStatus.GRADUATED.value, SchoolStatus.COMPLETED.value})
EXPORT_FILE_ROWS = 10_000
EXPORT_CHUNK = 500
_ACCEPTED_CODE_MATCHES = frozenset({Outcome.MATCH, Outcome.LINKED_MATCH})


class ClaimNoMatch(NotFound):
    title = "Claim matches nobody"
    type_slug = "claim-no-match"


class ClaimAmbiguous(Conflict):
    title = "Claim matches more than one person"
    type_slug = "claim-ambiguous"

    def __init__(self, detail: str, candidate_count: int) -> None:
        super().__init__(detail)
        self.candidate_count = candidate_count

    def extra(self) -> dict[str, Any]:
        return {"candidate_count": self.candidate_count}


# --- presentation -----------------------------------------------------------------------------


# --- reading handoff records ------------------------------------------------------------------


# --- claims -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimInput:
    code: str | None
    identity: dict[str, Any]
    student_number: str | None
    exam_candidate_number: str | None
    school_region: str | None
    effective_date: date | None


@dataclass(frozen=True)
class ClaimResult:
    created: bool
    record: dict[str, Any]


def _canonical_identity(identity: dict[str, Any]) -> CanonicalRecord:
    normalised = normalise_record({k: v for k, v in identity.items() if k != "record_id"})
    if normalised.record is None:
        raise InvalidInput(
            errors=[FieldError(f"identity.{i.field}", i.code, i.message) for i in normalised.errors]
        )
    return normalised.record


def _match_by_identity(
    session: Session, deps: RegistryDeps, caller: Caller, record: CanonicalRecord
) -> Person:
    hits, _outcome, _holders = find_candidates(session, deps, record)
    # Knowing a child's name and birthday is not authority: by identity alone a caller claims only
    # a student its own jurisdiction holds (current school and region). Anyone held elsewhere is not
    # a candidate at all, so neither a match nor the count of an ambiguity tells the caller they exist.
    hits = [h for h in hits if caller.jurisdiction.covers(h.person.region, h.person.school_code)]
    matches = [h for h in hits if h.result.band == "match"]
    possible = [h for h in hits if h.result.band in ("match", "review")]
    if len(matches) == 1 and len(possible) == 1:
        person = get_person(session, matches[0].person.id)
        assert person is not None
        return person
    if not possible:
        raise ClaimNoMatch(CLAIM_NOT_FOUND)
    raise ClaimAmbiguous(
        "this identity matches more than one registered student, or none with certainty; "
        "claim by code or ask a reviewer",
        len(possible),
    )


def _match_by_code(session: Session, deps: RegistryDeps, code: str, record: CanonicalRecord) -> Person:
    try:
        found = resolve_code(session, code)
    except NotFound:
        raise ClaimNoMatch(CLAIM_NOT_FOUND) from None
    stored = person_to_record(found.person, deps.keyring)
    result = verify(
        Claim(
            name=record.name,
            birth_date=record.birth_date,
            gender=str(record.gender),
            id_number=record.id_number,
        ),
        StoredFacts(
            name=stored.name,
            birth_date=stored.birth_date,
            gender=stored.gender,
            id_number=stored.id_number,
            code_is_current=found.asked == found.current_code,
        ),
    )
    if result.outcome not in _ACCEPTED_CODE_MATCHES:
        # The same answer as an unknown code: a claim must not confirm who holds a code.
        raise ClaimNoMatch(CLAIM_NOT_FOUND)
    return found.person


def _claim_kind(caller: Caller, claim: ClaimInput) -> str:
    if caller.role is Role.SCHOOL and caller.jurisdiction.is_school:
        if claim.school_region is None:
            raise InvalidInput(
                errors=[FieldError("school_region", "missing", "a school claims with its 6-digit region")]
            )
        return "primary"
    if caller.role is Role.REGISTRY and caller.stage in UPPER_STAGES:
        return str(caller.stage)
    raise Forbidden("claims are made by a school at enrolment or by a registry of a later stage")


def _workflow_caller(caller: Caller) -> Caller:
    # The handoff has already decided the caller may enrol this child; the status change is made on
    # its behalf even though the child is still held by the preschool outside its jurisdiction.
    return replace(caller, jurisdiction=Jurisdiction("CN"))


def claim_student(
    session: Session, deps: RegistryDeps, caller: Caller, claim: ClaimInput, disclosure: Disclosure
) -> ClaimResult:
    """Match the claimed student (by code, or by identity), admit them to the caller, return the record.

    Authority: with the student's code and a matching identity (the family gave them the code, as on
    a preschool's leaving slip or an admission letter) a caller claims a student held anywhere; by
    identity alone only a student its own jurisdiction holds. Every refusal of a match answers like
    a child who does not exist (``ClaimNoMatch``, one message). A school's claim enrols a child
    handed over by a preschool and moves them to the school; a later-stage registry's claim admits a
    graduate. Claiming the same student twice is harmless.
    """
    if claim.identity is None:
        # A code alone is guessable (an L code is region + birth date + 4 digits): the identity is
        # always checked, and the code, when given, picks the person instead of a search.
        raise InvalidInput(
            errors=[FieldError("identity", "missing", "a claim carries the student's identity")]
        )
    kind = _claim_kind(caller, claim)
    record = _canonical_identity(claim.identity)
    if claim.code is not None:
        person = _match_by_code(session, deps, claim.code, record)
    else:
        person = _match_by_identity(session, deps, caller, record)
    assert person.id is not None
    advisory_xact_lock(session, "person", str(person.id))
    existing = admission_for(session, caller, person)
    created = existing is None
    if existing is None:
        family = people.merged_person_ids(session, person.id)
        if kind == "primary":
            handed = [
                a for a in repository.admissions_of_persons(session, family) if a.stage == Stage.PRESCHOOL
            ]
            if not handed:
                raise ClaimNoMatch(CLAIM_NOT_FOUND)
            if person.school_status != SchoolStatus.REGISTERED.value:
                raise Conflict("this child is already enrolled at a school")
            assert claim.school_region is not None
            student_service.record_event(
                session,
                _workflow_caller(caller),
                person.current_code,
                StatusEventRequest(
                    event=StatusEventType.ENROLLED,
                    effective_date=claim.effective_date or utcnow().date(),
                    school_code=caller.jurisdiction.value,
                    school_region=claim.school_region,
                    note="claimed from a preschool handover",
                ),
            )
        elif person.school_status not in GRADUATE_STATUSES:
            raise Conflict("only a student who graduated or completed the previous stage can be admitted")
        existing = Admission(
            client_id=caller.client_id,
            person_id=person.id,
            stage=kind,
            student_number=claim.student_number,
            source="claim",
            purpose=disclosure.purpose,
            approval_ref=disclosure.approval_ref,
            admitted_at=utcnow(),
        )
        repository.add(session, existing)
        scheme = STAGE_SCHEMES.get(kind)
        if scheme and claim.student_number:
            identifiers.attach_identifier(
                session,
                deps.keyring,
                person_id=person.id,
                scheme=scheme,
                value=claim.student_number,
                source=caller.client_id,
            )
        if claim.exam_candidate_number:
            identifiers.attach_identifier(
                session,
                deps.keyring,
                person_id=person.id,
                scheme="exam_candidate",
                value=claim.exam_candidate_number,
                source=caller.client_id,
            )
    session.refresh(person)
    result = build_record(
        session,
        deps.keyring,
        person,
        existing,
        identity=caller.has(Scope.HANDOFF_IDENTITY),
        supplied=supplied_values(claim.code, record.id_number),
    )
    audit_disclosure(session, caller, caller.client_id, person.current_code, "handoff.claim", disclosure)
    return ClaimResult(created, result)


# --- preschool intake -------------------------------------------------------------------------


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


# --- bulk export ------------------------------------------------------------------------------


def export_path(export_id: str) -> str:
    return f"/v1/handoff/exports/{export_id}"


def start_export(session: Session, caller: Caller, disclosure: Disclosure, request_url: str) -> Export:
    if not caller.has(Scope.HANDOFF_READ):
        raise Forbidden("this call needs the scope handoff:read")
    export = Export(
        id=f"ex_{secrets.token_hex(8)}",
        client_id=caller.client_id,
        role=caller.role.value,
        identity_scope=caller.has(Scope.HANDOFF_IDENTITY),
        purpose=disclosure.purpose,
        approval_ref=disclosure.approval_ref,
        acting_user=caller.acting_user,
        request_url=request_url[:500],
        created_at=utcnow(),
    )
    repository.add(session, export)
    audit.record(
        session,
        action="handoff.export.start",
        caller=caller,
        object_type="export",
        object_ref=export.id,
        purpose=disclosure.purpose,
        approval_ref=disclosure.approval_ref,
    )
    return export


def _write_export_files(
    engine: Engine, keyring: KeyRing, export: Export, folder: Path, renew: Callable[[], None]
) -> list[dict[str, Any]]:
    disclosure = Disclosure(export.purpose, export.approval_ref)
    outputs: list[dict[str, Any]] = []
    after, part, in_file = 0, 0, EXPORT_FILE_ROWS
    handle = None
    try:
        while True:
            # One transaction per chunk: the records written and their audit rows commit together.
            with session_scope(engine) as session:
                admissions = repository.admissions_page(session, export.client_id, after, EXPORT_CHUNK)
                lines = []
                for admission in admissions:
                    person = current_holder(session, admission.person_id)
                    record = build_record(session, keyring, person, admission, identity=export.identity_scope)
                    lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                    audit_disclosure(
                        session, None, export.client_id, person.current_code, "handoff.export", disclosure
                    )
            if not admissions:
                break
            renew()  # still alive: nobody else takes the export over
            after = int(admissions[-1].id or 0)
            for line in lines:
                if in_file >= EXPORT_FILE_ROWS:
                    if handle is not None:
                        handle.close()
                    part += 1
                    name = f"HandoffRecord-{part}.ndjson"
                    outputs.append(
                        {"type": "HandoffRecord", "url": f"{export_path(export.id)}/files/{name}", "count": 0}
                    )
                    handle = (folder / name).open("w", encoding="utf-8")
                    in_file = 0
                assert handle is not None
                handle.write(line + "\n")
                in_file += 1
                outputs[-1]["count"] += 1
    finally:
        if handle is not None:
            handle.close()
    return outputs


@dataclass(frozen=True)
class ExportPolicy:
    """Where export files live, how long they are kept, and how long a silent runner keeps its claim."""

    directory: Path
    retention: timedelta = timedelta(hours=72)
    lease: timedelta = timedelta(minutes=5)

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportPolicy:
        return cls(
            directory=settings.data_dir / "exports",
            retention=timedelta(hours=settings.export_retention_hours),
            lease=timedelta(seconds=settings.export_lease_seconds),
        )


def _claim_export(engine: Engine, export_id: str, policy: ExportPolicy) -> Export | None:
    """Take the export to run: a queued one, or a running one whose runner went silent (it died)."""
    now = utcnow()
    with session_scope(engine) as session:
        export = repository.get_export(session, export_id, for_update=True)
        if export is None:
            return None
        stale = export.status == "running" and (
            export.lease_until is None or as_utc(export.lease_until) < now
        )
        if export.status != "queued" and not stale:
            return None
        export.status, export.lease_until = "running", now + policy.lease
        session.add(export)
        return export


def _renew_lease(engine: Engine, export_id: str, policy: ExportPolicy) -> None:
    with session_scope(engine) as session:
        export = repository.get_export(session, export_id, for_update=True)
        assert export is not None
        export.lease_until = utcnow() + policy.lease
        session.add(export)


def run_export(engine: Engine, keyring: KeyRing, policy: ExportPolicy, export_id: str) -> None:
    """Write the export's NDJSON files and its manifest; a failure is recorded on the export.

    A run that a crash interrupted is started again from the beginning by whoever claims the export
    after its lease ran out (its partial files are replaced): an accepted export is never lost.
    """
    export = _claim_export(engine, export_id, policy)
    if export is None:
        return
    folder = policy.directory / export_id
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        outputs = _write_export_files(
            engine, keyring, export, folder, renew=lambda: _renew_lease(engine, export_id, policy)
        )
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        shutil.rmtree(folder, ignore_errors=True)
        with session_scope(engine) as session:
            failed = repository.get_export(session, export_id, for_update=True)
            assert failed is not None
            failed.status, failed.error, failed.finished_at = "failed", str(exc)[:500], utcnow()
            failed.lease_until = None
            session.add(failed)
        return
    manifest = {
        "transactionTime": utcnow().isoformat(),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": outputs,
        "error": [],
    }
    with session_scope(engine) as session:
        done = repository.get_export(session, export_id, for_update=True)
        assert done is not None
        now = utcnow()
        done.status, done.manifest_json, done.finished_at = "done", json.dumps(manifest), now
        done.lease_until, done.expires_at = None, now + policy.retention
        session.add(done)


def resume_exports(engine: Engine, keyring: KeyRing, policy: ExportPolicy) -> list[str]:
    """Run the exports a stopped process left queued, or running with a lease run out (start-up and
    the worker); exports another process is still writing are left to it."""
    with session_scope(engine) as session:
        pending = repository.runnable_export_ids(session, utcnow())
    for export_id in pending:
        run_export(engine, keyring, policy, export_id)
    return pending


def expire_exports(engine: Engine, policy: ExportPolicy) -> list[str]:
    """Remove the files of exports past their retention; the export row and its audit trail stay."""
    now = utcnow()
    with session_scope(engine) as session:
        due = repository.expired_export_ids(session, now)
    expired = []
    for export_id in due:
        shutil.rmtree(policy.directory / export_id, ignore_errors=True)
        with session_scope(engine) as session:
            export = repository.get_export(session, export_id, for_update=True)
            if export is None or export.status == "expired":
                continue
            export.status = "expired"
            session.add(export)
            audit.record(
                session,
                action="handoff.export.expire",
                actor="system",
                object_type="export",
                object_ref=export_id,
                purpose=export.purpose,
                approval_ref=export.approval_ref,
            )
        expired.append(export_id)
    return expired


def get_export(session: Session, caller: Caller, export_id: str) -> Export:
    """The export if the caller started it; anybody else is told it does not exist."""
    export = repository.get_export(session, export_id)
    if export is None or export.client_id != caller.client_id:
        raise NotFound("no such export")
    return export


def _refuse_expired(export: Export) -> None:
    if export.status == "expired":
        expired_at = as_utc(export.expires_at).isoformat() if export.expires_at else "earlier"
        raise Gone(f"the files of this export were removed at {expired_at}; start a new export")


def export_file(session: Session, caller: Caller, exports_dir: Path, export_id: str, name: str) -> Path:
    export = get_export(session, caller, export_id)
    _refuse_expired(export)
    manifest = json.loads(export.manifest_json or "{}")
    names = {str(o["url"]).rsplit("/", 1)[-1] for o in manifest.get("output", [])}
    if export.status != "done" or name not in names:
        raise NotFound("no such export file")
    audit.record(
        session,
        action="handoff.export.download",
        caller=caller,
        object_type="export",
        object_ref=f"{export_id}/{name}",
        purpose=export.purpose,
        approval_ref=export.approval_ref,
    )
    return exports_dir / export_id / name


# --- change feed ------------------------------------------------------------------------------


def _feed_entry(
    session: Session, keyring: KeyRing, caller: Caller, event: ChangeEvent, holders: dict[int, int] | None
) -> dict[str, Any]:
    # A G code is an ID number: in full only for a caller who may see ID numbers in full, whether
    # the feed is scoped by its admissions or by its jurisdiction.
    identity = caller.has(Scope.HANDOFF_IDENTITY)
    entry: dict[str, Any] = {
        "version": event.version,
        "type": event.type,
        "occurred_at": as_utc(event.occurred_at).isoformat(),
        "code": present_code(event.code, identity),
        "old_code": present_code(event.old_code, identity),
        "detail": event.detail,
    }
    if holders is not None:
        # Keyed by whoever holds the person now, so that events recorded on a person later merged
        # away arrive under the subject the registry knows.
        if event.person_id not in holders:
            holders[event.person_id] = int(current_holder(session, event.person_id).id or 0)
        entry["subject_id"] = subject_id(keyring, caller.client_id, holders[event.person_id])
        if event.type in ("person.merged", "person.unmerged") and event.old_code:
            old = code_repository.get_code(session, event.old_code)
            if old is not None and old.person_id is not None:
                entry["old_subject_id"] = subject_id(keyring, caller.client_id, old.person_id)
    else:
        entry["region"], entry["school_code"] = event.region, event.school_code
    return entry


@dataclass(frozen=True)
class FeedPage:
    events: list[dict[str, Any]]
    next_since: int
    has_more: bool


def feed_events(
    session: Session, caller: Caller, since: int, limit: int
) -> tuple[Sequence[ChangeEvent], bool]:
    """The caller's feed events after ``since`` and whether they are scoped by admissions: for
    registries the persons they admitted (and whoever those were merged with), for authorities and
    schools their jurisdiction."""
    if caller.role in (Role.REGISTRY, Role.PARTNER):
        family = people.merge_family(session, repository.admitted_person_ids(session, caller.client_id))
        return feed.read_since(session, family, since, limit), True
    return feed.read_since(session, caller.jurisdiction, since, limit), False


def read_feed(session: Session, keyring: KeyRing, caller: Caller, since: int, limit: int) -> FeedPage:
    """Changes after ``since`` within the caller's scope, in strictly increasing version order."""
    events, scoped = feed_events(session, caller, since, limit)
    holders: dict[int, int] | None = {} if scoped else None
    entries = [_feed_entry(session, keyring, caller, e, holders) for e in events]
    audit.record(
        session,
        action="feed.read",
        caller=caller,
        object_type="feed",
        object_ref=f"since:{since}",
        record_count=len(entries),
    )
    return FeedPage(entries, events[-1].version if events else since, len(events) == limit)


# --- background work --------------------------------------------------------------------------


class HandoffWorker:
    """Runs intakes and exports in background threads of one process (``ctx.services["handoff"]``)."""

    def __init__(self, workers: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="handoff")

    def submit(self, job: Callable[[], object]) -> Future[object]:
        def run() -> object:
            try:
                return job()
            except GatewayError:
                logger.exception("handoff job refused")
                raise
            except Exception:
                logger.exception("handoff job failed")
                raise

        return self._executor.submit(run)

    def submit_unfinished_exports(self, engine: Engine, keyring: KeyRing, settings: Settings) -> None:
        """At start-up: finish, in the background, the exports a stopped process left."""
        policy = ExportPolicy.from_settings(settings)
        self.submit(lambda: resume_exports(engine, keyring, policy))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
