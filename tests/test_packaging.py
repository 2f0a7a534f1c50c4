"""The installed package, not the checkout: what the container runs, proved without Docker.

The wheel is built from the files the Dockerfile copies (pyproject.toml, README.md, gateway/, mocks/),
installed with the runtime lock file alone into a fresh virtual environment outside the checkout,
and run from a working directory that is not the checkout: the mock government systems, `gateway
serve` with verification on (settings from GATEWAY_* variables only: a temporary data directory, a
SQLite database, the mocks' ports), a registration verified against the mocks through the API,
a batch imported by the command line and verified by `gateway worker --once`, whose promotions a
second start of the service shows. A contract the wheel does not carry, a runtime dependency missing
from requirements.lock or a file the service only finds in a checkout fails here.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import BaseModel

from gateway.settings import Settings
from mocks.exit_entry.app import PATH as EXIT_ENTRY_PATH
from mocks.public_security.app import PATH as PUBLIC_SECURITY_PATH
from mocks.settings import MocksSettings
from tests.fixtures.server import free_port

CHECKOUT = Path(__file__).resolve().parents[1]
# What the Dockerfile copies into its build stage; nothing else goes into the wheel.
SOURCES = ("pyproject.toml", "README.md", "gateway", "mocks")
# Never in the runtime lock file (the container installs it): the test, lint and type tools and what
# only they and the matching quality suite pull in.
DEVELOPMENT_ONLY = frozenset(
    {
        "pytest",
        "pytest-timeout",
        "hypothesis",
        "mypy",
        "ruff",
        "playwright",
        "schemathesis",
        "import-linter",
        "grimp",
        "recordlinkage",
        "pandas",
        "scikit-learn",
        "scipy",
    }
)
SEED = 20260901
POPULATION = 40
INSTALL_TIMEOUT = 900
# The runtime wheels `make` puts beside the venv: the test installs from them alone, offline.
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
OFFLINE = ["--no-index", "--find-links", str(WHEELHOUSE)]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 300)]


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[ ;]", requirement, maxsplit=1)[0]).lower()


def _pins(lock: Path) -> dict[str, str]:
    """Requirement name (normalised) -> its line, for every pinned line of a lock file."""
    lines = [line.strip() for line in lock.read_text("utf-8").splitlines()]
    return {_name(line): line for line in lines if line and not line.startswith(("#", "-"))}


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run a command to completion; its stdout, or a failure showing everything it printed."""
    done = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment holding the wheel and the runtime lock file, and a place to run it."""

    wheel: Path
    venv: Path
    workdir: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def gateway(self) -> Path:
        return self.venv / "bin" / "gateway"

    def env(self, **settings: str) -> dict[str, str]:
        """The machine's environment without any GATEWAY_ setting, virtual environment or Python path
        of the test run, the virtual environment first on PATH, and ``settings``."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("GATEWAY_") and key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        }
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **settings}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    assert not root.resolve().is_relative_to(CHECKOUT), "the installed package must live outside the checkout"
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        origin = CHECKOUT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    assert WHEELHOUSE.is_dir(), f"no wheelhouse at {WHEELHOUSE}: run `make test`, which builds it"
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dist = root / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *OFFLINE, "--wheel-dir", dist, source],
        cwd=root,
        env=pip_env,
    )
    (wheel,) = dist.glob("*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=root, env=pip_env)
    python = venv / "bin" / "python"
    lock = CHECKOUT / "requirements.lock"
    _run(
        [python, "-m", "pip", "install", "--quiet", *OFFLINE, "-r", lock],
        cwd=root,
        env=pip_env,
        timeout=INSTALL_TIMEOUT,
    )
    _run([python, "-m", "pip", "install", "--quiet", *OFFLINE, "--no-deps", wheel], cwd=root, env=pip_env)
    workdir = root / "run"
    workdir.mkdir()
    return Installed(wheel=wheel, venv=venv, workdir=workdir)


def test_the_runtime_lock_holds_no_development_tool() -> None:
    runtime = _pins(CHECKOUT / "requirements.lock")
    development = _pins(CHECKOUT / "requirements-dev.lock")
    assert not DEVELOPMENT_ONLY & set(runtime), "development tools in the runtime lock file"
    assert set(development) >= DEVELOPMENT_ONLY, "requirements-dev.lock misses a development tool"
    assert not set(runtime) & set(development), "a package pinned in both lock files"
    assert "-r requirements.lock" in (CHECKOUT / "requirements-dev.lock").read_text("utf-8").splitlines()
    assert all("==" in line for line in [*runtime.values(), *development.values()]), "an unpinned line"


def _interpolated(value: object) -> str:
    """A compose value as compose would pass it: ``${VAR:-default}`` its default, ``${VAR:?...}`` (a
    secret the operator must set) a placeholder long enough for any secret."""
    text = str(value)
    text = re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "x" * 48, text)
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)


def _names_a_setting(model: type[BaseModel], path: list[str]) -> bool:
    """Whether ``path`` (an environment name split at ``__``) leads to a field of ``model``."""
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    nested = field.annotation
    return isinstance(nested, type) and issubclass(nested, BaseModel) and _names_a_setting(nested, path[1:])


def test_the_compose_file_runs_the_production_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text("utf-8"))
    services = compose["services"]
    always = {name for name, service in services.items() if "profiles" not in service}
    assert always == {"nginx", "gateway-1", "gateway-2", "worker", "postgres"}
    gateways = {name for name, service in services.items() if service.get("command") == ["gateway", "serve"]}
    assert gateways == {"gateway-1", "gateway-2"}
    assert services["worker"]["command"] == ["gateway", "worker"]
    assert services["worker"]["healthcheck"] == {"disable": True}  # no HTTP in the worker
    assert services["mocks"]["profiles"] == ["dev"]
    assert services["mocks"]["command"] == ["gateway", "mocks", "serve"]

    # nginx sends to exactly the gateway services, and is the one proxy the gateways believe.
    nginx = services["nginx"]
    assert "./deploy/nginx/gateway.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    conf = (CHECKOUT / "deploy" / "nginx" / "gateway.conf").read_text("utf-8")
    assert set(re.findall(r"^\s*server\s+([\w.-]+):8000\b", conf, re.MULTILINE)) == gateways
    assert set(nginx["depends_on"]) == gateways
    proxy = _interpolated(nginx["networks"]["backend"]["ipv4_address"])

    for name in [*sorted(gateways), "worker"]:
        service = services[name]
        assert service["image"] == services["mocks"]["image"], "one image for every role"
        environment = {key: _interpolated(value) for key, value in service["environment"].items()}
        for key in environment:
            assert key.startswith("GATEWAY_"), key
            path = key.removeprefix("GATEWAY_").lower().split("__")
            assert _names_a_setting(Settings, path), f"{name}: {key} is no setting"
        assert environment["GATEWAY_TRUSTED_PROXIES"] == proxy
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert not settings.is_sqlite and not settings.is_development
        assert settings.secret_key is not None and settings.token_keys_dir and settings.statement_keys_dir
        assert settings.adapters.household.base_url.startswith("http://mocks:")
    for key, value in services["mocks"]["environment"].items():
        assert _names_a_setting(MocksSettings, [key.removeprefix("GATEWAY_MOCKS_").lower()]), key
        monkeypatch.setenv(key, _interpolated(value))
    MocksSettings()


def test_the_image_installs_the_runtime_lock_only() -> None:
    instructions = [
        line
        for line in (CHECKOUT / "Dockerfile").read_text("utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    text = "\n".join(instructions)
    assert "-r requirements.lock" in text and "requirements-dev.lock" not in text
    copied = {
        source
        for line in instructions
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    }
    assert copied == {"requirements.lock", *SOURCES}
    ignored = {
        line.strip()
        for line in (CHECKOUT / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env", "tests", "benchmarks", "requirements-dev.lock"} <= ignored
    assert not copied & ignored, "the Dockerfile copies what .dockerignore leaves out"
    assert instructions[-1] == 'CMD ["gateway", "serve"]'


def test_the_wheel_carries_the_contracts(installed: Installed) -> None:
    contracts = CHECKOUT / "gateway" / "contracts"
    shipped = {path.relative_to(CHECKOUT).as_posix() for path in contracts.rglob("*") if path.is_file()}
    assert shipped, "no contracts under gateway/contracts"
    with zipfile.ZipFile(installed.wheel) as wheel:
        assert shipped <= set(wheel.namelist())


def test_the_runtime_lock_satisfies_the_installed_package(installed: Installed) -> None:
    env = installed.env()
    _run([installed.python, "-m", "pip", "check"], cwd=installed.workdir, env=env)
    frozen = _run([installed.python, "-m", "pip", "freeze"], cwd=installed.workdir, env=env)
    present = {_name(line) for line in frozen.splitlines() if "==" in line or " @ " in line}
    assert present - {"student-identity-gateway"} <= set(_pins(CHECKOUT / "requirements.lock"))
    assert not DEVELOPMENT_ONLY & present
    # From another directory the package is the installed one, not the checkout.
    where = _run(
        [installed.python, "-c", "import gateway, mocks; print(gateway.__file__); print(mocks.__file__)"],
        cwd=installed.workdir,
        env=env,
    )
    for line in where.splitlines():
        assert Path(line).resolve().is_relative_to(installed.venv.resolve()), line


def _wait_for_ports(
    process: subprocess.Popen[bytes], ports: list[int], log: Path, seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    waiting = list(ports)
    while waiting:
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text('utf-8', 'replace')}"
        assert time.monotonic() < deadline, f"ports {waiting} not open:\n{log.read_text('utf-8', 'replace')}"
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", waiting[0])) == 0:
                waiting.pop(0)
                continue
        time.sleep(0.2)


def _wait_for_health(process: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text('utf-8', 'replace')}"
        assert time.monotonic() < deadline, (
            f"{url}/healthz never answered:\n{log.read_text('utf-8', 'replace')}"
        )
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> int:
    """Interrupt as Ctrl-C (or a container stop) would; kill only if it does not end."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


@contextmanager
def _started(
    args: list[str | Path], *, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([str(arg) for arg in args], cwd=cwd, env=env, stdout=out, stderr=out)
        try:
            yield process
        finally:
            _stop(process)


def test_the_installed_service_starts_verifies_and_its_worker_works(installed: Installed) -> None:
    work = installed.workdir
    ports = {name: free_port() for name in ("public_security", "exit_entry", "household", "social_security")}
    mocks_env = installed.env(
        GATEWAY_MOCKS_HOST="127.0.0.1",
        GATEWAY_MOCKS_POPULATION_SIZE=str(POPULATION),
        GATEWAY_MOCKS_POPULATION_SEED=str(SEED),
        GATEWAY_MOCKS_ADMIN_TOKEN="packaging-test-admin-token",
        **{f"GATEWAY_MOCKS_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    )
    gateway_port = free_port()
    url = f"http://127.0.0.1:{gateway_port}"
    data = work / "data"
    env = installed.env(
        GATEWAY_DATA_DIR=str(data),
        GATEWAY_DATABASE_URL=f"sqlite:///{(data / 'gateway.db').as_posix()}",
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(gateway_port),
        GATEWAY_START_MOCKS="false",
        GATEWAY_VERIFICATION_ENABLED="true",
        GATEWAY_REGISTRATION_VERIFY_DEADLINE="20",
        GATEWAY_LOG_JSON="true",
        GATEWAY_ADAPTERS__PUBLIC_SECURITY__BASE_URL=f"http://127.0.0.1:{ports['public_security']}"
        + PUBLIC_SECURITY_PATH,
        GATEWAY_ADAPTERS__EXIT_ENTRY__BASE_URL=f"http://127.0.0.1:{ports['exit_entry']}" + EXIT_ENTRY_PATH,
        GATEWAY_ADAPTERS__HOUSEHOLD__BASE_URL=f"http://127.0.0.1:{ports['household']}",
        GATEWAY_ADAPTERS__SOCIAL_SECURITY__BASE_URL=f"http://127.0.0.1:{ports['social_security']}",
    )

    # People the mocks know: the same generator, seed and size as their synthetic population.
    people = work / "people.csv"
    generate = ["generate-records", "--persons", str(POPULATION), "--seed", str(SEED), "--for-registration"]
    _run([installed.gateway, *generate, "--out", people], cwd=work, env=env)
    with people.open(encoding="utf-8", newline="") as handle:
        residents = [row for row in csv.DictReader(handle) if row["id_type"] == "resident_id"]
    first, batch = residents[0], residents[1:3]
    batch_file = work / "batch.csv"
    with batch_file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(batch[0]))
        writer.writeheader()
        writer.writerows(batch)

    with _started(
        [installed.gateway, "mocks", "serve"], cwd=work, env=mocks_env, log=work / "mocks.log"
    ) as mocks:
        _wait_for_ports(mocks, list(ports.values()), work / "mocks.log")

        with _started([installed.gateway, "serve"], cwd=work, env=env, log=work / "serve.log") as serve:
            _wait_for_health(serve, url, work / "serve.log")
            create = ["clients", "create", "--name", "packaging check", "--role", "central"]
            created = _run(
                [installed.gateway, *create, "--jurisdiction", "CN", "--scopes", "all"], cwd=work, env=env
            )
            client = json.loads(created.strip().splitlines()[-1])
            token = httpx.post(
                f"{url}/v1/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client["client_id"],
                    "client_secret": client["client_secret"],
                },
                timeout=30,
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

            # Verified while the caller waits: the service's verifier, built from the installed
            # package's contracts, asked the mocks.
            body = {key: value for key, value in first.items() if value and key != "record_id"}
            registered = httpx.post(
                f"{url}/v1/registrations",
                json=body,
                headers={**headers, "Idempotency-Key": "packaging-1"},
                timeout=60,
            )
            assert registered.status_code == 201, registered.text
            answer = registered.json()
            assert answer["verification"] == "verified", answer
            assert answer["code"] == "G" + first["id_number"]

            # A batch through the command line: L codes now, verification left to the worker.
            results = work / "batch.results.csv"
            _run(
                [installed.gateway, "import", batch_file, "--client-id", client["client_id"]],
                cwd=work,
                env=env,
            )
            with results.open(encoding="utf-8", newline="") as handle:
                issued = [row["code"] for row in csv.DictReader(handle)]
            assert len(issued) == len(batch) and all(code.startswith("L") for code in issued), issued
        assert serve.returncode is not None

        worked = subprocess.run(
            [str(installed.gateway), "worker", "--once"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert worked.returncode == 0, f"{worked.stdout}\n{worked.stderr}"
        assert f"{len(batch)} verification jobs worked" in worked.stderr, worked.stderr

        # The worker's verifier promoted the batch's codes.
        with _started([installed.gateway, "serve"], cwd=work, env=env, log=work / "serve-again.log") as serve:
            _wait_for_health(serve, url, work / "serve-again.log")
            for code in issued:
                resolved = httpx.get(f"{url}/v1/codes/{code}", headers=headers, timeout=30)
                assert resolved.status_code == 200, resolved.text
                assert resolved.json()["current_type"] == "G", resolved.json()
