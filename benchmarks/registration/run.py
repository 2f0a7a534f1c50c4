"""Registrations per second and latency over HTTP with 100,000 and 1,000,000 persons registered (PostgreSQL).

Three processes, as in production: the gateway (`gateway serve`), the mock government systems
(`gateway mocks serve`, zero latency, answering for the people being registered) and this load
generator (16 client threads). 80% of requests register a new person (verified and promoted to G
within the request), 20% send a person again under a new key (answered `existing`).
Sizes: REG_BENCH_SIZES (default "100000,1000000"); requests per size: REG_BENCH_REQUESTS (default 4000);
gateway processes: REG_BENCH_WORKERS (default 1); REG_BENCH_VERIFY=false turns verification off.
"""

from __future__ import annotations

import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks import cpu
from benchmarks.dbtarget import postgres_database, supplied_settings
from benchmarks.registry_data import load_registry
from gateway.auth import service as auth_service
from gateway.db import build_engine, session_scope
from gateway.identity import RECORD_FIELDS
from gateway.keyring import load_keyring
from gateway.matching import generate_population
from tests.fixtures.server import free_port

THREADS = 16
SECRET = "benchmark-secret-key-not-for-production-0123456789"


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not come up")


def _bodies(n: int, seed: int) -> list[dict[str, str]]:
    out = []
    for p in generate_population(n, seed):
        body = {k: v for k, v in p.to_dict().items() if v is not None and k != "record_id"}
        body["school_region"] = p.household_region or "110101"
        body["school_code"] = body["school_region"] + "0001"
        out.append(body)
    return out


def _cpu(server: int, mocks: int) -> dict[str, float]:
    """CPU seconds so far: the gateway, the mocks, this process, the rest of the machine (PostgreSQL)."""
    parties = {
        "gateway": cpu.tree_seconds([server]),
        "mocks": cpu.tree_seconds([mocks]),
        "load generator": cpu.own_seconds(),
    }
    parties["postgres and the rest"] = cpu.machine_busy_seconds() - sum(parties.values())
    return parties


def run_size(persons: int, requests: int) -> None:
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return
        settings = supplied_settings(Path(tmp), url, SECRET, migrate_on_start=False)
        tokens, statements = settings.token_keys_dir, settings.statement_keys_dir
        keyring = load_keyring(settings)
        engine = build_engine(url)
        took = load_registry(engine, keyring, persons, seed=1)
        print(f"  {persons:,} persons loaded in {took:.0f} s")
        new_people = _bodies(requests, seed=persons + 7)
        population_file = Path(tmp) / "registrants.csv"
        with population_file.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(
                fh,
                fieldnames=list(RECORD_FIELDS),
            )
            writer.writeheader()
            for i, body in enumerate(new_people):
                writer.writerow(
                    {"record_id": f"R{i}", **{k: v for k, v in body.items() if k in writer.fieldnames}}
                )
        with session_scope(engine) as s:
            client = auth_service.create_client(
                s, name="bench", role="central", jurisdiction="CN", scopes="all"
            )
            client_id, secret = client.client.id, client.secret
        ports = [free_port() for _ in range(5)]
        env = {
            **os.environ,
            "GATEWAY_DATA_DIR": tmp,
            "GATEWAY_DATABASE_URL": url,
            "GATEWAY_SECRET_KEY": SECRET,
            "GATEWAY_TOKEN_KEYS_DIR": str(tokens),
            "GATEWAY_STATEMENT_KEYS_DIR": str(statements),
            "GATEWAY_PORT": str(ports[0]),
            "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_VERIFICATION_ENABLED": os.environ.get("REG_BENCH_VERIFY", "true"),
            "GATEWAY_WORKERS": os.environ.get("REG_BENCH_WORKERS", "1"),
            "GATEWAY_MOCKS_POPULATION": str(population_file),
            "GATEWAY_MOCKS_PUBLIC_SECURITY_PORT": str(ports[1]),
            "GATEWAY_MOCKS_EXIT_ENTRY_PORT": str(ports[2]),
            "GATEWAY_MOCKS_HOUSEHOLD_PORT": str(ports[3]),
            "GATEWAY_MOCKS_SOCIAL_SECURITY_PORT": str(ports[4]),
            "GATEWAY_ADAPTERS__PUBLIC_SECURITY__BASE_URL": f"http://127.0.0.1:{ports[1]}/nciic/services/NciicServices",
            "GATEWAY_ADAPTERS__EXIT_ENTRY__BASE_URL": f"http://127.0.0.1:{ports[2]}/exit-entry/verification",
            "GATEWAY_ADAPTERS__HOUSEHOLD__BASE_URL": f"http://127.0.0.1:{ports[3]}",
            "GATEWAY_ADAPTERS__SOCIAL_SECURITY__BASE_URL": f"http://127.0.0.1:{ports[4]}",
        }
        gateway_bin = str(Path(sys.executable).parent / "gateway")
        mocks = subprocess.Popen([gateway_bin, "mocks", "serve"], env=env, stdout=subprocess.DEVNULL)
        server = subprocess.Popen([gateway_bin, "serve", "--no-mocks"], env=env, stdout=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{ports[0]}"
            _wait(f"{base}/healthz", server)
            _wait(f"http://127.0.0.1:{ports[4]}/docs", mocks)
            token = httpx.post(
                f"{base}/v1/token",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            ).json()["access_token"]
            rng = random.Random(3)
            plan = [(f"n{i}", body) for i, body in enumerate(new_people[: int(requests * 0.8)])]
            plan += [(f"r{i}", rng.choice(new_people[: len(plan)])) for i in range(requests - len(plan))]
            rng.shuffle(plan)
            latencies: list[float] = []
            outcomes: dict[str, int] = {}
            lock = threading.Lock()

            def worker(slice_: list[tuple[str, dict[str, str]]]) -> None:
                with httpx.Client(
                    base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}
                ) as http:
                    for key, body in slice_:
                        t = time.perf_counter()
                        reply = http.post("/v1/registrations", json=body, headers={"Idempotency-Key": key})
                        elapsed = time.perf_counter() - t
                        outcome = reply.json().get("outcome", str(reply.status_code))
                        verification = reply.json().get("verification", "")
                        with lock:
                            latencies.append(elapsed)
                            label = f"{outcome}/{verification}" if verification else outcome
                            outcomes[label] = outcomes.get(label, 0) + 1

            threads = [threading.Thread(target=worker, args=(plan[i::THREADS],)) for i in range(THREADS)]
            before = _cpu(server.pid, mocks.pid)
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
            used = {k: v - before[k] for k, v in _cpu(server.pid, mocks.pid).items()}
            q = statistics.quantiles(latencies, n=100)
            print(
                f"  {persons:>9,} registered | {len(latencies)} requests, {THREADS} clients | "
                f"{len(latencies) / wall:6.1f} registrations/s | p50 {q[49] * 1000:6.1f} ms  "
                f"p95 {q[94] * 1000:6.1f} ms  p99 {q[98] * 1000:6.1f} ms | {outcomes}",
                flush=True,
            )
            if cpu.available():
                per = {k: v * 1000 / len(latencies) for k, v in used.items()}
                total = sum(per.values())
                print(
                    "  CPU per registration: "
                    + ", ".join(f"{k} {v:.1f} ms" for k, v in per.items())
                    + f"; total {total:.1f} ms -> at most {os.cpu_count() or 1} cores x 1000 / {total:.1f}"
                    f" = {(os.cpu_count() or 1) * 1000 / total:.0f} registrations/s on this machine",
                    flush=True,
                )
        finally:
            server.terminate()
            mocks.terminate()
            server.wait(30)
            mocks.wait(30)
            engine.dispose()


def main() -> None:
    sizes = [int(s) for s in os.environ.get("REG_BENCH_SIZES", "100000,1000000").split(",")]
    requests = int(os.environ.get("REG_BENCH_REQUESTS", "4000"))
    workers = os.environ.get("REG_BENCH_WORKERS", "1")
    print(
        f"registrations over HTTP on PostgreSQL, zero-latency mocks, {THREADS} clients, {workers} process(es)"
    )
    for size in sizes:
        run_size(size, requests)


if __name__ == "__main__":
    main()
