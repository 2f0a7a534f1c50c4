"""Bulk exports: a caller's whole admitted cohort written, in the background, as NDJSON files of
handoff records with a manifest (in the manner of a FHIR bulk export). Each chunk of records and
its disclosure audit rows commit together; a runner holds a lease on the export, so an export whose
process died is taken over and written again from the start. Files are kept (``gateway.handoff.storage``:
in the database, or a directory) for a retention period, then removed while the export row and its
audit trail stay."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.scopes import Scope
from gateway.clock import as_utc, utcnow
from gateway.db import session_scope
from gateway.errors import Forbidden, Gone, NotFound
from gateway.handoff import repository
from gateway.handoff.disclosure import Disclosure, audit_disclosure
from gateway.handoff.models import Export
from gateway.handoff.presentation import build_record
from gateway.handoff.storage import ExportStorage, ExportStore, MissingExportFile, open_store, read_file
from gateway.keyring import KeyRing
from gateway.persons.repository import current_holder
from gateway.settings import Settings

logger = logging.getLogger(__name__)

EXPORT_FILE_ROWS = 10_000
EXPORT_CHUNK = 500


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
    engine: Engine, keyring: KeyRing, export: Export, store: ExportStore, renew: Callable[[], None]
) -> list[dict[str, Any]]:
    disclosure = Disclosure(export.purpose, export.approval_ref)
    outputs: list[dict[str, Any]] = []
    after, part, in_file = 0, 0, EXPORT_FILE_ROWS
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
        pending: list[str] = []  # the chunk's lines for the current file, stored in one piece
        for line in lines:
            if in_file >= EXPORT_FILE_ROWS:
                _store_lines(store, export.id, outputs, pending)
                part += 1
                name = f"HandoffRecord-{part}.ndjson"
                outputs.append(
                    {"type": "HandoffRecord", "url": f"{export_path(export.id)}/files/{name}", "count": 0}
                )
                in_file = 0
            pending.append(line)
            in_file += 1
            outputs[-1]["count"] += 1
        _store_lines(store, export.id, outputs, pending)
    return outputs


def _store_lines(store: ExportStore, export_id: str, outputs: list[dict[str, Any]], lines: list[str]) -> None:
    if lines:
        name = str(outputs[-1]["url"]).rsplit("/", 1)[-1]
        store.append(export_id, name, "".join(line + "\n" for line in lines).encode("utf-8"))
        lines.clear()


@dataclass(frozen=True)
class ExportPolicy:
    """Where export files live (``storage``; ``directory`` when on this machine), how long they are
    kept, and how long a silent runner keeps its claim."""

    directory: Path
    retention: timedelta = timedelta(hours=72)
    lease: timedelta = timedelta(minutes=5)
    storage: ExportStorage = ExportStorage.AUTO

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportPolicy:
        return cls(
            directory=settings.data_dir / "exports",
            retention=timedelta(hours=settings.export_retention_hours),
            lease=timedelta(seconds=settings.export_lease_seconds),
            storage=ExportStorage(settings.export_storage),
        )

    def store(self, engine: Engine, keyring: KeyRing | None = None) -> ExportStore:
        """The store of export files (the keyring's key writes and reads files kept in the database)."""
        return open_store(self.storage, self.directory, engine, keyring.encryption_key if keyring else None)


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
    store = policy.store(engine, keyring)
    store.remove(export_id)  # what an interrupted run left
    try:
        outputs = _write_export_files(
            engine, keyring, export, store, renew=lambda: _renew_lease(engine, export_id, policy)
        )
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        store.remove(export_id)
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
    store = policy.store(engine)
    for export_id in due:
        store.remove(export_id)
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


def export_file(session: Session, caller: Caller, store: ExportStore, export_id: str, name: str) -> bytes:
    """The bytes of one file of a finished export of the caller's, its download audited."""
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
    try:
        return read_file(store, export_id, name)
    except MissingExportFile:
        raise NotFound("no such export file") from None
