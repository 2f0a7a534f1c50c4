"""Time in one place: every timestamp the gateway stores or compares is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for what we stored as UTC; make them aware again."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A timestamp in a response: always with its offset (UTC), also when SQLite handed it back naive, so
# that no client reads a stored UTC time as Beijing time.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
