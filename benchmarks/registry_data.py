"""Bulk-loads a synthetic registry (persons, codes, identifiers, blocking keys) for benchmarks.

It writes exactly the rows the registration workflow writes, with the same keys (the HMAC digests
and encryption come from the keyring of the settings given), but in bulk: COPY on PostgreSQL,
executemany on SQLite, and the blocking keys computed on every core. COPY bypasses the column types,
so G codes are sealed here as the code columns would seal them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Engine, insert, text

from gateway.identity import CanonicalRecord
from gateway.idgen import formats
from gateway.keyring import KeyRing, KeySet
from gateway.matching import blocking_key_digest, blocking_keys, iter_population, load_config
from gateway.persons.records import ID_CONTEXT
from gateway.privacy import mask_id_number
from gateway.sealing import Sealer

CHUNK = 20_000
_NOW = datetime(2026, 9, 1, tzinfo=UTC)


def _chunks(records: Iterator[CanonicalRecord], size: int) -> Iterator[list[CanonicalRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _rows(
    args: tuple[list[CanonicalRecord], int, bytes, bytes, bytes],
) -> dict[str, list[tuple[Any, ...]]]:
    records, first_id, hmac_key, enc_key, sealing_key = args
    from cryptography.hazmat.primitives.asymmetric import ec

    # Only the identifier keys are used here; the signing keys of this keyring sign nothing.
    unused = KeySet((ec.generate_private_key(ec.SECP256R1()),))
    keyring = KeyRing(
        unused, KeySet((ec.generate_private_key(ec.SECP256R1()),)), hmac_key, enc_key, sealing_key
    )
    sealer = Sealer(sealing_key)
    config = load_config()
    out: dict[str, list[tuple[Any, ...]]] = {
        "person": [],
        "issued_code": [],
        "person_identifier": [],
        "blocking_key": [],
    }
    for offset, r in enumerate(records):
        pid = first_id + offset
        region = r.household_region or "110101"
        # J codes are numbered by the parent, which sees every chunk (see _number_j_codes)
        code = sealer.seal_code("G" + r.id_number) if r.id_type == "resident_id" and r.id_number else "J"
        enc = keyring.encrypt(r.id_number, ID_CONTEXT) if r.id_number else None
        out["person"].append(
            (
                pid,
                code,
                "active",
                region,
                r.school_code,
                r.birth_date,
                _NOW,
                _NOW,
                r.name,
                r.gender,
                r.ethnicity,
                r.id_type,
                enc,
                mask_id_number(r.id_number),
                r.nationality,
                r.household_region,
                r.guardian_name,
                "verified",
                "in_attendance",
                False,
            )
        )
        out["issued_code"].append((code, code[0], pid, "current", _NOW, "bench"))
        if r.id_number and r.id_type in ("resident_id", "passport"):
            out["person_identifier"].append(
                (
                    pid,
                    r.id_type,
                    True,
                    keyring.lookup_hash(r.id_type, r.id_number),
                    keyring.encrypt(r.id_number, f"identifier:{r.id_type}"),
                    mask_id_number(r.id_number) or "",
                    _NOW,
                )
            )
        for digest in {blocking_key_digest(k, keyring.hmac_key) for k in blocking_keys(r, config)}:
            out["blocking_key"].append((digest, pid))
    return out


COLUMNS = {
    "person": (
        "id",
        "current_code",
        "status",
        "region",
        "school_code",
        "birth_date",
        "created_at",
        "updated_at",
        "name",
        "gender",
        "ethnicity",
        "id_type",
        "id_number_encrypted",
        "id_number_masked",
        "nationality",
        "household_region",
        "guardian_name",
        "verification_status",
        "school_status",
        "locked_by_transfer",
    ),
    "issued_code": ("code", "type", "person_id", "status", "issued_at", "issued_by"),
    "person_identifier": (
        "person_id",
        "scheme",
        "national",
        "value_hash",
        "value_encrypted",
        "value_masked",
        "valid_from",
    ),
    "blocking_key": ("digest", "person_id"),
}


def _write(engine: Engine, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    columns = COLUMNS[table]
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    from gateway.tables import metadata

    with engine.begin() as conn:
        conn.execute(insert(metadata.tables[table]), [dict(zip(columns, row, strict=True)) for row in rows])


def _number_j_codes(rows: dict[str, list[tuple[Any, ...]]], sequences: dict[tuple[str, Any], int]) -> None:
    """Give persons without a resident ID their J codes, numbering each (region, date) across chunks,
    from 500 upwards so that live registrations (which start at 1) never meet them."""
    for i, person in enumerate(rows["person"]):
        if person[1] != "J":
            continue
        region, born = person[3], person[5]
        sequences[(region, born)] = sequences.get((region, born), 499) + 1
        code = formats.build_j_code(region, born, sequences[(region, born)])
        rows["person"][i] = (person[0], code, *person[2:])
        issued = rows["issued_code"][i]
        rows["issued_code"][i] = (code, "J", *issued[2:])


def load_registry(engine: Engine, keyring: KeyRing, persons: int, seed: int) -> float:
    """Load ``persons`` synthetic persons; returns seconds taken."""
    started = time.perf_counter()
    jobs = (
        (
            chunk,
            1 + i * CHUNK,
            keyring.hmac_key,
            keyring.encryption_key,
            keyring.sealing_key,
        )
        for i, chunk in enumerate(_chunks(iter_population(persons, seed), CHUNK))
    )
    sequences: dict[tuple[str, Any], int] = {}
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for done, rows in enumerate(pool.map(_rows, jobs), start=1):
            _number_j_codes(rows, sequences)
            for table in ("person", "issued_code", "person_identifier", "blocking_key"):
                _write(engine, table, rows[table])
            print(f"  loaded {min(done * CHUNK, persons):,} persons", end="\r", flush=True)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('person', 'id'), (SELECT max(id) FROM person))")
            )
            # This schema's tables only: the database may hold many other schemas (tests running).
            conn.execute(text("ANALYZE person, issued_code, person_identifier, blocking_key"))
    print()
    return time.perf_counter() - started
