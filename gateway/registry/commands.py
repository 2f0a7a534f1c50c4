"""Command-line entry points of the registry: the worker (verification jobs, batches, intakes, webhooks,
transfer deadlines)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def worker(
    once: Annotated[bool, typer.Option("--once", help="Work the due jobs once and exit.")] = False,
    batch: Annotated[int, typer.Option(help="Jobs leased per pass.")] = 20,
) -> None:
    """Work the queues: verify (promote codes or open wrong-ID problem records), finish batches, intakes
    and exports a stopped process left, remove export files past their retention, deliver webhooks,
    expire transfer applications past their deadline, checkpoint the audit chain's head."""
    import httpx

    from gateway.app import build_context, close_context
    from gateway.audit import checkpoints
    from gateway.batches.service import resume_unfinished
    from gateway.db import session_scope
    from gateway.handoff.exports import ExportPolicy, expire_exports, resume_exports
    from gateway.handoff.intakes import resume_intakes
    from gateway.handoff.transfers import expire_overdue_transfers
    from gateway.handoff.webhooks import dispatch_once
    from gateway.observability import configure_logging
    from gateway.registry.verification import work_queue_once
    from gateway.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    ctx = build_context(settings)
    deps = ctx.services["registry"]
    webhook_client = httpx.Client(timeout=10)
    next_checkpoint = 0.0
    try:
        resume_intakes(ctx.engine, deps)
        policy = ExportPolicy.from_settings(settings)
        while True:
            if time.monotonic() >= next_checkpoint:
                with session_scope(ctx.engine) as session:
                    checkpoints.checkpoint_now(session, settings.resolved_checkpoint_dir, ctx.keyring)
                next_checkpoint = time.monotonic() + settings.audit_checkpoint_seconds
            resume_unfinished(ctx.engine, deps, settings=settings)
            resume_exports(ctx.engine, ctx.keyring, policy)
            expire_exports(ctx.engine, policy)
            expire_overdue_transfers(ctx.engine)
            done = work_queue_once(ctx.engine, deps, limit=batch)
            done += dispatch_once(ctx.engine, ctx.keyring, webhook_client, ctx.services["webhooks"])
            if once:
                console.print(f"{done} verification jobs worked")
                return
            if done == 0:
                time.sleep(settings.worker_poll_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        webhook_client.close()
        close_context(ctx)
