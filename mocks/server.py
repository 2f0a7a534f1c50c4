"""Runs the four mock government systems on loopback ports, in threads of the calling process.

`start_mocks` binds the sockets itself (port 0 picks a free one, which is what the tests use), starts a
uvicorn server per mock in a daemon thread and returns their base URLs and fault injectors;
`serve` is the command-line entry point (wired as `gateway mocks serve`) that runs them until stopped.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from mocks.exit_entry.app import PATH as EXIT_ENTRY_PATH
from mocks.exit_entry.app import create_app as create_exit_entry
from mocks.faults import FaultInjector, FaultPlan
from mocks.household.app import create_app as create_household
from mocks.population import Population
from mocks.public_security.app import PATH as PUBLIC_SECURITY_PATH
from mocks.public_security.app import create_app as create_public_security
from mocks.settings import MocksSettings
from mocks.social_security.app import create_app as create_social_security
from mocks.wire import absorb_dropped_connections

AppFactory = Callable[..., FastAPI]

# name -> (factory, path of the service endpoint under the base URL)
MOCKS: dict[str, tuple[AppFactory, str]] = {
    "public_security": (create_public_security, PUBLIC_SECURITY_PATH),
    "exit_entry": (create_exit_entry, EXIT_ENTRY_PATH),
    "household": (create_household, ""),
    "social_security": (create_social_security, ""),
}


@dataclass
class RunningMocks:
    """Handles on the running mocks: base URLs, service endpoints and fault injectors, by mock name."""

    base_urls: dict[str, str]
    endpoints: dict[str, str]
    injectors: dict[str, FaultInjector]
    population_size: int = 0
    admin_token: str = ""
    _servers: list[uvicorn.Server] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def stop(self) -> None:
        """Ask every server to exit and wait for the threads."""
        for server in self._servers:
            server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=10)


def start_mocks(
    population: Population,
    *,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    faults: Mapping[str, FaultPlan] | None = None,
    licences: frozenset[str] = frozenset({"demo-licence"}),
    admin_token: str | None = None,
) -> RunningMocks:
    """Start all four mocks; a port of 0 (the default) takes a free one. The `/_admin` endpoints
    need ``admin_token`` (unset: a random one, in ``RunningMocks.admin_token``)."""
    token = admin_token or secrets.token_urlsafe(24)
    running = RunningMocks(
        base_urls={}, endpoints={}, injectors={}, population_size=len(population), admin_token=token
    )
    for name, (factory, path) in MOCKS.items():
        injector = FaultInjector((faults or {}).get(name))
        app = factory(population, injector, licences=licences, admin_token=token)
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
        # listening socket says so, and without it every reply waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, (ports or {}).get(name, 0)))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            absorb_dropped_connections(app),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"mock-{name}", daemon=True
        )
        thread.start()
        running.base_urls[name] = f"http://{host}:{port}"
        running.endpoints[name] = f"http://{host}:{port}{path}"
        running.injectors[name] = injector
        running._servers.append(server)
        running._threads.append(thread)
    deadline = time.monotonic() + 10
    while not all(server.started for server in running._servers):
        if time.monotonic() > deadline:
            running.stop()
            raise RuntimeError("mock servers did not start within 10 s")
        time.sleep(0.01)
    return running


def start_from_settings(settings: MocksSettings, *, population_size: int | None = None) -> RunningMocks:
    """Start the mocks as the settings say: population file or synthetic population, ports, faults."""
    if settings.population is not None:
        population = Population.from_csv(settings.population)
    else:
        population = Population.synthetic(
            population_size or settings.population_size, settings.population_seed
        )
    return start_mocks(
        population,
        host=settings.host,
        ports={
            "public_security": settings.public_security_port,
            "exit_entry": settings.exit_entry_port,
            "household": settings.household_port,
            "social_security": settings.social_security_port,
        },
        faults={
            "public_security": settings.public_security_faults,
            "exit_entry": settings.exit_entry_faults,
            "household": settings.household_faults,
            "social_security": settings.social_security_faults,
        },
        licences=frozenset(settings.licences),
        admin_token=settings.admin_token.get_secret_value() if settings.admin_token else None,
    )


def serve(
    population_size: Annotated[int | None, typer.Option(help="Size of the synthetic population.")] = None,
) -> None:
    """Start the mock government systems on their loopback ports and run until interrupted."""
    running = start_from_settings(MocksSettings(), population_size=population_size)
    for name, url in running.endpoints.items():
        typer.echo(f"{name:16} {url}")
    typer.echo(f"{running.population_size} people in the registers; Ctrl-C to stop")
    typer.echo(f"admin endpoints (/_admin/...): Authorization: Bearer {running.admin_token}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        running.stop()


if __name__ == "__main__":
    typer.run(serve)
