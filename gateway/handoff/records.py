"""Reading handoff records. A registry or school sees the handoff record of exactly the persons it
admitted (an ``Admission`` row written by its intake, claim or transfer pull), followed through
merges; nobody else's, and a student it has not admitted is "not found" exactly like a code never
issued. The admitted cohort is read in keyset pages behind a page token signed for the caller, and
every record read is audited as a disclosure. Without ``handoff:identity`` the ID number is masked
and so is a ``G`` code; the per-registry ``subject_id`` is then the stable key
(docs/adr/004-handoff-disclosure.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from gateway.auth.caller import Caller
from gateway.auth.scopes import Scope
from gateway.errors import FieldError, InvalidInput, NotFound
from gateway.handoff import repository
from gateway.handoff.disclosure import Disclosure, audit_disclosure
from gateway.handoff.models import Admission
from gateway.handoff.presentation import build_record, supplied_values
from gateway.idgen.service import resolve_code
from gateway.keyring import KeyRing
from gateway.persons import repository as people
from gateway.persons.models import Person

NOT_FOUND = "no such student among those you admitted"


def encode_page_token(keyring: KeyRing, client_id: str, after_id: int) -> str:
    body = json.dumps({"c": client_id, "a": after_id}, separators=(",", ":")).encode()
    tag = hmac.new(keyring.hmac_key, b"page-token\x1f" + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode()


def decode_page_token(keyring: KeyRing, client_id: str, token: str | None) -> int:
    """The keyset position a page token stands for; 422 for a token forged or issued to another client."""
    if not token:
        return 0
    bad = InvalidInput(
        errors=[FieldError("page_token", "invalid", "page_token is not a token we issued you")]
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise bad from None
    body, tag = raw[:-16], raw[-16:]
    expected = hmac.new(keyring.hmac_key, b"page-token\x1f" + body, hashlib.sha256).digest()[:16]
    if len(raw) <= 16 or not hmac.compare_digest(tag, expected):
        raise bad
    data = json.loads(body)
    if data.get("c") != client_id or not isinstance(data.get("a"), int):
        raise bad
    return int(data["a"])


@dataclass(frozen=True)
class RecordPage:
    records: list[dict[str, Any]]
    next_page_token: str | None


def list_records(
    session: Session,
    keyring: KeyRing,
    caller: Caller,
    disclosure: Disclosure,
    *,
    page_token: str | None,
    limit: int,
) -> RecordPage:
    """One page of the caller's admitted cohort, in admission order; each student disclosed is audited."""
    after = decode_page_token(keyring, caller.client_id, page_token)
    admissions = repository.admissions_page(session, caller.client_id, after, limit + 1)
    more = len(admissions) > limit
    admissions = admissions[:limit]
    identity = caller.has(Scope.HANDOFF_IDENTITY)
    records = []
    for admission in admissions:
        person = people.current_holder(session, admission.person_id)
        records.append(build_record(session, keyring, person, admission, identity=identity))
        audit_disclosure(
            session, caller, caller.client_id, person.current_code, "handoff.disclose", disclosure
        )
    token = encode_page_token(keyring, caller.client_id, int(admissions[-1].id or 0)) if more else None
    return RecordPage(records, token)


def admission_for(session: Session, caller: Caller, person: Person) -> Admission | None:
    """The caller's admission of this person or of anyone merged into them, if it admitted either."""
    assert person.id is not None
    for pid in people.merged_person_ids(session, person.id):
        admission = repository.get_admission(session, caller.client_id, pid)
        if admission is not None:
            return admission
    return None


def read_record(
    session: Session, keyring: KeyRing, caller: Caller, code: str, disclosure: Disclosure
) -> dict[str, Any]:
    """The handoff record of one admitted student by any code they held; 404 for anyone else."""
    try:
        person = resolve_code(session, code).person
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    admission = admission_for(session, caller, person)
    if admission is None:
        raise NotFound(NOT_FOUND)
    record = build_record(
        session,
        keyring,
        person,
        admission,
        identity=caller.has(Scope.HANDOFF_IDENTITY),
        supplied=supplied_values(code),
    )
    audit_disclosure(session, caller, caller.client_id, person.current_code, "handoff.disclose", disclosure)
    return record
