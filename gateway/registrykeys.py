"""One set of keys per registry: the database remembers a fingerprint of the keys its data was
written with, and a process holding other keys refuses to start.

Blocking keys are HMAC digests, document numbers are encrypted and codes sealed, all with keys
derived from the master secret. A second machine started with another secret would hash blocking
keys differently, never see the persons the first wrote, and issue a child a second code; it would
also fail to read what the first sealed. The fingerprint (SHA-256 over the derived keys, one way)
names the keys without disclosing them. The first process to start on an empty registry records it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Engine, String, Table, insert, select
from sqlmodel import SQLModel

from gateway.clock import utcnow
from gateway.keyring import KeyRing

PURPOSE = "identifiers"
_table = Table(
    "registry_key",
    SQLModel.metadata,
    Column("purpose", String(40), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


class KeysMismatch(RuntimeError):
    """This process holds other identifier keys than the registry's data was written with."""


def check_registry_keys(engine: Engine, keyring: KeyRing) -> None:
    """Record the keys' fingerprint on an empty registry; refuse (``KeysMismatch``) other keys."""
    mine = keyring.fingerprint
    with engine.begin() as conn:
        stored = conn.execute(select(_table.c.fingerprint).where(_table.c.purpose == PURPOSE)).scalar()
        if stored is None:
            conn.execute(insert(_table).values(purpose=PURPOSE, fingerprint=mine, recorded_at=utcnow()))
            return
    if stored != mine:
        raise KeysMismatch(
            f"this registry's data was written with other keys (fingerprint {stored[:12]}…, this process "
            f"has {mine[:12]}…): start every gateway of one registry with the same GATEWAY_SECRET_KEY; "
            "with other keys it would hash and seal differently and issue second codes"
        )
