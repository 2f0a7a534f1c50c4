"""Allocation of national student codes, each inside the caller's transaction.

- ``L``: random 4-digit suffix, unique among all codes ever issued; a few random tries, then a pick
  among the free suffixes, then a clear error when the (region, date) space is full.
- ``J``: a per-(region, date) sequence row advanced with UPDATE ... RETURNING, so concurrent
  transactions queue on its row lock and never share a number.
- ``G``: ``G`` + the verified resident ID number; when that code already exists (the number now
  belongs to somebody else, or was corrected), fall back to ``J`` and record why.

The ``issued_code`` primary key is the last word: a code can be inserted only once, ever.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlmodel import Session

from gateway.clock import utcnow
from gateway.db import advisory_xact_lock
from gateway.errors import Conflict, GatewayError, InvalidInput, NotFound
from gateway.feed import service as feed
from gateway.idgen import formats, repository
from gateway.idgen.formats import CodeType
from gateway.idgen.models import CodeLineage, IssuedCode
from gateway.persons import repository as people
from gateway.persons.models import Person, PersonSummary

_RANDOM_TRIES = 8


class CodeSpaceExhausted(GatewayError):
    status = 409
    title = "Code space exhausted"
    type_slug = "code-space-exhausted"


def _issue(
    session: Session,
    code: str,
    kind: CodeType,
    actor: str,
    person_id: int | None,
    status: str = "current",
) -> IssuedCode | None:
    """Insert a code; None when it was issued before (by anyone, ever). The row returned is not
    attached to the session: change it through the repository."""
    row = IssuedCode(
        code=code, type=kind.value, person_id=person_id, status=status, issued_at=utcnow(), issued_by=actor
    )
    return row if repository.insert_code(session, row) else None


def _revealing_suffix(prefix: str, id_number: str | None) -> int | None:
    """The one suffix that would spell out the holder's own ID number (school region = birth region
    and the 4 random digits = sequence + check digit). Such an L code would print the full number in
    every lineage and record that shows the code, so it is never issued to that person."""
    digits = prefix[1:]
    if id_number and len(id_number) == len(digits) + 4 and id_number.startswith(digits):
        tail = id_number[len(digits) :]
        if tail.isdigit():
            return int(tail)
    return None


def allocate_l_code(
    session: Session,
    region: str,
    birth_date: date,
    actor: str,
    person_id: int | None = None,
    *,
    id_number: str | None = None,
    status: str = "current",
) -> IssuedCode:
    """A fresh L code. ``id_number`` is the holder's document number, when known: the code never
    equals ``L`` + that number. ``status`` is ``superseded`` for a code promoted as it is issued."""
    prefix = formats.l_prefix(region, birth_date)
    forbidden = _revealing_suffix(prefix, id_number)
    for _ in range(_RANDOM_TRIES):
        suffix = secrets.randbelow(10_000)
        if suffix == forbidden:
            continue
        row = _issue(
            session, formats.build_l_code(region, birth_date, suffix), CodeType.L, actor, person_id, status
        )
        if row:
            return row
    # Crowded space: choose among the suffixes still free rather than keep guessing.
    while True:
        free = sorted(set(range(10_000)) - repository.suffixes_in_use(session, prefix) - {forbidden})
        if not free:
            raise CodeSpaceExhausted(
                f"all 10,000 temporary codes for region {region} and birth date {birth_date} are issued"
            )
        row = _issue(session, prefix + f"{secrets.choice(free):04d}", CodeType.L, actor, person_id, status)
        if row:
            return row


def allocate_j_code(
    session: Session, region: str, birth_date: date, actor: str, person_id: int | None = None
) -> IssuedCode:
    while True:
        sequence = repository.next_j_sequence(session, region, birth_date)
        if sequence > 999:
            raise CodeSpaceExhausted(
                f"all 999 J sequence numbers for region {region} and birth date {birth_date} are issued"
            )
        row = _issue(
            session, formats.build_j_code(region, birth_date, sequence), CodeType.J, actor, person_id
        )
        if row:  # a taken code (imported from elsewhere) just moves us to the next number
            return row


@dataclass(frozen=True)
class FormalCode:
    code: IssuedCode
    fallback_reason: str | None


def allocate_formal_code(
    session: Session,
    *,
    region: str,
    birth_date: date,
    resident_id: str | None,
    actor: str,
    person_id: int | None = None,
) -> FormalCode:
    """A G code for a verified resident ID number, else (or when the G form is taken) a J code."""
    if resident_id:
        g_code = formats.build_g_code(resident_id)
        row = _issue(session, g_code, CodeType.G, actor, person_id)
        if row:
            return FormalCode(row, None)
        reason = "the G form of this ID number was already issued; J code issued instead"
        return FormalCode(allocate_j_code(session, region, birth_date, actor, person_id), reason)
    return FormalCode(allocate_j_code(session, region, birth_date, actor, person_id), None)


@dataclass(frozen=True)
class Promotion:
    person: Person
    old_code: str
    new_code: str
    promoted: bool  # False when another transaction had already promoted this code
    fallback_reason: str | None = None


@dataclass(frozen=True)
class NewCodes:
    """The codes of a person about to be written: the ``L`` code, and the formal code when the
    person was verified before being written (the ``L`` code is then issued already superseded)."""

    temporary: str
    formal: str | None = None
    fallback_reason: str | None = None

    @property
    def current(self) -> str:
        return self.formal or self.temporary


def _require_id_number_for_g(target: Literal["G", "J"], resident_id: str | None) -> None:
    if target == "G" and not resident_id:
        raise InvalidInput(
            errors=[{"field": "resident_id", "code": "required", "message": "G needs an ID number"}]
        )


def issue_new_person_codes(
    session: Session,
    *,
    region: str,
    birth_date: date,
    actor: str,
    id_number: str | None = None,
    formal: Literal["G", "J"] | None = None,
) -> NewCodes:
    """Codes for a person not written yet: an ``L`` code, and with ``formal`` at once its promotion
    (``G`` from ``id_number``, falling back to ``J``). ``bind_new_codes`` gives them to the person."""
    if formal is not None:
        _require_id_number_for_g(formal, id_number)
    temporary = allocate_l_code(
        session,
        region,
        birth_date,
        actor,
        id_number=id_number,
        status="current" if formal is None else "superseded",
    )
    if formal is None:
        return NewCodes(temporary.code)
    promoted = allocate_formal_code(
        session,
        region=region,
        birth_date=birth_date,
        resident_id=id_number if formal == "G" else None,
        actor=actor,
    )
    return NewCodes(temporary.code, promoted.code.code, promoted.fallback_reason)


def choose_temporary_codes(session: Session, wanted: list[tuple[str, date, str | None]]) -> list[str]:
    """Free ``L`` codes for many persons not written yet, one per (region, birth date, ID number),
    each never issued before and none twice; ``write_temporary_codes`` issues them once the persons
    exist. Random suffixes first, checked in one query per round; where a (region, date) space is
    crowded, a pick among its free suffixes."""
    chosen: list[str] = [""] * len(wanted)
    todo = list(range(len(wanted)))
    for _ in range(_RANDOM_TRIES):
        picked: dict[int, str] = {}
        for i in todo:
            region, born, id_number = wanted[i]
            forbidden = _revealing_suffix(formats.l_prefix(region, born), id_number)
            suffix = secrets.randbelow(10_000)
            if suffix != forbidden:
                picked[i] = formats.build_l_code(region, born, suffix)
        taken = repository.issued_among(session, list(picked.values())) | set(chosen)
        for i, code in picked.items():
            if code not in taken:
                chosen[i] = code
                taken.add(code)
        todo = [i for i in todo if not chosen[i]]
        if not todo:
            return chosen
    for i in todo:
        region, born, id_number = wanted[i]
        prefix = formats.l_prefix(region, born)
        used = repository.suffixes_in_use(session, prefix)
        used |= {int(c[len(prefix) :]) for c in chosen if c.startswith(prefix)}
        forbidden = _revealing_suffix(prefix, id_number)
        free = sorted(set(range(10_000)) - used - {forbidden})
        if not free:
            raise CodeSpaceExhausted(
                f"all 10,000 temporary codes for region {region} and birth date {born} are issued"
            )
        chosen[i] = prefix + f"{secrets.choice(free):04d}"
    return chosen


def write_temporary_codes(
    session: Session, owners: Sequence[tuple[str, Person | PersonSummary]], actor: str
) -> None:
    """Issue the codes of ``choose_temporary_codes`` to the persons just written, with their feed
    events: the same rows as ``issue_new_person_codes`` and ``bind_new_codes`` for each."""
    now = utcnow()
    repository.write_codes(
        session,
        [
            {
                "code": code,
                "type": CodeType.L.value,
                "person_id": person.id,
                "status": "current",
                "issued_at": now,
                "issued_by": actor,
            }
            for code, person in owners
        ],
    )
    for code, person in owners:
        feed.append(session, type="code.issued", person=person, code=code)


def bind_new_codes(
    session: Session, codes: NewCodes, person: Person, *, actor: str, reason: str | None = None
) -> None:
    """Give the codes of ``issue_new_person_codes`` to the person just written (one UPDATE), with
    the feed events and, for a promotion, its lineage: the same rows as an ``L`` code issued and
    later promoted by ``promote_code``, none written twice."""
    assert person.id is not None
    repository.bind_codes(session, [c for c in (codes.temporary, codes.formal) if c], person.id)
    feed.append(session, type="code.issued", person=person, code=codes.temporary)
    if codes.formal is not None:
        _record_promotion(
            session,
            person,
            codes.temporary,
            codes.formal,
            codes.fallback_reason,
            reason=reason or "verified_and_deduplicated",
            actor=actor,
        )


def _record_promotion(
    session: Session,
    person: Person,
    old_code: str,
    new_code: str,
    fallback_reason: str | None,
    *,
    reason: str,
    actor: str,
) -> None:
    """The lineage entry and the feed event of a promotion from ``old_code`` to ``new_code``."""
    _add_lineage(
        session, person, old_code, new_code, reason, actor=actor, at=utcnow(), detail=fallback_reason
    )
    feed.append(session, type="code.promoted", person=person, old_code=old_code, detail=reason[:200])


def is_issued(session: Session, code: str) -> bool:
    """Whether ``code`` was ever issued (current, superseded or an alias: never to be issued again)."""
    return repository.get_code(session, formats.normalise_code(code)) is not None


def promote_code(
    session: Session,
    code: str,
    *,
    target: Literal["G", "J"],
    resident_id: str | None = None,
    actor: str,
    reason: str,
) -> Promotion:
    """Promote a person's L code to G or J, or a J code to G, keeping the old code resolvable.

    Idempotent under concurrency: the person's row is locked; a promotion that finds the code
    already superseded returns the formal code the first one issued.
    """
    issued = repository.get_code(session, formats.normalise_code(code))
    if issued is None or issued.person_id is None:
        raise NotFound(f"code {code} was never issued")
    advisory_xact_lock(session, "person", str(issued.person_id))
    person = people.get_person(session, issued.person_id, for_update=True)
    issued = repository.get_code(session, issued.code)
    assert person is not None and issued is not None
    if issued.status != "current":
        return Promotion(person, issued.code, person.current_code, promoted=False)
    kind = CodeType(issued.type)
    if kind is CodeType.G or (kind is CodeType.J and target == "J"):
        raise Conflict(f"a {kind} code cannot be promoted to {target}")
    _require_id_number_for_g(target, resident_id)
    issued.status = "superseded"
    session.add(issued)
    session.flush()  # free the one-current-code slot before the new code takes it
    formal = allocate_formal_code(
        session,
        region=issued.code[1:7],
        birth_date=person.birth_date,
        resident_id=resident_id if target == "G" else None,
        actor=actor,
        person_id=person.id,
    )
    person.current_code = formal.code.code
    person.updated_at = utcnow()
    session.add(person)
    _record_promotion(
        session, person, issued.code, formal.code.code, formal.fallback_reason, reason=reason, actor=actor
    )
    return Promotion(
        person, issued.code, formal.code.code, promoted=True, fallback_reason=formal.fallback_reason
    )


def alias_merged_code(
    session: Session, merged: Person, survivor: Person, *, actor: str, at: datetime
) -> None:
    """A merge: the merged person's current code becomes an alias, its lineage leading to the
    survivor's code (so resolving it finds the survivor)."""
    _restate_code(
        session, merged, "alias", merged.current_code, survivor.current_code, "merge", actor=actor, at=at
    )


def restore_unmerged_code(
    session: Session, restored: Person, survivor: Person, *, actor: str, at: datetime
) -> None:
    """A merge undone: the restored person's code is current again, its lineage leading back from
    the survivor's code."""
    _restate_code(
        session,
        restored,
        "current",
        survivor.current_code,
        restored.current_code,
        "unmerge",
        actor=actor,
        at=at,
    )


def _restate_code(
    session: Session,
    person: Person,
    status: str,
    old_code: str,
    new_code: str,
    reason: str,
    *,
    actor: str,
    at: datetime,
) -> None:
    """The person's current code takes ``status``, with the lineage entry that says why."""
    assert person.id is not None
    code = repository.get_code(session, person.current_code)
    assert code is not None
    code.status = status
    session.add(code)
    _add_lineage(session, person, old_code, new_code, reason, actor=actor, at=at)


def _add_lineage(
    session: Session,
    person: Person,
    old_code: str,
    new_code: str,
    reason: str,
    *,
    actor: str,
    at: datetime,
    detail: str | None = None,
) -> None:
    """One entry of the person's code lineage: ``old_code`` became ``new_code``, and why."""
    assert person.id is not None
    repository.add_lineage(
        session,
        CodeLineage(
            person_id=person.id,
            old_code=old_code,
            new_code=new_code,
            reason=reason,
            detail=detail,
            actor=actor,
            occurred_at=at,
        ),
    )


@dataclass(frozen=True)
class Resolution:
    asked: str
    person: Person
    current_code: str
    asked_status: str
    lineage: list[CodeLineage]


def resolve_code(session: Session, code: str) -> Resolution:
    """Any code ever issued → the person who holds it now (following merges) and the lineage."""
    issued = repository.get_code(session, formats.normalise_code(code))
    if issued is None or issued.person_id is None:
        raise NotFound("no such code")
    chain = people.merge_chain(session, issued.person_id)
    assert chain, "an issued code names a person who exists"
    person = chain[-1]
    lineage = list(repository.lineage_for_persons(session, [int(p.id or 0) for p in chain]))
    return Resolution(issued.code, person, person.current_code, issued.status, lineage)
