"""The gateway (and, when asked, the mock government systems) as subprocesses, for benchmarks over HTTP.

As in production: ``gateway serve`` in its own process(es), configured by environment variables, on
loopback; the benchmark is the client. Shared by the registration and HTTP search benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import Engine

from benchmarks import cpu
from gateway.auth import service as auth_service
from gateway.db import session_scope
from gateway.settings import Settings
from tests.fixtures.server import free_port, mocks_at, wait_until_up

T = TypeVar("T")


def create_client(engine: Engine) -> tuple[str, str]:
    """A central API client with every scope: (client id, secret)."""
    with session_scope(engine) as s:
        client = auth_service.create_client(s, name="bench", role="central", jurisdiction="CN", scopes="all")
        return client.client.id, client.secret


def fetch_token(base: str, client_id: str, secret: str) -> str:
    reply = httpx.post(
        f"{base}/v1/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


def gateway_env(
    data_dir: Path,
    settings: Settings,
    secret: str,
    port: int,
    *,
    workers: str = "1",
    verification: str = "true",
    mock_ports: list[int] | None = None,
    population_file: Path | None = None,
) -> dict[str, str]:
    """The environment of ``gateway serve`` (and ``gateway mocks serve``): the database, the keys, the
    port, and, with ``mock_ports`` (public security, exit-entry, household, social security), the
    mocks' ports and the adapters pointed at them."""
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "GATEWAY_SECRET_KEY": secret,
        "GATEWAY_TOKEN_KEYS_DIR": str(settings.token_keys_dir),
        "GATEWAY_STATEMENT_KEYS_DIR": str(settings.statement_keys_dir),
        "GATEWAY_PORT": str(port),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_VERIFICATION_ENABLED": verification,
        "GATEWAY_WORKERS": workers,
    }
    if population_file is not None:
        env["GATEWAY_MOCKS_POPULATION"] = str(population_file)
    if mock_ports is not None:
        env |= mocks_at(mock_ports)
    return env


@dataclass(frozen=True)
class Running:
    base: str  # the gateway's base URL
    server: subprocess.Popen[bytes]
    mocks: subprocess.Popen[bytes] | None

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the gateway, the mocks (if started), this process, and the rest of the
        machine (PostgreSQL above all)."""
        parties = {"gateway": cpu.tree_seconds([self.server.pid])}
        if self.mocks is not None:
            parties["mocks"] = cpu.tree_seconds([self.mocks.pid])
        parties["load generator"] = cpu.own_seconds()
        parties["postgres and the rest"] = cpu.machine_busy_seconds() - sum(parties.values())
        return parties


@contextmanager
def running_gateway(
    data_dir: Path,
    settings: Settings,
    secret: str,
    *,
    workers: str = "1",
    verification: str = "true",
    with_mocks: bool = False,
    population_file: Path | None = None,
) -> Iterator[Running]:
    """``gateway serve --no-mocks`` (and ``gateway mocks serve`` in a process of its own when
    ``with_mocks``), up and answering; stopped on leaving."""
    port = free_port()
    mock_ports = [free_port() for _ in range(4)] if with_mocks else None
    env = gateway_env(
        data_dir,
        settings,
        secret,
        port,
        workers=workers,
        verification=verification,
        mock_ports=mock_ports,
        population_file=population_file,
    )
    gateway_bin = str(Path(sys.executable).parent / "gateway")
    mocks = (
        subprocess.Popen([gateway_bin, "mocks", "serve"], env=env, stdout=subprocess.DEVNULL)
        if with_mocks
        else None
    )
    server = subprocess.Popen([gateway_bin, "serve", "--no-mocks"], env=env, stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/healthz", server)
        if mocks is not None and mock_ports is not None:
            wait_until_up(f"http://127.0.0.1:{mock_ports[3]}/docs", mocks)
        yield Running(base, server, mocks)
    finally:
        for process in (server, mocks):
            if process is not None:
                process.terminate()
        for process in (server, mocks):
            if process is not None:
                process.wait(30)


def run_clients(
    gateway: Running, work: Callable[[list[T]], None], items: list[T], clients: int
) -> tuple[float, dict[str, float]]:
    """``work`` on ``clients`` threads, each given every ``clients``-th item: the wall-clock seconds
    and each party's CPU seconds used meanwhile."""
    before = gateway.cpu()
    wall = in_threads(work, items, clients)
    return wall, {k: v - before[k] for k, v in gateway.cpu().items()}


def in_threads(work: Callable[[list[T]], None], items: list[T], clients: int) -> float:
    """``work`` on ``clients`` threads, each given every ``clients``-th item: the wall-clock seconds."""
    threads = [threading.Thread(target=work, args=(items[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def print_cpu_per(noun: str, plural: str, used: dict[str, float], count: int) -> None:
    """Each party's CPU milliseconds per request, and the rate the machine's cores could give at best."""
    if not cpu.available() or not count:
        return
    per = {k: v * 1000 / count for k, v in used.items()}
    total = sum(per.values())
    cores = os.cpu_count() or 1
    print(
        f"  CPU per {noun}: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in per.items())
        + f"; total {total:.1f} ms -> at most {cores} cores x 1000 / {total:.1f}"
        f" = {cores * 1000 / total:.0f} {plural}/s on this machine",
        flush=True,
    )
