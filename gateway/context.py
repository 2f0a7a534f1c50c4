"""What one gateway process builds at start-up and shares with every request: settings, engine, keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from gateway import sealing
from gateway.keyring import KeyRing
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.wiring import Services


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    keyring: KeyRing
    # What the workflows share (registry dependencies, background jobs, ...): set by
    # ``gateway.wiring.attach_services`` once the context exists.
    services: Services = field(init=False)

    # The engine in autocommit mode, for single reads that need no transaction (no BEGIN or COMMIT
    # round trips; on SQLite, no write lock taken).
    reader: Engine = field(init=False)

    def __post_init__(self) -> None:
        # Code columns seal G codes with the process-wide sealer: this context's keys from now on.
        sealing.install_from(self.keyring)
        self.reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
