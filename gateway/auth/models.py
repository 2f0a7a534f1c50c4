"""Tables of registered API clients."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class ApiClient(SQLModel, table=True):
    __tablename__ = "api_client"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    jurisdiction: str = Field(max_length=10)
    stage: str | None = Field(default=None, max_length=30)
    scopes: str = Field(max_length=2000, description="space-separated scope names")
    secret_hash: str = Field(max_length=300)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class AuthThrottle(SQLModel, table=True):
    """Failed sign-ins counted per key, in the database so that every gateway process counts together.

    A key is ``("client", client id)`` or ``("address", source address)``; a lock-out is not stored but
    derived from ``failures`` and ``last_failure_at`` (``gateway.auth.throttle``).
    """

    __tablename__ = "auth_throttle"

    kind: str = Field(primary_key=True, max_length=10, description="client or address")
    key: str = Field(primary_key=True, max_length=100)
    failures: int = Field(description="failures since the key was last forgotten or reset")
    last_failure_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
