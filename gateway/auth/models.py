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

    A key is ``("client", client id)``, ``("staff", staff login)`` or ``("address", source address)``;
    a lock-out is not stored but derived from ``failures`` and ``last_failure_at``
    (``gateway.auth.throttle``).
    """

    __tablename__ = "auth_throttle"

    kind: str = Field(primary_key=True, max_length=10, description="client, staff or address")
    key: str = Field(primary_key=True, max_length=100)
    failures: int = Field(description="failures since the key was last forgotten or reset")
    last_failure_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


class StaffAccount(SQLModel, table=True):
    """A named person acting through a client: a clerk or a reviewer of a school, county, city or
    province. Never deleted (audit rows name ``id``), only disabled; ``gateway.auth.staff`` holds the rules.
    """

    __tablename__ = "staff_account"

    id: str = Field(primary_key=True, max_length=40, description="st_ and hex; what audit rows name")
    client_id: str = Field(foreign_key="api_client.id", index=True, max_length=40)
    login: str = Field(max_length=60, unique=True, description="what the person signs in with (ASCII)")
    name: str = Field(max_length=100, description="the person's real name, as on their ID card")
    role: str = Field(max_length=30, description="entry_clerk, school_reviewer, county_reviewer, ...")
    jurisdiction: str = Field(max_length=10, description="the client's, or narrower")
    password_hash: str = Field(max_length=300, description="Argon2id, in its PHC string form")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_sign_in_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
