"""What a failed sign-in costs: known id with a wrong secret, unknown id, and a locked id (429).

The first two should cost the same (one scrypt each, so timing does not tell whether an id exists);
the third runs no scrypt at all. Median milliseconds of ``check_credentials`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.dbtarget import engine_for, postgres_database, sqlite_database
from gateway.auth import service
from gateway.db import session_scope
from gateway.errors import GatewayError
from gateway.settings import Settings

N = 20


def _attempt(engine: object, settings: Settings, client_id: str, address: str) -> tuple[float, int]:
    """Milliseconds of one refused attempt, and the scrypt derivations it ran."""
    before = service.SCRYPT_WORK.derivations
    started = time.perf_counter()
    with session_scope(engine) as session:  # type: ignore[arg-type]
        try:
            service.check_credentials(
                session,
                settings,
                client_id=client_id,
                client_secret="wrong",  # noqa: S106 - a wrong secret on purpose
                address=address,
            )
        except GatewayError:
            pass
    return (time.perf_counter() - started) * 1000, service.SCRYPT_WORK.derivations - before


def _figures(url: str, settings: Settings, unlimited: Settings) -> dict[str, tuple[float, int]]:
    engine = engine_for(url)
    with session_scope(engine) as session:
        known = service.create_client(
            session, name="bench", role="province", jurisdiction="41", scopes="all"
        ).client.id
    paths = {
        "known id, wrong secret": (known, "198.51.100.1"),
        "unknown id": ("cl_nobody", "198.51.100.2"),
    }
    # Interleaved, so that whatever else the machine is doing weighs on both paths alike.
    runs: dict[str, list[tuple[float, int]]] = {label: [] for label in paths}
    for _ in range(N):
        for label, (client_id, address) in paths.items():
            runs[label].append(_attempt(engine, unlimited, client_id, address))
    result = {
        label: (statistics.median(r[0] for r in rs), max(r[1] for r in rs)) for label, rs in runs.items()
    }
    # "cl_locked" reaches its limit, then every attempt is refused before any scrypt.
    for _ in range(settings.signin_client_failures):
        _attempt(engine, settings, "cl_locked", "198.51.100.3")
    locked = [_attempt(engine, settings, "cl_locked", "198.51.100.3") for _ in range(N)]
    result["locked id (429)"] = (statistics.median(r[0] for r in locked), max(r[1] for r in locked))
    engine.dispose()
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # The first two paths never lock; the third locks at the default limit.
        settings = Settings(data_dir=Path(tmp))
        unlimited = Settings(
            data_dir=Path(tmp), signin_client_failures=10_000, signin_address_failures=10_000
        )
        print(f"{'store':<11} {'path':<24} {'median ms':>10} {'scrypt runs':>12}   ({N} attempts each)")
        for store, target in (("SQLite", sqlite_database), ("PostgreSQL", postgres_database)):
            with target() as url:
                if url is None:
                    continue
                for label, (ms, runs) in _figures(url, settings, unlimited).items():
                    print(f"{store:<11} {label:<24} {ms:>10.1f} {runs:>12}", flush=True)


if __name__ == "__main__":
    main()
