"""The change feed as a handoff caller sees it: registries and partners read the events of the persons
they admitted (and whoever those were merged with), authorities and schools the events of their
jurisdiction, both through ``gateway.feed.service.read_since``. What is handoff-specific stays
here: an entry keyed by the caller's subject for whoever holds the person now, with codes masked by
the caller's scopes, and one audit row per read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller
from gateway.auth.scopes import Role, Scope
from gateway.clock import as_utc
from gateway.feed import service as feed_service
from gateway.feed.models import ChangeEvent
from gateway.handoff import repository
from gateway.handoff.presentation import present_code, subject_id
from gateway.idgen import repository as code_repository
from gateway.keyring import KeyRing
from gateway.persons import repository as people


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
            holders[event.person_id] = int(people.current_holder(session, event.person_id).id or 0)
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
        return feed_service.read_since(session, family, since, limit), True
    return feed_service.read_since(session, caller.jurisdiction, since, limit), False


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
