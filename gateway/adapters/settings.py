"""Configuration of the verification adapters: one nested block per external system.

`AdaptersSettings` is a plain pydantic model meant to be nested in the gateway's settings as
`settings.adapters`, so that e.g. `GATEWAY_ADAPTERS__PUBLIC_SECURITY__BASE_URL` sets one field.
Defaults point at the mock servers on their default loopback ports.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class Implementation(StrEnum):
    """Which implementation serves an adapter slot; `disabled` turns the source off."""

    NCIIC_SOAP = "nciic_soap"
    EXIT_ENTRY_SOAP = "exit_entry_soap"
    HOUSEHOLD_REST = "household_rest"
    SOCIAL_SECURITY_REST = "social_security_rest"
    DISABLED = "disabled"


class AdapterSettings(BaseModel):
    """Connection, resilience and quota settings of one adapter."""

    model_config = ConfigDict(frozen=True)

    implementation: Implementation = Field(description="Implementation to use, or `disabled`.")
    base_url: str = Field(description="Base URL of the service (the SOAP endpoint for SOAP services).")
    licence: SecretStr = Field(
        default=SecretStr("demo-licence"), description="Licence string or API key issued to us."
    )
    subscriber: str = Field(
        default="student-identity-gateway", description="Requesting unit name sent to the source."
    )
    connect_timeout: float = Field(default=2.0, gt=0, description="TCP connect timeout, seconds.")
    read_timeout: float = Field(default=5.0, gt=0, description="Per-attempt read timeout, seconds.")
    deadline: float = Field(
        default=10.0, gt=0, description="Overall deadline of one verification, retries included, seconds."
    )
    max_attempts: int = Field(default=5, ge=1, description="Attempts per verification, the first included.")
    backoff_base: float = Field(
        default=0.1, gt=0, description="Full-jitter backoff: first wait drawn from [0, base] seconds."
    )
    backoff_max: float = Field(default=3.0, gt=0, description="Cap of one backoff wait, seconds.")
    breaker_failure_threshold: int = Field(
        default=5, ge=1, description="Consecutive technical failures that open the circuit breaker."
    )
    breaker_reset_timeout: float = Field(
        default=30.0, gt=0, description="Seconds an open breaker waits before letting one trial call through."
    )
    max_concurrency: int = Field(
        default=8,
        ge=1,
        description="Calls in flight to this source at once, by every gateway process together "
        "on PostgreSQL.",
    )
    cache_ttl: float = Field(
        default=3600.0, ge=0, description="Seconds a positive answer is cached; 0 disables the cache."
    )
    cache_size: int = Field(default=10_000, ge=1, description="Positive answers kept in the cache.")
    daily_quota: int | None = Field(
        default=None,
        ge=0,
        description="Queries (rows: a call of several counts each) allowed per day (Asia/Shanghai), by every "
        "gateway process together on PostgreSQL; "
        "None for no local limit.",
    )


def _default(implementation: Implementation, port: int, path: str = "") -> AdapterSettings:
    return AdapterSettings(implementation=implementation, base_url=f"http://127.0.0.1:{port}{path}")


class AdaptersSettings(BaseModel):
    """Settings of every verification source and of the orchestrator that combines them."""

    model_config = ConfigDict(frozen=True)

    public_security: AdapterSettings = Field(
        default_factory=lambda: _default(Implementation.NCIIC_SOAP, 8701, "/nciic/services/NciicServices"),
        description="Population register (citizen ID verification, SOAP).",
    )
    exit_entry: AdapterSettings = Field(
        default_factory=lambda: _default(Implementation.EXIT_ENTRY_SOAP, 8702, "/exit-entry/verification"),
        description="Exit-entry administration (passports and permits, SOAP).",
    )
    household: AdapterSettings = Field(
        default_factory=lambda: _default(Implementation.HOUSEHOLD_REST, 8703),
        description="Household registration (REST).",
    )
    social_security: AdapterSettings = Field(
        default_factory=lambda: _default(Implementation.SOCIAL_SECURITY_REST, 8704),
        description="Tax and social security enrolment (REST).",
    )
    place_code: str = Field(
        default="100000",
        pattern=r"^[0-9]{6}$",
        description="GB/T 2260 code of the requesting place, sent to the population register (FSD).",
    )
    business_type: str = Field(
        default="学籍核验", description="Business type sent to the population register (YWLX)."
    )
    verification_deadline: float = Field(
        default=15.0, gt=0, description="Deadline of one whole identity verification across sources, seconds."
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_partial_slots(cls, data: Any) -> Any:
        """An environment that sets one field of a slot (GATEWAY_ADAPTERS__HOUSEHOLD__BASE_URL) keeps
        the slot's other defaults instead of replacing the whole slot."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, field in cls.model_fields.items():
            given = merged.get(name)
            if isinstance(given, dict) and field.default_factory is not None:
                default = field.default_factory()  # type: ignore[call-arg]
                if isinstance(default, BaseModel):
                    merged[name] = {**default.model_dump(), **given}
        return merged
