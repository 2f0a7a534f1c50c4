"""Background work of the handoff domain: intakes and exports run in threads of the process that
accepted them, and at start-up the exports a stopped process left are finished here."""

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
