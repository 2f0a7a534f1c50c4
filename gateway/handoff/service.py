"""The rules of handoffs between stages: preschool intake, claims, scoped handoff records, bulk
exports and the per-caller change feed.

Who sees whom: a registry or school sees the handoff record of exactly the persons it admitted (an
``Admission`` row written by its intake or its claim), followed through merges; nobody else's, and
a student it has not admitted is "not found" exactly like a code never issued. A claim admits a
student held anywhere only with their code and a matching identity; by identity alone it finds only
students the caller's own jurisdiction holds, and a refused claim answers like a child who does not
exist. Every disclosure carries a purpose and an approval reference and is audited once per disclosed
student. Without ``handoff:identity`` the ID number is masked and so is a ``G`` code (which is the ID
number); the per-registry ``subject_id`` is then the stable key (docs/adr/004-handoff-disclosure.md).
Functions work inside the caller's unit of work unless they take an engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine

from gateway.errors import GatewayError
from gateway.handoff.exports import ExportPolicy, resume_exports
from gateway.keyring import KeyRing
from gateway.settings import Settings

logger = logging.getLogger(__name__)


# --- presentation -----------------------------------------------------------------------------


# --- reading handoff records ------------------------------------------------------------------


# --- claims -----------------------------------------------------------------------------------


# --- preschool intake -------------------------------------------------------------------------


# --- bulk export ------------------------------------------------------------------------------


# --- change feed ------------------------------------------------------------------------------


# --- background work --------------------------------------------------------------------------


class HandoffWorker:
    """Runs intakes and exports in background threads of one process (``ctx.services["handoff"]``)."""

    def __init__(self, workers: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="handoff")

    def submit(self, job: Callable[[], object]) -> Future[object]:
        def run() -> object:
            try:
                return job()
            except GatewayError:
                logger.exception("handoff job refused")
                raise
            except Exception:
                logger.exception("handoff job failed")
                raise

        return self._executor.submit(run)

    def submit_unfinished_exports(self, engine: Engine, keyring: KeyRing, settings: Settings) -> None:
        """At start-up: finish, in the background, the exports a stopped process left."""
        policy = ExportPolicy.from_settings(settings)
        self.submit(lambda: resume_exports(engine, keyring, policy))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
