"""Allocation, promotion, resolution and the identifier cross-reference, on the real database."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from gateway.clock import utcnow
from gateway.idgen import formats, service
from gateway.idgen.models import CodeSequence, IssuedCode
from gateway.keyring import KeyRing
from gateway.persons import identifiers
from gateway.persons.models import Person
from gateway.registry.service import new_person
from tests.fixtures.registrations import citizen

BORN = date(2016, 9, 1)
REGION = "410102"


def _person(session: Session, born: date = BORN, region: str = REGION) -> Person:
    return new_person(session, region=region, school_code="4101020001", birth_date=born, actor="test")[0]


def test_new_person_gets_a_valid_l_code(session: Session) -> None:
    person = _person(session)
    check = formats.validate_code(person.current_code)
    assert check.valid and check.type is formats.CodeType.L
    assert check.region == REGION and check.birth_date == BORN


def _issue_all_l_suffixes_but(session: Session, prefix: str, free: set[int]) -> None:
    rows = [
        {
            "code": f"{prefix}{s:04d}",
            "type": "L",
            "status": "retired",
            "issued_at": utcnow(),
            "issued_by": "seed",
        }
        for s in range(10_000)
        if s not in free
    ]
    session.execute(insert(IssuedCode), rows)


def test_l_codes_are_distinct_and_fill_the_space_before_erroring(session: Session) -> None:
    prefix = formats.l_prefix(REGION, BORN)
    # Pre-issue all but three suffixes, as if the (region, date) space were nearly full.
    _issue_all_l_suffixes_but(session, prefix, {17, 4242, 9999})
    got = {service.allocate_l_code(session, REGION, BORN, "test").code for _ in range(3)}
    assert got == {f"{prefix}0017", f"{prefix}4242", f"{prefix}9999"}
    with pytest.raises(service.CodeSpaceExhausted):
        service.allocate_l_code(session, REGION, BORN, "test")


def test_an_l_code_never_spells_out_the_holders_id_number(session: Session) -> None:
    # Born and schooled in the same county, the L code's first 14 digits are the ID number's; the
    # one suffix equal to the ID number's last four must not be drawn, even when it is all that's left.
    resident_id = citizen(REGION + BORN.strftime("%Y%m%d") + "165")
    revealing = int(resident_id[-4:]) if resident_id[-1].isdigit() else None
    assert revealing is not None, "the test needs a number whose check character is a digit"
    prefix = formats.l_prefix(REGION, BORN)
    _issue_all_l_suffixes_but(session, prefix, {revealing, 1234})
    got = service.allocate_l_code(session, REGION, BORN, "test", id_number=resident_id)
    assert got.code == f"{prefix}1234" and got.code != "L" + resident_id
    with pytest.raises(service.CodeSpaceExhausted):
        service.allocate_l_code(session, REGION, BORN, "test", id_number=resident_id)
    # Anybody else may still hold that code.
    assert service.allocate_l_code(session, REGION, BORN, "test").code == "L" + resident_id


def test_j_codes_follow_the_sequence_and_stop_at_999(session: Session) -> None:
    first = service.allocate_j_code(session, REGION, BORN, "test").code
    second = service.allocate_j_code(session, REGION, BORN, "test").code
    assert first[15:18] == "001" and second[15:18] == "002"
    assert formats.validate_code(first).valid and formats.validate_code(second).valid
    other_day = service.allocate_j_code(session, REGION, date(2016, 9, 2), "test").code
    assert other_day[15:18] == "001"
    session.execute(
        text("UPDATE code_sequence SET next_value = 1000 WHERE region = :r AND birth_date = :d"),
        {"r": REGION, "d": BORN},
    )
    with pytest.raises(service.CodeSpaceExhausted):
        service.allocate_j_code(session, REGION, BORN, "test")


def test_j_skips_a_number_already_issued(session: Session) -> None:
    taken = formats.build_j_code(REGION, BORN, 1)
    session.add(IssuedCode(code=taken, type="J", status="retired", issued_at=utcnow(), issued_by="import"))
    session.flush()
    assert service.allocate_j_code(session, REGION, BORN, "test").code == formats.build_j_code(
        REGION, BORN, 2
    )


def test_promotion_l_to_g_keeps_the_old_code_resolvable(session: Session) -> None:
    person = _person(session)
    old = person.current_code
    promoted = service.promote_code(
        session,
        old,
        target="G",
        resident_id=citizen("41010220160901003"),
        actor="verifier",
        reason="verified",
    )
    assert promoted.promoted and promoted.new_code.startswith("G410102")
    resolved = service.resolve_code(session, old)
    assert resolved.current_code == promoted.new_code
    assert resolved.asked_status == "superseded"
    assert [(e.old_code, e.new_code, e.reason, e.actor) for e in resolved.lineage] == [
        (old, promoted.new_code, "verified", "verifier")
    ]


def test_promotion_falls_back_to_j_when_the_g_form_is_taken(session: Session) -> None:
    number = citizen("41010220160901003")
    first = _person(session)
    service.promote_code(
        session, first.current_code, target="G", resident_id=number, actor="t", reason="verified"
    )
    second = _person(session)
    promoted = service.promote_code(
        session, second.current_code, target="G", resident_id=number, actor="t", reason="verified"
    )
    assert promoted.new_code.startswith("J") and promoted.fallback_reason
    lineage = service.resolve_code(session, promoted.new_code).lineage
    assert lineage[-1].detail == promoted.fallback_reason


def test_l_to_j_then_j_to_g(session: Session) -> None:
    person = _person(session)
    l_code = person.current_code
    to_j = service.promote_code(session, l_code, target="J", actor="t", reason="no_id_number")
    assert to_j.new_code.startswith("J")
    number = citizen("41010220160901005")
    to_g = service.promote_code(
        session, to_j.new_code, target="G", resident_id=number, actor="t", reason="id_obtained"
    )
    resolved = service.resolve_code(session, l_code)
    assert resolved.current_code == to_g.new_code == "G" + number
    assert [e.reason for e in resolved.lineage] == ["no_id_number", "id_obtained"]


def test_promoting_a_superseded_code_returns_the_formal_one(session: Session) -> None:
    person = _person(session)
    first = service.promote_code(session, person.current_code, target="J", actor="a", reason="r")
    again = service.promote_code(session, first.old_code, target="J", actor="b", reason="r")
    assert not again.promoted and again.new_code == first.new_code


def test_database_refuses_an_already_issued_code(session: Session) -> None:
    person = _person(session)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(
            insert(IssuedCode).values(
                code=person.current_code, type="L", status="retired", issued_at=utcnow(), issued_by="x"
            )
        )


def test_database_refuses_deleting_or_rewriting_a_code(session: Session) -> None:
    person = _person(session)
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("DELETE FROM issued_code WHERE code = :c"), {"c": person.current_code})
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(
            text("UPDATE issued_code SET code = 'L000' WHERE code = :c"), {"c": person.current_code}
        )
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("DELETE FROM person WHERE id = :i"), {"i": person.id})


def test_identifiers_are_encrypted_and_looked_up_by_hmac(session: Session, keyring: KeyRing) -> None:
    person = _person(session)
    assert person.id is not None
    number = citizen("41010220160901003")
    row = identifiers.attach_identifier(
        session, keyring, person_id=person.id, scheme="resident_id", value=number
    )
    assert number not in row.value_encrypted and number not in row.value_hash
    assert row.value_masked == number[:6] + "********" + number[-4:]
    assert identifiers.find_holders(session, keyring, "resident_id", number) == [person.id]
    views = identifiers.identifiers_of(session, keyring, person.id)
    assert [(v.scheme, v.value) for v in views] == [("resident_id", number)]


def test_an_active_national_number_belongs_to_one_person(session: Session, keyring: KeyRing) -> None:
    a, b = _person(session), _person(session)
    assert a.id is not None and b.id is not None
    identifiers.attach_identifier(session, keyring, person_id=a.id, scheme="passport", value="E12345678")
    with pytest.raises(identifiers.IdentifierConflict):
        identifiers.attach_identifier(session, keyring, person_id=b.id, scheme="passport", value="E12345678")
    # Enforced by the database too, not only by the service's check.
    duplicate = {
        "person_id": b.id,
        "scheme": "passport",
        "national": True,
        "value_hash": keyring.lookup_hash("passport", "E12345678"),
        "value_encrypted": "x",
        "value_masked": "x",
        "valid_from": utcnow(),
    }
    from gateway.persons.models import PersonIdentifier

    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(PersonIdentifier).values(**duplicate))
    # A provincial number is not a national document: two persons may be recorded with it.
    identifiers.attach_identifier(session, keyring, person_id=a.id, scheme="provincial_aux:41", value="HN001")
    identifiers.attach_identifier(session, keyring, person_id=b.id, scheme="provincial_aux:41", value="HN001")


def test_ended_identifier_frees_the_number(session: Session, keyring: KeyRing) -> None:
    a, b = _person(session), _person(session)
    assert a.id is not None and b.id is not None
    row = identifiers.attach_identifier(session, keyring, person_id=a.id, scheme="passport", value="E7654321")
    identifiers.end_identifier(session, row)
    identifiers.attach_identifier(session, keyring, person_id=b.id, scheme="passport", value="E7654321")
    assert identifiers.find_holders(session, keyring, "passport", "E7654321") == [b.id]
    history = identifiers.identifiers_of(session, keyring, a.id, include_ended=True)
    assert history[0].valid_to is not None


def test_unknown_scheme_is_refused(session: Session, keyring: KeyRing) -> None:
    from gateway.errors import InvalidInput

    person = _person(session)
    assert person.id is not None
    with pytest.raises(InvalidInput):
        identifiers.attach_identifier(
            session, keyring, person_id=person.id, scheme="driver_licence", value="1"
        )


def test_sequence_row_exists_per_region_and_date(session: Session) -> None:
    service.allocate_j_code(session, "650102", BORN, "t")
    assert session.get(CodeSequence, ("650102", BORN)) is not None
