"""Background work, in one place: the leases that let any number of processes share the same
queues, and the thread pool that runs this process's share of them.

Every queue the gateway works (batches, preschool intakes, exports, verification jobs) is a table
whose rows carry a lease (``lease_owner``, ``lease_until``). A runner takes a row only when its lease
is free, renews it while it works, and releases it when done; a process that dies loses the lease,
never the work, and the next runner (another process, or ``gateway worker``) carries on. The rows
and their SQL belong to each domain's repository; what a lease is, and who holds one, is here.

``BackgroundJobs`` runs the work an API process starts itself (a batch just submitted, an export just
asked for, what a stopped process left unfinished) on threads of its own, one lane per kind of work,
so that a long batch never holds up an export. It logs what fails, and on close stops the running
jobs after the step in hand (``should_stop``); unstarted ones stay queued for the next start.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from gateway.clock import as_utc
from gateway.errors import GatewayError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Lane(StrEnum):
    """The kinds of background work an API process runs, each on threads of its own."""

    BATCHES = "batches"
    HANDOFF = "handoff"  # preschool intakes and exports


def new_lease_owner() -> str:
    """Who holds a lease: the machine, the process and this run, readable in the table."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def lease_is_free(lease_until: datetime | None, now: datetime) -> bool:
    """Whether a row may be taken: never leased, or its lease ran out (its holder stopped)."""
    return lease_until is None or as_utc(lease_until) <= now


class BackgroundJobs:
    """This process's background threads, a pool per lane."""

    def __init__(self, lanes: Iterable[Lane] = tuple(Lane), workers_per_lane: int = 1) -> None:
        self._stopping = threading.Event()
        self._pools = {
            lane: ThreadPoolExecutor(max_workers=workers_per_lane, thread_name_prefix=lane.value)
            for lane in lanes
        }

    def should_stop(self) -> bool:
        """True once the process is closing: a long job stops after the step in hand."""
        return self._stopping.is_set()

    def submit(self, lane: Lane, what: str, job: Callable[[], T]) -> Future[T]:
        """Run ``job`` on the lane's threads; ``what`` names it in the log if it fails."""

        def run() -> T:
            try:
                return job()
            except GatewayError:
                logger.exception("%s refused", what)
                raise
            except Exception:
                # The lease runs out and the work is resumed later; the thread must not die silently.
                logger.exception("%s stopped by an error; it will be resumed", what)
                raise

        return self._pools[lane].submit(run)

    def close(self) -> None:
        """Stop after the step in hand; unstarted jobs stay queued for the next start."""
        self._stopping.set()
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
