"""The gateway's one settings class: every knob, its default and what it is for.

Read from the environment (prefix ``GATEWAY_``, nested fields joined by ``__``) and from an optional
``.env`` file. Nothing else in the package reads ``os.environ``; code receives a ``Settings`` object.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.adapters.settings import AdaptersSettings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class WebhooksSettings(BaseModel):
    """Where webhook notifications may be sent (GATEWAY_WEBHOOKS__...)."""

    model_config = ConfigDict(frozen=True)

    allow_loopback: bool = Field(
        default=False,
        description=(
            "Development only: let webhooks reach receivers on this machine (loopback, plain http). "
            "Refused at start-up unless the gateway is a development one (SQLite, listening on loopback)."
        ),
    )


class Settings(BaseSettings):
    """Configuration of one gateway process (API server, worker or CLI)."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(
        default=Path("var"),
        description="Directory for the embedded SQLite store, generated keys and export files.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the gateway's own database. Unset: SQLite file gateway.db in data_dir. "
            "Production: postgresql+psycopg://user@host/db."
        ),
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=200, description="Connections kept open per process (PostgreSQL only)."
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply pending alembic migrations when the service starts."
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP service listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the HTTP service listens on.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="HTTP worker processes of `gateway serve` (each with its own pool and adapter clients).",
    )
    token_ttl_seconds: int = Field(
        default=900, ge=30, le=86400, description="Lifetime of an access token issued by POST /v1/token."
    )
    token_issuer: str = Field(
        default="student-identity-gateway", description="The `iss` claim of issued tokens and signatures."
    )
    signing_key_file: Path | None = Field(
        default=None,
        description=(
            "PEM file of the EC P-256 private key that signs tokens and handoff responses. Unset: "
            "data_dir/keys/signing-key.pem, generated on first start."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Master secret (at least 32 characters) from which the HMAC key for identifier look-ups and "
            "the encryption key for stored document numbers are derived. Unset: data_dir/keys/secret.key, "
            "generated on first start. Losing it makes stored document numbers unreadable."
        ),
    )
    client_freeze_days: int = Field(
        default=180, ge=1, description="A client unused for this many days is frozen and refused tokens."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of log records written."
    )
    log_json: bool = Field(default=True, description="Write logs as one JSON object per line.")
    adapters: AdaptersSettings = Field(
        default_factory=AdaptersSettings,
        description="The external verification systems, one nested block each (GATEWAY_ADAPTERS__...).",
    )
    verification_enabled: bool = Field(
        default=True, description="Verify identities against the external systems (off: every job waits)."
    )
    registration_verify_deadline: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description=(
            "Seconds a registration waits for verification before answering with it pending; "
            "0 leaves every verification to `gateway worker` (faster answers, codes promoted later)."
        ),
    )
    worker_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often `gateway worker` looks for due verification jobs."
    )
    verification_rate_burst: int = Field(
        default=30, ge=1, description="Partner verifications a client may make at once (per process)."
    )
    verification_rate_per_second: float = Field(
        default=5.0, gt=0, description="Sustained partner verifications per client per second (per process)."
    )
    matching_config_file: Path | None = Field(
        default=None, description="Matching configuration (TOML); unset: the shipped canonical-student one."
    )
    matching_model_file: Path | None = Field(
        default=None, description="Trained m/u parameters for that configuration (from `gateway train`)."
    )
    console_cookie_secure: bool | None = Field(
        default=None,
        description=(
            "Secure flag on console cookies (and HSTS on console pages); unset: set, except on a "
            "development gateway (SQLite, listening on loopback) reached over plain http."
        ),
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body accepted (batch and intake files have their own cap); larger: 413.",
    )
    webhooks: WebhooksSettings = Field(
        default_factory=WebhooksSettings,
        description="Where webhook notifications may be sent (GATEWAY_WEBHOOKS__...).",
    )
    export_retention_hours: float = Field(
        default=72,
        gt=0,
        description=(
            "Hours a finished handoff export's files are kept for download; then they are removed "
            "(children's personal data is not left lying about) and the export answers 410 Gone."
        ),
    )
    export_lease_seconds: float = Field(
        default=300,
        gt=0,
        description="A running export not heard of for this long is taken over by another process.",
    )
    start_mocks: bool = Field(
        default=False,
        description="`gateway serve` also starts the mock government systems on loopback (set by make run).",
    )

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').as_posix()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def is_development(self) -> bool:
        """A gateway on one developer's machine: the embedded store, reachable from this machine only.

        Production runs on PostgreSQL (see ``database_url``) and listens beyond loopback, so neither
        relaxation below can be switched on there by a stray variable."""
        return self.is_sqlite and self.host in LOOPBACK_HOSTS

    @model_validator(mode="after")
    def _loopback_webhooks_only_in_development(self) -> Settings:
        if self.webhooks.allow_loopback and not self.is_development:
            raise ValueError(
                "webhooks.allow_loopback is for development only: it needs the SQLite store and a "
                "loopback host; unset GATEWAY_WEBHOOKS__ALLOW_LOOPBACK"
            )
        return self


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides (used by the CLI and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
