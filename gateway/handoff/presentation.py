"""How a student is shown to a handoff caller: the per-client subject pseudonym, codes masked by
the caller's scopes, and the handoff record built from a person, their merged family, status
events and code lineage. Shared by records, claims, exports, transfers, the feed and webhooks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from gateway.clock import as_utc
from gateway.handoff.models import Admission
from gateway.idgen import repository as code_repository
from gateway.idgen.formats import normalise_code
from gateway.keyring import KeyRing
from gateway.persons import repository as people
from gateway.persons.models import Person
from gateway.persons.records import person_to_record
from gateway.privacy import disclosed_code, mask_id_number
from gateway.students import repository as students
from gateway.students.models import StatusEvent
from gateway.students.statemachine import SchoolStatus, StatusEventType


def subject_id(keyring: KeyRing, client_id: str, person_id: int) -> str:
    """A per-client pseudonym of a person: stable for that client, meaningless to any other."""
    digest = hmac.new(
        keyring.hmac_key, f"handoff-subject\x1f{client_id}\x1f{person_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"hs_{digest[:24]}"


def present_code(code: str | None, identity: bool, supplied: frozenset[str] = frozenset()) -> str | None:
    """A code as a caller may see it: a ``G`` code carries the ID number, so it is masked without
    the identity scope unless the caller supplied that code or number; ``J`` and ``L`` codes carry
    no document number and are given in full (``gateway.privacy.disclosed_code``)."""
    return disclosed_code(code, supplied=supplied, full=identity)


def supplied_values(code: str | None = None, id_number: str | None = None) -> frozenset[str]:
    """The code and ID number a caller sent in its request, in canonical form: echoing them back
    discloses nothing."""
    values = set()
    if code:
        values.add(normalise_code(code))
    if id_number:
        values.add(id_number)
    return frozenset(values)


def _school_history(events: Sequence[StatusEvent]) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    for event in events:
        place = (event.region, event.school_code)
        if history and (history[-1]["region"], history[-1]["school_code"]) == place:
            continue
        history.append(
            {
                "region": event.region,
                "school_code": event.school_code,
                "since": event.effective_date.isoformat(),
            }
        )
    return history


def build_record(
    session: Session,
    keyring: KeyRing,
    person: Person,
    admission: Admission,
    *,
    identity: bool,
    supplied: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The handoff record of a person for the holder of ``admission``, limited by its scopes;
    ``supplied`` holds the code or ID number the caller sent in the request."""
    assert person.id is not None
    family = people.merged_person_ids(session, person.id)
    events = students.events_for_persons(session, family)
    lineage = code_repository.lineage_for_persons(session, family)
    record = person_to_record(person, keyring)
    graduated = [e for e in events if e.event == StatusEventType.GRADUATED.value]
    return {
        "subject_id": subject_id(keyring, admission.client_id, person.id),
        "code": present_code(person.current_code, identity, supplied),
        "code_type": person.current_code[0],
        "lineage": [
            {
                "old_code": present_code(entry.old_code, identity, supplied),
                "new_code": present_code(entry.new_code, identity, supplied),
                "reason": entry.reason,
                "occurred_at": as_utc(entry.occurred_at).isoformat(),
            }
            for entry in sorted(lineage, key=lambda e: (as_utc(e.occurred_at), e.id or 0))
        ],
        "student_number": admission.student_number,
        "admitted_at": as_utc(admission.admitted_at).isoformat(),
        "identity": {
            "name": record.name,
            "gender": record.gender,
            "birth_date": record.birth_date.isoformat(),
            "ethnicity": record.ethnicity,
            "nationality": record.nationality,
            "id_type": record.id_type,
            "id_number": record.id_number if identity else mask_id_number(record.id_number),
            "id_number_masked": not identity and record.id_number is not None,
        },
        "school": {"region": person.region, "school_code": person.school_code},
        "school_history": _school_history(events),
        "status_events": [
            {
                "event": e.event,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "effective_date": e.effective_date.isoformat(),
                "region": e.region,
                "school_code": e.school_code,
            }
            for e in events
        ],
        "school_status": person.school_status,
        "graduation": {
            "graduated": person.school_status == SchoolStatus.GRADUATED.value,
            "date": graduated[-1].effective_date.isoformat() if graduated else None,
        },
        "verification_status": person.verification_status,
    }
