"""The database's floor for one registration: what PostgreSQL alone can do, measured with pgbench.

``floor.sql`` is one verified new registration as the database sees it, in one transaction with no
Python between statements: the Idempotency-Key locked and looked up, the 8 blocking keys locked (one
call) and the persons sharing them read (as ``search_candidates`` finds them), the holders of the ID number
looked up; then the person, the L code (superseded) and the G code (current), their lineage, the ID
number as an identifier, the 8 blocking keys (one multi-row INSERT), the verification job (done), the
stored answer, and the audit row and two feed events through ``gateway_append`` (whose append lock is
the third advisory lock); COMMIT. That is 14 statements between BEGIN and COMMIT, where the gateway
sends about 32 per registration over its two transactions (decide; verify outside any transaction;
decide again and write) and authentication (RESULTS.md); the SQL and most values are the gateway's.
The new persons are synthetic persons not loaded, read from a probe table (``bench_floor_probe``) one
statement before each transaction: what the gateway works out in Python (blocking-key digests, their
lock keys, encrypted values) is worked out once beforehand, with the registry's keys, so the look-ups
find the candidates a real new person's keys find. Unique values (codes, keys, hashes) come from a
63-bit random number per transaction.

Where it runs: ``measure_floor`` runs on the schema it is given. The registration benchmark calls it
on its own schema *after* the HTTP run, with the gateway stopped, so the floor has the machine to
itself and its rows (which stay: persons, codes, audit and feed rows) do not touch the HTTP figures;
the registry is then the loaded size plus the few thousand persons registered over HTTP.
``python -m benchmarks.registration.floor`` measures it alone on a fresh schema of each size.

pgbench: 16 clients, ``-M prepared``, ``-T`` seconds; the schema is put on the search path with
``PGOPTIONS=-csearch_path=<schema>``. Sizes: REG_BENCH_SIZES (default "100000,1000000"); seconds:
REG_BENCH_FLOOR_SECONDS (default 20).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.db import APPEND_LOCK, lock_key
from gateway.keyring import KeyRing, KeySet
from gateway.matching import blocking_key_digest, blocking_keys, generate_population, load_config
from gateway.persons.records import ID_CONTEXT
from gateway.privacy import mask_id_number

SCRIPT = Path(__file__).with_name("floor.sql")
PROBES = 5000
PROBE_SEED = 424_242  # persons not among those the benchmarks load (seeds 1 and 5) or register
CLIENTS = 16


class FloorUnavailable(RuntimeError):
    """pgbench is not installed (or the floor could not be measured)."""


def seconds_from_env() -> int:
    return int(os.environ.get("REG_BENCH_FLOOR_SECONDS", "20"))


def _throwaway_keyring() -> KeyRing:
    from cryptography.hazmat.primitives.asymmetric import ec

    def keys() -> KeySet:
        return KeySet((ec.generate_private_key(ec.SECP256R1()),))

    return KeyRing(keys(), keys(), secrets.token_bytes(32), secrets.token_bytes(32), secrets.token_bytes(64))


def _probes(keyring: KeyRing, count: int) -> list[dict[str, object]]:
    """``count`` new persons with a resident ID and 8 blocking keys, as the script reads them."""
    config = load_config()
    out: list[dict[str, object]] = []
    for record in generate_population(count * 2, PROBE_SEED):
        digests = sorted({blocking_key_digest(k, keyring.hmac_key) for k in blocking_keys(record, config)})
        if record.id_type != "resident_id" or not record.id_number or len(digests) != 8:
            continue
        region = record.household_region or "110101"
        out.append(
            {
                "n": len(out) + 1,
                **{f"d{i}": d for i, d in enumerate(digests, start=1)},
                "locks": "{" + ",".join(str(k) for k in sorted({lock_key(f"bk:{d}") for d in digests})) + "}",
                "holder": keyring.lookup_hash("resident_id", record.id_number),
                "region": region,
                "school_code": region + "0001",
                "birth_date": record.birth_date.isoformat(),
                "name": record.name,
                "gender": record.gender,
                "ethnicity": record.ethnicity,
                "household_region": record.household_region,
                "guardian_name": record.guardian_name,
                "id_encrypted": keyring.encrypt(record.id_number, ID_CONTEXT),
                "id_masked": mask_id_number(record.id_number),
                "identifier_encrypted": keyring.encrypt(record.id_number, "identifier:resident_id"),
                "guardian_id_encrypted": None,  # the benchmark's registrations send no guardian ID
            }
        )
        if len(out) == count:
            break
    return out


_PROBE_TABLE = """
CREATE TABLE bench_floor_probe (
    n integer PRIMARY KEY, d1 varchar(64), d2 varchar(64), d3 varchar(64), d4 varchar(64),
    d5 varchar(64), d6 varchar(64), d7 varchar(64), d8 varchar(64), locks text, holder varchar(64),
    region varchar(6), school_code varchar(10), birth_date text, name varchar(100), gender varchar(1),
    ethnicity varchar(2), household_region varchar(6), guardian_name varchar(100),
    id_encrypted varchar(400), id_masked varchar(40), identifier_encrypted varchar(400),
    guardian_id_encrypted varchar(400)
)"""


def measure_floor(url: str, seconds: int, clients: int = CLIENTS, keyring: KeyRing | None = None) -> float:
    """Transactions per second of ``floor.sql`` on the schema of ``url`` (a SQLAlchemy PostgreSQL URL
    whose ``options`` set the search path, as ``benchmarks.dbtarget.postgres_database`` gives).

    ``keyring``: the registry's keys, so the probes' blocking keys are those the registry would
    compute (candidates are found); without it a throwaway key is used and the look-ups find nobody.
    Raises ``FloorUnavailable`` when pgbench is missing or its run fails.
    """
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        raise FloorUnavailable(
            "pgbench not found (install postgresql-contrib or postgresql-client); no floor measured"
        )
    parsed = make_url(url)
    probes = _probes(keyring or _throwaway_keyring(), PROBES)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_floor_probe"))
            conn.execute(text(_PROBE_TABLE))
            columns = list(probes[0])
            conn.execute(
                text(
                    f"INSERT INTO bench_floor_probe ({', '.join(columns)}) "
                    f"VALUES ({', '.join(':' + c for c in columns)})"
                ),
                probes,
            )
            conn.execute(text("ANALYZE bench_floor_probe"))
        options = str(parsed.query.get("options", ""))
        env = {**os.environ, "PGOPTIONS": options}
        if parsed.password:
            env["PGPASSWORD"] = str(parsed.password)
        command = [
            pgbench,
            "--no-vacuum",
            "--protocol=prepared",
            f"--client={clients}",
            f"--jobs={max(1, min(clients, os.cpu_count() or 1))}",
            f"--time={seconds}",
            f"--file={SCRIPT}",
            f"--define=probes={len(probes)}",
            f"--define=append_key={lock_key(APPEND_LOCK)}",
            f"--host={parsed.host or '127.0.0.1'}",
            f"--port={parsed.port or 5432}",
            f"--username={parsed.username or 'postgres'}",
            parsed.database or "postgres",
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        out = done.stdout + done.stderr
        tps = re.search(r"^tps = ([\d.]+)", out, re.MULTILINE)
        failed = re.search(r"^number of failed transactions: (\d+)", out, re.MULTILINE)
        if done.returncode != 0 or tps is None or (failed and int(failed.group(1))):
            tail = "\n".join(out.strip().splitlines()[-8:])
            raise FloorUnavailable(f"pgbench failed (exit {done.returncode}):\n{tail}")
        return float(tps.group(1))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_floor_probe"))
        engine.dispose()


def main() -> None:
    from benchmarks.dbtarget import engine_for, postgres_database, supplied_settings
    from benchmarks.registry_data import load_registry
    from gateway.keyring import load_keyring

    sizes = [int(s) for s in os.environ.get("REG_BENCH_SIZES", "100000,1000000").split(",")]
    seconds = seconds_from_env()
    print(f"the database's floor for one registration: pgbench, {CLIENTS} clients, {seconds} s, prepared")
    for persons in sizes:
        with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
            if url is None:
                return
            settings = supplied_settings(Path(tmp), url, "floor-benchmark-secret-not-for-production-0000000")
            keyring = load_keyring(settings)
            engine = engine_for(url)
            took = load_registry(engine, keyring, persons, seed=1)
            engine.dispose()
            print(f"  {persons:,} persons loaded in {took:.0f} s")
            try:
                tps = measure_floor(url, seconds, keyring=keyring)
            except FloorUnavailable as exc:
                print(f"  {exc}")
                return
            print(f"  {persons:>9,} registered | floor {tps:,.0f} tx/s", flush=True)


if __name__ == "__main__":
    main()
