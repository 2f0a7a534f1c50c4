"""Settings of the mock government systems, read from `GATEWAY_MOCKS_*` environment variables.

The mocks are a separate program from the gateway (they stand in for other agencies' servers), so they
keep their own small settings class. Fault plans are JSON, e.g.
`GATEWAY_MOCKS_PUBLIC_SECURITY_FAULTS='{"error_rate": 0.3, "error_kinds": ["http_503"]}'`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mocks.faults import FaultPlan


class MocksSettings(BaseSettings):
    """Where the mocks listen, whom they know, and how they misbehave."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_MOCKS_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the mocks listen on (loopback only).")
    public_security_port: int = Field(default=8701, ge=0, description="Port of the public-security mock.")
    exit_entry_port: int = Field(default=8702, ge=0, description="Port of the exit-entry mock.")
    household_port: int = Field(default=8703, ge=0, description="Port of the household mock.")
    social_security_port: int = Field(default=8704, ge=0, description="Port of the social security mock.")
    population: Path | None = Field(
        default=None,
        description="Population file (CSV, canonical record schema + optional guardian_id_number); "
        "the synthetic population when unset.",
    )
    population_size: int = Field(default=5000, ge=0, description="Size of the synthetic population.")
    population_seed: int = Field(default=20260901, description="Seed of the synthetic population.")
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the /_admin endpoints require; unset: a random one per start, "
        "printed by `gateway mocks serve`.",
    )
    licences: list[str] = Field(default_factory=lambda: ["demo-licence"], description="Licences accepted.")
    public_security_faults: FaultPlan = Field(default_factory=FaultPlan, description="Faults of that mock.")
    exit_entry_faults: FaultPlan = Field(default_factory=FaultPlan, description="Faults of that mock.")
    household_faults: FaultPlan = Field(default_factory=FaultPlan, description="Faults of that mock.")
    social_security_faults: FaultPlan = Field(default_factory=FaultPlan, description="Faults of that mock.")
