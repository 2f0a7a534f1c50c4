"""Sealed codes and text (gateway.sealing): what is stored, what reads back, and who can read it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from gateway import sealing
from gateway.db import alembic_config, build_engine
from gateway.identity.documents import check_character
from gateway.idgen.models import IssuedCode
from gateway.persons.models import Person
from gateway.registry.models import IdempotencyRecord
from gateway.sealing import SealedCode, SealedText, Sealer, SealingKeyMissing, UnreadableSeal

NUMBER = "41010220150302091" + check_character("41010220150302091")
G_CODE = "G" + NUMBER
L_CODE = "L410102201503021234"
J_CODE = "J41010220150302001" + "7"
NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture
def sealer() -> Sealer:
    return sealing.installed()


@pytest.fixture
def no_sealer() -> Iterator[None]:
    kept = sealing.installed()
    sealing.install(None)
    yield
    sealing.install(kept)


def test_a_g_code_round_trips_and_always_seals_the_same(sealer: Sealer) -> None:
    stored = sealer.seal_code(G_CODE)
    assert stored == sealer.seal_code(G_CODE)
    assert stored.startswith("G~") and len(stored) == 34 and NUMBER not in stored
    assert sealer.open_code(stored) == G_CODE
    other = "G" + NUMBER[:14] + "123" + check_character(NUMBER[:14] + "123")
    assert sealer.seal_code(other) != stored


def test_l_and_j_codes_and_partial_input_pass_unchanged(sealer: Sealer) -> None:
    full_width = "G" + "".join(chr(ord(c) + 0xFEE0) for c in NUMBER)  # not ASCII digits: not a stored code
    for value in (L_CODE, J_CODE, "G41010220150302", "G" + NUMBER + "0", "g" + NUMBER, "G4101%", full_width):
        assert sealer.seal_code(value) == value
        assert SealedCode().process_bind_param(value, None) == value  # type: ignore[arg-type]


def test_text_seals_every_number_and_reads_back_the_same(sealer: Sealer) -> None:
    written = f'{{"code": "{G_CODE}", "id_number": "{NUMBER.lower()}", "old": "{L_CODE}"}} see {NUMBER}.'
    stored = sealer.seal_text(written)
    assert NUMBER not in stored and NUMBER.lower() not in stored and L_CODE in stored
    assert sealer.open_text(stored) == written
    assert sealer.seal_text("12345678901234567890 and abc410102201503020910") == (
        "12345678901234567890 and abc410102201503020910"  # longer runs and glued ones are not numbers
    )


def test_another_key_cannot_read_and_a_lookalike_is_left_alone(sealer: Sealer) -> None:
    stranger = Sealer(secrets.token_bytes(64))
    with pytest.raises(UnreadableSeal):
        stranger.open_code(sealer.seal_code(G_CODE))
    sealed_text = sealer.seal_text(f"pupil {NUMBER}")
    assert stranger.open_text(sealed_text) == sealed_text
    lookalike = "note ~" + "A" * 32
    assert sealer.open_text(lookalike) == lookalike


def test_without_a_sealer_a_number_is_refused_not_stored(no_sealer: None) -> None:
    with pytest.raises(SealingKeyMissing, match="no sealing key installed"):
        SealedCode().process_bind_param(G_CODE, None)  # type: ignore[arg-type]
    with pytest.raises(SealingKeyMissing):
        SealedText().process_bind_param(f"pupil {NUMBER}", None)  # type: ignore[arg-type]
    assert SealedCode().process_bind_param(L_CODE, None) == L_CODE  # type: ignore[arg-type]
    assert SealedText().process_bind_param("no number here", None) == "no number here"  # type: ignore[arg-type]


def _person(code: str) -> Person:
    return Person(
        current_code=code, region="410102", birth_date=date(2015, 3, 2), created_at=NOW, updated_at=NOW
    )


def test_the_database_holds_the_sealed_form_and_queries_still_work(session: Session) -> None:
    for code in (G_CODE, L_CODE):
        person = _person(code)
        session.add(person)
        session.flush()
        session.add(IssuedCode(code=code, type=code[0], person_id=person.id, issued_at=NOW, issued_by="test"))
    session.flush()
    raw = session.execute(text("SELECT code FROM issued_code ORDER BY code")).scalars().all()
    assert raw[0].startswith("G~") and NUMBER not in raw[0] and raw[1] == L_CODE
    assert session.exec(select(IssuedCode).where(IssuedCode.code == G_CODE)).one().code == G_CODE
    joined = select(Person.current_code).join(IssuedCode, col(IssuedCode.code) == col(Person.current_code))
    assert sorted(session.exec(joined).all()) == [G_CODE, L_CODE]
    assert session.exec(select(IssuedCode.code).where(col(IssuedCode.code).startswith("G"))).all() == [G_CODE]
    assert session.exec(
        select(IssuedCode.code).where(col(IssuedCode.code).startswith(L_CODE[:15]))
    ).all() == [L_CODE]


@pytest.fixture
def engine_at_0009(fresh_db_url: str) -> Iterator[Engine]:
    command.downgrade(alembic_config(fresh_db_url), "0009")
    engine = build_engine(fresh_db_url)
    yield engine
    engine.dispose()


def test_the_migration_seals_rows_stored_in_clear_and_the_downgrade_opens_them(
    engine_at_0009: Engine, fresh_db_url: str
) -> None:
    reply = f'{{"code": "{G_CODE}"}}'
    with engine_at_0009.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO person (current_code, status, region, birth_date, created_at, updated_at, name, "
                "gender, id_type, nationality, verification_status, school_status, locked_by_transfer) "
                "VALUES (:code, 'active', '410102', '2015-03-02', :now, :now, '', '1', 'resident_id', 'CHN', "
                "'verified', 'registered', false)"
            ),
            {"code": G_CODE, "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO issued_code (code, type, person_id, status, issued_at, issued_by) "
                "VALUES (:code, 'G', (SELECT id FROM person), 'current', :now, 'test')"
            ),
            {"code": G_CODE, "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO idempotency_record (client_id, key, request_hash, status_code, response_json, "
                "created_at) VALUES ('c1', :key, 'h', 201, :reply, :now)"
            ),
            {"key": f"reg-{NUMBER}", "reply": reply, "now": NOW},
        )
    command.upgrade(alembic_config(fresh_db_url), "head")
    with engine_at_0009.connect() as conn:
        for table, column in (
            ("person", "current_code"),
            ("issued_code", "code"),
            ("idempotency_record", "key"),
        ):
            stored = conn.execute(text(f"SELECT {column} FROM {table}")).scalar_one()
            assert NUMBER not in stored, (table, column)
        assert NUMBER not in conn.execute(text("SELECT response_json FROM idempotency_record")).scalar_one()
    with Session(engine_at_0009) as session:
        assert session.exec(select(Person.current_code)).one() == G_CODE
        record = session.exec(select(IdempotencyRecord)).one()
        assert (record.key, record.response_json) == (f"reg-{NUMBER}", reply)
    with pytest.raises(Exception, match=r"never changes|not allowed"), engine_at_0009.begin() as conn:
        conn.execute(text("UPDATE issued_code SET code = 'G000000000000000000'"))  # the trigger is back
    command.downgrade(alembic_config(fresh_db_url), "0009")
    with engine_at_0009.connect() as conn:
        assert conn.execute(text("SELECT code FROM issued_code")).scalar_one() == G_CODE
    command.upgrade(alembic_config(fresh_db_url), "head")  # and sealed again: no clear row left behind
    with engine_at_0009.connect() as conn:
        assert NUMBER not in conn.execute(text("SELECT code FROM issued_code")).scalar_one()
