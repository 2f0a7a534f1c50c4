"""What an operator watches besides request counts: the work waiting in each background queue and
the change feed's newest version, read from the database when /metrics is scraped (so every replica
of a deployment reports the same figures)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from gateway.ops import repository


@dataclass(frozen=True)
class Backlog:
    """Rows waiting per (queue, state), e.g. ("exports", "running"), and the feed's newest version."""

    waiting: dict[tuple[str, str], int]
    feed_version: int


def read_backlog(session: Session) -> Backlog:
    waiting = {(queue, state): rows for queue, state, rows in repository.backlog_counts(session)}
    return Backlog(waiting=waiting, feed_version=repository.latest_feed_version(session))
