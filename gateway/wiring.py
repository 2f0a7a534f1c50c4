"""The composition root: what one gateway process builds at start-up, for the API, the worker and the
command-line tools alike, without FastAPI.

Nothing is wired at import time. ``install_logs`` installs the append-only logs (the audit chain and
the change feed) on the sessions of this process; ``build_context`` migrates when configured, opens
the engine, loads and checks the keys and builds the typed ``Services`` every workflow shares: the
registry's dependencies (keys, the trained matcher loaded once, the verifier), the background jobs,
the webhook target policy and the verification rate limiter. ``close_context`` releases them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import multiprocess
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from gateway import sealing
from gateway.audit import service as audit
from gateway.batches import service as batches
from gateway.context import AppContext
from gateway.db import build_engine, install_append_logs, upgrade_database
from gateway.feed import service as feed
from gateway.handoff.egress import TargetPolicy
from gateway.handoff.exports import ExportPolicy, resume_exports
from gateway.jobs import BackgroundJobs, Lane
from gateway.keyring import KeyRing, load_keyring
from gateway.matching import load_config, load_model
from gateway.registry.service import RegistryDeps
from gateway.registrykeys import check_registry_keys
from gateway.settings import Settings
from gateway.students.ratelimit import TokenBucketLimiter

if TYPE_CHECKING:
    from anyio import CapacityLimiter

    from gateway.adapters.orchestrator import VerificationOrchestrator


@dataclass
class Services:
    """What the workflows of one process share, built once at start-up."""

    registry: RegistryDeps
    jobs: BackgroundJobs
    webhooks: TargetPolicy
    verification_limiter: TokenBucketLimiter  # checks of a student's facts, per client
    verifier: VerificationOrchestrator | None = None
    # How many registrations may wait for the external systems at once; built on first use, inside
    # the event loop (an anyio limiter belongs to the loop that made it).
    verification_waits: CapacityLimiter | None = None


def install_logs() -> None:
    """Write the audit chain and the change feed at commit, on every session of this process.
    Idempotent; a process that writes either log must have called it (a note is refused otherwise)."""
    install_append_logs(audit.AUDIT_LOG, feed.FEED_LOG)
    if not event.contains(Session, "do_orm_execute", audit.write_before_reading):
        event.listen(Session, "do_orm_execute", audit.write_before_reading)


def build_verifier(settings: Settings, keyring: KeyRing) -> VerificationOrchestrator | None:
    """The orchestrator of the enabled adapters. On PostgreSQL their daily quotas and calls in flight
    are shared by every process of the deployment (``gateway.limits``, on a small pool of its own: one
    connection per call in flight); on SQLite, a single process, they are this process's own."""
    if not settings.verification_enabled:
        return None
    from gateway.adapters.orchestrator import build_orchestrator

    url = settings.resolved_database_url
    if make_url(url).get_backend_name() != "postgresql":
        return build_orchestrator(settings.adapters, hmac_key=keyring.hmac_key)
    from gateway.limits.service import SharedLimits

    adapters = settings.adapters
    slots = sum(
        slot.max_concurrency
        for slot in (
            adapters.public_security,
            adapters.exit_entry,
            adapters.household,
            adapters.social_security,
        )
    )
    limits = SharedLimits(build_engine(url, pool_size=slots + 2))
    return build_orchestrator(adapters, hmac_key=keyring.hmac_key, limits=limits)


def attach_services(ctx: AppContext, verifier: VerificationOrchestrator | None) -> AppContext:
    """Build what the workflows share: the trained matcher (loaded once) and the verifier."""
    settings = ctx.settings
    ctx.services = Services(
        registry=RegistryDeps(
            keyring=ctx.keyring,
            model=load_model(settings.matching_model_file, config=load_config(settings.matching_config_file)),
            verifier=verifier,
            verify_deadline=settings.registration_verify_deadline,
        ),
        jobs=BackgroundJobs(),
        webhooks=TargetPolicy(allow_loopback=settings.webhooks.allow_loopback),
        verification_limiter=TokenBucketLimiter(
            burst=settings.verification_rate_burst, rate_per_second=settings.verification_rate_per_second
        ),
        verifier=verifier,
    )
    return ctx


def build_context(settings: Settings) -> AppContext:
    install_logs()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keyring = load_keyring(settings)
    sealing.install_from(keyring)  # before migrating: a migration may seal or open stored codes
    if settings.migrate_on_start:
        upgrade_database(settings.resolved_database_url)
    engine = build_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    check_registry_keys(engine, keyring)  # one set of keys per registry, or no start
    ctx = AppContext(settings=settings, engine=engine, keyring=keyring)
    return attach_services(ctx, build_verifier(settings, keyring))


def resume_in_background(ctx: AppContext) -> None:
    """At start-up: carry on, on this process's background threads, with the batches and exports a
    stopped process left (``gateway worker`` does the same from outside)."""
    jobs, engine, registry = ctx.services.jobs, ctx.engine, ctx.services.registry
    batches.resume_in_background(jobs, engine, registry, ctx.settings)
    policy = ExportPolicy.from_settings(ctx.settings)
    jobs.submit(Lane.HANDOFF, "unfinished exports", lambda: resume_exports(engine, ctx.keyring, policy))


def close_context(ctx: AppContext) -> None:
    ctx.services.jobs.close()
    if ctx.services.verifier is not None:
        ctx.services.verifier.close()
    ctx.engine.dispose()
    if ctx.settings.prometheus_multiproc_dir is not None:
        # This process's live gauges leave with it; its counters stay in the machine's sums.
        multiprocess.mark_process_dead(os.getpid(), str(ctx.settings.prometheus_multiproc_dir))  # type: ignore[no-untyped-call]
