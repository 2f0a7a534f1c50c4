"""/metrics for a deployment: the backlog of every background queue and the feed's version, read
from the database at the scrape, and (in prometheus-client's multiprocess mode) the request counters
of every gateway process of the machine summed in one scrape."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlmodel import Session

from gateway.clock import utcnow
from gateway.context import AppContext
from gateway.feed.models import ChangeEvent
from gateway.handoff import webhooks
from gateway.handoff.models import Export
from gateway.jobs import Lane
from gateway.observability import mark_dead_processes
from gateway.registry.models import VerificationJob
from tests.fixtures.api import ApiCaller, MakeCaller, register_caller
from tests.fixtures.batches import CHILDREN, to_csv
from tests.fixtures.handoff import BASIS, cohort, hand_over
from tests.fixtures.jobs import HeldJobs
from tests.fixtures.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def _backlog(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], queue: str, state: str) -> float:
    return samples[("gateway_backlog", (("queue", queue), ("state", state)))]


def _count(ctx: AppContext, statement: object) -> int:
    with Session(ctx.engine) as s:
        return int(s.execute(statement).scalar_one())  # type: ignore[call-overload]


def test_metrics_show_the_backlog_of_every_queue_and_the_feed_version(
    committed_api: TestClient, committed_context: AppContext
) -> None:
    api, ctx = committed_api, committed_context
    scraper = register_caller(api, ctx.engine, scopes="metrics:read")
    empty = _samples(api.get("/metrics", headers=scraper.headers).text)
    for queue, state in [
        ("verification_jobs", "queued"),
        ("batches", "unfinished"),
        ("exports", "queued"),
        ("exports", "running"),
        ("webhook_deliveries", "pending"),
    ]:
        assert _backlog(empty, queue, state) == 0
    assert empty[("gateway_feed_latest_version", ())] == 0

    # Work arrives: a subscriber and a handover (feed events, so notifications to send, and
    # verification jobs with no verifier to work them) ...
    preschool = register_caller(
        api, ctx.engine, "registry", "41", "handoff:write handoff:read feed:read", stage="preschool"
    )
    subscribed = api.post(
        "/v1/webhooks", json={"url": "https://registry.example/h"}, headers=preschool.headers
    )
    assert subscribed.status_code == 201, subscribed.text
    hand_over(api, preschool, cohort(3))
    pending = webhooks.enqueue(ctx.engine, ctx.keyring)
    # ... then nothing runs in the background any more: two exports and a batch wait, one export
    # is being written by a process that holds its lease.
    ctx.services.jobs.close()
    ctx.services.jobs = HeldJobs(Lane.HANDOFF, Lane.BATCHES)
    started = [api.post("/v1/handoff/exports", headers={**preschool.headers, **BASIS}) for _ in range(3)]
    assert all(reply.status_code == 202 for reply in started)
    with Session(ctx.engine) as s:
        running = s.get(Export, started[0].json()["id"])
        assert running is not None
        running.status, running.lease_until = "running", utcnow() + timedelta(minutes=5)
        s.add(running)
        s.commit()
    province = register_caller(api, ctx.engine, role="province", jurisdiction="41")
    batch = api.post(
        "/v1/batches",
        content=to_csv(CHILDREN[:2]).encode(),
        headers={**province.headers, "Content-Type": "text/csv"},
    )
    assert batch.status_code == 202, batch.text

    after = _samples(api.get("/metrics", headers=scraper.headers).text)
    queued_jobs = _count(ctx, select(func.count()).where(VerificationJob.status == "queued"))
    assert queued_jobs >= 3 and pending == 3
    assert _backlog(after, "verification_jobs", "queued") == queued_jobs
    assert _backlog(after, "batches", "unfinished") == 1
    assert _backlog(after, "exports", "queued") == 2
    assert _backlog(after, "exports", "running") == 1
    assert _backlog(after, "webhook_deliveries", "pending") == 3
    latest = _count(ctx, select(func.max(ChangeEvent.version)))
    assert after[("gateway_feed_latest_version", ())] == latest >= 3


def _count_in_another_process(directory: Path, route: str, times: int) -> None:
    """A separate Python process, as a gateway worker process is: the gateway's request counter
    incremented ``times`` times into the multiprocess directory."""
    script = textwrap.dedent(
        f"""
        from gateway.observability import Metrics
        metrics = Metrics()
        for _ in range({times}):
            metrics.requests.labels({route!r}, "GET", "200").inc()
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=120)


def test_one_scrape_sums_the_counters_of_every_process(
    app_context: AppContext, make_caller: MakeCaller, api: TestClient, tmp_path: Path
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    _count_in_another_process(directory, "/v1/elsewhere", 3)
    _count_in_another_process(directory, "/v1/elsewhere", 4)
    assert len(list(directory.glob("counter_*.db"))) == 2  # one file per process
    app_context.settings = app_context.settings.model_copy(update={"prometheus_multiproc_dir": directory})
    scraper = make_caller(scopes="metrics:read")
    samples = _samples(api.get("/metrics", headers=scraper.headers).text)
    labels = (("method", "GET"), ("route", "/v1/elsewhere"), ("status", "200"))
    assert samples[("gateway_http_requests_total", labels)] == 7
    assert ("gateway_backlog", (("queue", "exports"), ("state", "queued"))) in samples


def test_the_live_gauges_of_a_process_that_died_are_dropped(tmp_path: Path) -> None:
    alive = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    gone = tmp_path / f"gauge_livesum_{int(finished.stdout)}.db"
    counter = tmp_path / f"counter_{int(finished.stdout)}.db"
    for path in (alive, gone, counter):
        path.write_bytes(b"")
    assert mark_dead_processes(tmp_path) == [int(finished.stdout)]
    assert alive.exists() and counter.exists() and not gone.exists()


# --- two `gateway serve` processes on one machine ----------------------------------------------


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gateway serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("gateway serve did not start")


@pytest.fixture
def two_servers(fresh_db_url: str, supplied_keys: None, tmp_path: Path) -> Iterator[tuple[list[str], Path]]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    processes, bases = [], []
    try:
        for name in ("a", "b"):
            port = free_port()
            env = {
                **os.environ,
                "GATEWAY_DATABASE_URL": fresh_db_url,
                "GATEWAY_DATA_DIR": str(tmp_path / name),
                "GATEWAY_PORT": str(port),
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_MIGRATE_ON_START": "false",
                "GATEWAY_VERIFICATION_ENABLED": "false",
                "GATEWAY_LOG_LEVEL": "WARNING",
                "PROMETHEUS_MULTIPROC_DIR": str(directory),
            }
            command = [sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--no-mocks"]
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            _wait_ready(base, process)
        yield bases, directory
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


@pytest.mark.slow
def test_two_gateway_processes_are_counted_in_one_scrape(
    two_servers: tuple[list[str], Path], fresh_db_url: str
) -> None:
    (first, second), directory = two_servers
    from gateway.db import build_engine

    engine = build_engine(fresh_db_url, pool_size=1)
    try:
        with httpx.Client(base_url=first) as a, httpx.Client(base_url=second) as b:
            scraper: ApiCaller = register_caller(a, engine, scopes="metrics:read")
            for _ in range(3):
                assert a.get("/healthz").status_code == 200
            for _ in range(2):
                assert b.get("/healthz").status_code == 200
            for client in (a, b):  # either process's scrape sees both
                samples = _samples(client.get("/metrics", headers=scraper.headers).text)
                labels = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
                assert samples[("gateway_http_requests_total", labels)] == 5
    finally:
        engine.dispose()
    assert len(list(directory.glob("counter_*.db"))) >= 2
