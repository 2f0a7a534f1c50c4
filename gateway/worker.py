"""``gateway worker``: the process that works every queue the API processes leave behind.

Each pass verifies the queued registrations (promoting codes or opening wrong-ID problem records),
finishes the batches, intakes and exports a stopped process left, removes export files past their
retention, delivers webhooks, expires transfer applications past their deadline, and now and then
checkpoints the head of the audit chain. Any number of workers and API processes may run against
one database: every queue is leased row by row (``gateway.jobs``). The worker is built through
``gateway.wiring``, like the API, and does not import the web application.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
import typer
from rich.console import Console

from gateway.audit import checkpoints
from gateway.batches.service import resume_unfinished
from gateway.context import AppContext
from gateway.db import session_scope
from gateway.handoff.exports import ExportPolicy, expire_exports, resume_exports
from gateway.handoff.intakes import resume_intakes
from gateway.handoff.transfers import expire_overdue_transfers
from gateway.handoff.webhooks import dispatch_once
from gateway.logs import configure_logging
from gateway.registry.verification import work_queue_once
from gateway.settings import Settings
from gateway.wiring import build_context, close_context

logger = logging.getLogger(__name__)
console = Console(stderr=True)


@dataclass(frozen=True)
class Pass:
    """One queue worked once per pass; ``run`` returns how many verification jobs it worked."""

    name: str
    run: Callable[[], int]


def _ignoring_count(work: Callable[[], object]) -> Callable[[], int]:
    def run() -> int:
        work()
        return 0

    return run


class Checkpointer:
    """Checkpoints the audit chain's head at most once every ``every`` seconds."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._due = 0.0

    def __call__(self) -> int:
        if time.monotonic() >= self._due:
            with session_scope(self._ctx.engine) as session:
                checkpoints.checkpoint_now(
                    session, self._ctx.settings.resolved_checkpoint_dir, self._ctx.keyring
                )
            self._due = time.monotonic() + self._ctx.settings.audit_checkpoint_seconds
        return 0


def passes(ctx: AppContext, webhook_client: httpx.Client, batch: int) -> list[Pass]:
    """The queues, in the order a pass works them."""
    engine, keyring, settings = ctx.engine, ctx.keyring, ctx.settings
    deps, policy = ctx.services.registry, ExportPolicy.from_settings(settings)
    return [
        Pass("audit checkpoint", Checkpointer(ctx)),
        Pass("batches", _ignoring_count(lambda: resume_unfinished(engine, deps, settings=settings))),
        Pass("exports", _ignoring_count(lambda: resume_exports(engine, keyring, policy))),
        Pass("export retention", _ignoring_count(lambda: expire_exports(engine, policy))),
        Pass("transfer deadlines", _ignoring_count(lambda: expire_overdue_transfers(engine))),
        Pass("verification", lambda: work_queue_once(engine, deps, limit=batch)),
        Pass("webhooks", lambda: dispatch_once(engine, keyring, webhook_client, ctx.services.webhooks)),
    ]


def work(ctx: AppContext, *, once: bool, batch: int) -> int:
    """Work the queues, a pass at a time, until interrupted (or once); returns the jobs worked."""
    webhook_client = httpx.Client(timeout=10)
    done = 0
    try:
        resume_intakes(ctx.engine, ctx.services.registry)
        queues = passes(ctx, webhook_client, batch)
        while True:
            done = sum(queue.run() for queue in queues)
            if once:
                return done
            if done == 0:
                time.sleep(ctx.settings.worker_poll_seconds)
    except KeyboardInterrupt:
        return done
    finally:
        webhook_client.close()


def worker(
    once: Annotated[bool, typer.Option("--once", help="Work the due jobs once and exit.")] = False,
    batch: Annotated[
        int, typer.Option(help="Verification jobs leased per pass, verified in bulk (100 rows per call).")
    ] = 100,
) -> None:
    """Work the queues: verify (promote codes or open wrong-ID problem records), finish batches, intakes
    and exports a stopped process left, remove export files past their retention, deliver webhooks,
    expire transfer applications past their deadline, checkpoint the audit chain's head."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    ctx = build_context(settings)
    try:
        done = work(ctx, once=once, batch=batch)
    finally:
        close_context(ctx)
    if once:
        console.print(f"{done} verification jobs worked")
