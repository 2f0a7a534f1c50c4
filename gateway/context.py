"""What one gateway process builds at start-up and shares with every request: settings, engine, keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from gateway.keyring import KeyRing
from gateway.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    keyring: KeyRing
    # Built by later capabilities (adapter clients, caches, ...), keyed by name.
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def reader(self) -> Engine:
        """The engine in autocommit mode, for single reads that need no transaction (no BEGIN or
        COMMIT round trips; on SQLite, no write lock taken)."""
        cached: Engine | None = self.services.get("_reader")
        if cached is None:
            cached = self.services["_reader"] = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return cached
