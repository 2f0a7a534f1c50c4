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

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.scopes import Role, Scope
from gateway.clock import as_utc
from gateway.errors import GatewayError
from gateway.feed import service as feed
from gateway.feed.models import ChangeEvent
from gateway.handoff import repository
from gateway.handoff.exports import ExportPolicy, resume_exports
from gateway.handoff.presentation import present_code, subject_id
from gateway.idgen import repository as code_repository
from gateway.keyring import KeyRing
from gateway.persons import repository as people
from gateway.persons.repository import current_holder
from gateway.settings import Settings

logger = logging.getLogger(__name__)


# --- presentation -----------------------------------------------------------------------------


# --- reading handoff records ------------------------------------------------------------------


# --- claims -----------------------------------------------------------------------------------


# --- preschool intake -------------------------------------------------------------------------


# --- bulk export ------------------------------------------------------------------------------


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
