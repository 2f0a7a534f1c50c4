"""The table of the daily quota shared by every gateway process."""

from __future__ import annotations

from datetime import date

from sqlmodel import Field, SQLModel


class AdapterQuota(SQLModel, table=True):
    """Calls made to one source on one day (Beijing time), counted by every process together.

    ``exhausted_by_source`` is set when the source itself answered that our quota is spent: no
    process calls it again that day. Calls in flight need no table: they are advisory locks
    (``gateway.limits.repository``)."""

    __tablename__ = "adapter_quota"

    source: str = Field(primary_key=True, max_length=30)
    day: date = Field(primary_key=True)
    used: int = Field(description="calls counted on the day, by every process")
    exhausted_by_source: bool = Field(description="the source said the quota is spent")
