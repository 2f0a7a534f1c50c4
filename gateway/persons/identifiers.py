"""The identifier cross-reference: which person holds which ``(scheme, value)``, and since when.

Schemes are national documents (the ``id_type`` names of identity-documents.md, unique among active
identifiers and enforced by a partial unique index) or other registries' numbers such as
``provincial_aux:41``, ``preschool``, ``vocational``, ``higher_education`` and ``exam_candidate``,
which are stored as given and never validated here. Values are encrypted; look-ups use an HMAC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from gateway.clock import utcnow
from gateway.errors import Conflict, FieldError, InvalidInput
from gateway.keyring import KeyRing
from gateway.persons import repository
from gateway.persons.models import PersonIdentifier
from gateway.privacy import mask_id_number

NATIONAL_DOCUMENT_SCHEMES = frozenset(
    {
        "resident_id",
        "hk_macau_id",
        "taiwan_permit",
        "foreign_permanent_residence",
        "passport",
        "hk_macau_permit",
        "hmt_residence_permit",
    }
)
OTHER_SCHEME_PREFIXES = (
    "provincial_aux:",
    "preschool",
    "vocational",
    "higher_education",
    "exam_candidate",
    "other",
)


class IdentifierConflict(Conflict):
    title = "Identifier held by another person"
    type_slug = "identifier-conflict"


def _check_scheme(scheme: str) -> bool:
    if scheme in NATIONAL_DOCUMENT_SCHEMES:
        return True
    if scheme.startswith(OTHER_SCHEME_PREFIXES) and len(scheme) <= 60:
        return False
    raise InvalidInput(
        errors=[FieldError("scheme", "unknown_scheme", f"unknown identifier scheme {scheme!r}")]
    )


def _context(scheme: str) -> str:
    return f"identifier:{scheme}"


@dataclass(frozen=True)
class IdentifierView:
    scheme: str
    value: str  # decrypted value; callers mask it unless a full value is needed
    masked: str
    valid_from: datetime
    valid_to: datetime | None


def attach_identifier(
    session: Session,
    keyring: KeyRing,
    *,
    person_id: int,
    scheme: str,
    value: str,
    source: str | None = None,
    new_person: bool = False,
) -> PersonIdentifier:
    """Record that a person holds an identifier; idempotent for the same person. ``new_person``: the
    person was created in this transaction, so they cannot hold it yet (one lookup saved)."""
    national = _check_scheme(scheme)
    value = value.strip()
    if not value:
        raise InvalidInput(errors=[FieldError("value", "required", "an identifier needs a value")])
    value_hash = keyring.lookup_hash(scheme, value)
    held_now = [] if new_person else repository.find_active_identifier(session, scheme, value_hash)
    for held in held_now:
        if held.person_id == person_id:
            return held
        if national:
            raise IdentifierConflict(f"this {scheme} number is held by another person")
    row = PersonIdentifier(
        person_id=person_id,
        scheme=scheme,
        national=national,
        value_hash=value_hash,
        value_encrypted=keyring.encrypt(value, _context(scheme)),
        value_masked=mask_id_number(value) or "",
        valid_from=utcnow(),
        source=source,
    )
    if not repository.add_identifier(session, row):
        # Another person holds it: a concurrent transaction attached the same national number first.
        raise IdentifierConflict(f"this {scheme} number is held by another person")
    return row


def attach_new_identifiers(
    session: Session, keyring: KeyRing, documents: list[tuple[int, str, str]], source: str | None = None
) -> None:
    """The national documents of many persons written in this transaction: (person id, scheme,
    value), as ``attach_identifier`` would record each. A number another person holds fails the
    transaction (the unique index of active national numbers)."""
    now = utcnow()
    repository.add_new_identifiers(
        session,
        [
            {
                "person_id": person_id,
                "scheme": scheme,
                "national": _check_scheme(scheme),
                "value_hash": keyring.lookup_hash(scheme, value.strip()),
                "value_encrypted": keyring.encrypt(value.strip(), _context(scheme)),
                "value_masked": mask_id_number(value.strip()) or "",
                "valid_from": now,
                "source": source,
            }
            for person_id, scheme, value in documents
        ],
    )


def end_identifier(session: Session, identifier: PersonIdentifier) -> None:
    """Close an identifier's validity (a corrected number, a returned document); never delete it."""
    assert identifier.id is not None
    session.flush()  # an identifier changed through the session is written first
    identifier.valid_to = utcnow()
    repository.end_identifier(session, identifier.id, identifier.valid_to)
    if identifier in session:
        session.expire(identifier, ["valid_to"])


def find_holders(session: Session, keyring: KeyRing, scheme: str, value: str) -> list[int]:
    """Persons who actively hold this identifier (at most one for national documents)."""
    rows = repository.find_active_identifier(session, scheme, keyring.lookup_hash(scheme, value.strip()))
    return [r.person_id for r in rows]


def identifiers_of(
    session: Session, keyring: KeyRing, person_id: int, *, include_ended: bool = False
) -> Sequence[IdentifierView]:
    rows = (
        repository.all_identifiers(session, person_id)
        if include_ended
        else repository.active_identifiers(session, person_id)
    )
    return [
        IdentifierView(
            scheme=r.scheme,
            value=keyring.decrypt(r.value_encrypted, _context(r.scheme)),
            masked=r.value_masked,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
        )
        for r in rows
    ]
