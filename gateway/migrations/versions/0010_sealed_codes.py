"""sealed codes: G codes and ID numbers in code and text columns stored sealed (AES-SIV), columns widened

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00

A G code is G + a resident ID number, so no column may hold one in clear (ADR 007). Code columns
now hold G + the sealed number (34 characters), text columns every ID number sealed (33 characters
where it took 18), so code columns go from 19 to 40 characters and bounded text columns double.
PostgreSQL widens them in place (no rewrite). SQLite does not enforce lengths, but its schema must
still say what the models say: the declared types are edited in ``sqlite_master`` by the procedure
SQLite documents for changes that leave the stored rows as they are (writable_schema, then a new
schema_version), since rebuilding the tables would drop their triggers and partial indexes.

Rows already stored are sealed here, which needs the sealing key: the process that migrates installs
it first (``gateway.sealing.install_from``, as start-up, ``gateway db upgrade`` and the tests do). A
database with nothing to seal needs no key. The trigger that keeps issued codes from changing is
lifted for the migration alone: the code keeps its value, only its stored form changes.
"""
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from gateway import sealing


revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CODE_COLUMNS = {
    "batch_row": ["code"],
    "change_event": ["code", "old_code"],
    "code_lineage": ["old_code", "new_code"],
    "issued_code": ["code"],
    "person": ["current_code"],
    "record_correction": ["code"],
}
# table -> {column: length as given (None: unbounded)}; the stored length is twice that.
TEXT_COLUMNS: dict[str, dict[str, int | None]] = {
    "batch": {"acting_user": 100},
    "batch_row": {"record_id": 128, "errors_json": None},
    "change_event": {"detail": 200},
    "code_lineage": {"detail": 300, "actor": 100},
    "handoff_admission": {"student_number": 128, "purpose": 200, "approval_ref": 200},
    "handoff_export": {
        "purpose": 200,
        "approval_ref": 200,
        "acting_user": 100,
        "request_url": 500,
        "manifest_json": None,
        "error": 500,
    },
    "handoff_intake": {"purpose": 200, "approval_ref": 200},
    "handoff_transfer": {"applied_by": 100, "reason": 500},
    "handoff_transfer_step": {"actor": 100, "note": 500},
    "idempotency_record": {"key": 200, "response_json": None},
    "issued_code": {"issued_by": 100},
    "person_merge": {"decided_by": 100, "undone_by": 100},
    "problem_record": {"explanation_json": None, "opened_by": 100, "decided_by": 100, "decision_note": 500},
    "record_correction": {"reason": 200, "evidence_ref": 100, "corrected_by": 100},
    "status_event": {"recorded_by": 100, "note": 500},
    "webhook_delivery": {"payload": None, "last_error": 300},
}
CODE_LENGTH, SEALED_CODE_LENGTH = 19, sealing.CODE_WIDTH
IMMUTABLE_TRIGGER = "issued_code_immutable"


def _widths(widen: bool) -> dict[str, dict[str, tuple[int, int]]]:
    """table -> {column: (length now, length after)} for every bounded column this revision changes."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for table, columns in CODE_COLUMNS.items():
        for column in columns:
            out.setdefault(table, {})[column] = (CODE_LENGTH, SEALED_CODE_LENGTH)
    for table, texts in TEXT_COLUMNS.items():
        for column, length in texts.items():
            if length is not None:
                out.setdefault(table, {})[column] = (length, 2 * length)
    if not widen:
        out = {t: {c: (new, old) for c, (old, new) in cols.items()} for t, cols in out.items()}
    return out


def _set_widths(widen: bool) -> None:
    bind = op.get_bind()
    widths = _widths(widen)
    if bind.dialect.name == "postgresql":
        for table, columns in widths.items():
            for column, (old, new) in columns.items():
                op.alter_column(table, column, type_=sa.String(new), existing_type=sa.String(old))
        return
    # SQLite: edit the declared types in place (https://sqlite.org/lang_altertable.html, "making other
    # kinds of table schema changes"); VARCHAR(n) to VARCHAR(m) keeps the column's affinity and rows.
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        for table, columns in widths.items():
            sql = bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).scalar_one()
            for column, (old, new) in columns.items():
                sql, found = re.subn(
                    rf'(\n\s*"?{column}"? )VARCHAR\({old}\)', rf"\g<1>VARCHAR({new})", sql
                )
                if found != 1:
                    raise RuntimeError(f"{table}.{column} is not declared VARCHAR({old})")
            bind.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table)
            )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def _rewrite(code: Callable[[str], str], text: Callable[[str], str]) -> None:
    """Pass every stored value of the changed columns through ``code`` or ``text``; write back changes."""
    bind = op.get_bind()
    for table_name in sorted(set(CODE_COLUMNS) | set(TEXT_COLUMNS)):
        table = sa.Table(table_name, sa.MetaData(), autoload_with=bind)
        keys = list(table.primary_key.columns)
        converters = {c: code for c in CODE_COLUMNS.get(table_name, [])}
        converters.update({c: text for c in TEXT_COLUMNS.get(table_name, {})})
        columns = [table.c[name] for name in converters]
        rows = bind.execute(
            sa.select(*keys, *columns).where(sa.or_(*(c.is_not(None) for c in columns)))
        ).all()
        for row in rows:
            changed = {}
            for name, convert in converters.items():
                value = row._mapping[table.c[name]]
                if value is not None and convert(value) != value:
                    changed[name] = convert(value)
            if changed:
                where = sa.and_(*(k == row._mapping[k] for k in keys))
                bind.execute(table.update().where(where).values(**changed))


@contextmanager
def _immutability_lifted() -> Iterator[None]:
    """Without the trigger that keeps issued codes from changing (PostgreSQL also refuses to change
    the type of a column a trigger names); put back as it was."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        trigger = bind.execute(
            sa.text(
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE tgname = :name AND tgrelid = 'issued_code'::regclass"
            ),
            {"name": IMMUTABLE_TRIGGER},
        ).scalar_one()
        op.execute(f"DROP TRIGGER {IMMUTABLE_TRIGGER} ON issued_code")
    else:
        trigger = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (IMMUTABLE_TRIGGER,)
        ).scalar_one()
        op.execute(f"DROP TRIGGER {IMMUTABLE_TRIGGER}")
    yield
    op.execute(trigger)


def _sealer_for(values: str) -> Callable[[], sealing.Sealer]:
    def sealer() -> sealing.Sealer:
        try:
            return sealing.installed()
        except sealing.SealingKeyMissing as exc:
            raise RuntimeError(
                f"this database holds {values}: migrate with the sealing key installed "
                "(gateway db upgrade does it, from GATEWAY_SECRET_KEY or data_dir/keys)"
            ) from exc

    return sealer


def upgrade() -> None:
    key = _sealer_for("G codes or ID numbers in clear, to be sealed")

    def seal_code(value: str) -> str:
        return key().seal_code(value) if sealing.is_g_code(value) else value

    def seal_text(value: str) -> str:
        return key().seal_text(value) if sealing.has_number(value) else value

    with _immutability_lifted():
        _set_widths(widen=True)
        _rewrite(seal_code, seal_text)


def downgrade() -> None:
    key = _sealer_for("sealed G codes or ID numbers, to be opened")

    def open_code(value: str) -> str:
        return key().open_code(value) if sealing.is_sealed_code(value) else value

    def open_text(value: str) -> str:
        return key().open_text(value) if sealing.has_sealed(value) else value

    with _immutability_lifted():
        _rewrite(open_code, open_text)
        _set_widths(widen=False)
