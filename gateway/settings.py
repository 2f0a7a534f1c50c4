"""The gateway's one settings class: every knob, its default and what it is for.

Read from the environment (prefix ``GATEWAY_``, nested fields joined by ``__``) and from an optional
``.env`` file. Nothing else in the package reads ``os.environ``; code receives a ``Settings`` object.
"""

from __future__ import annotations

from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    DirectoryPath,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    request_threads: int = Field(
        default=4,
        ge=1,
        le=200,
        description="Threads per process that run blocking request work; more requests than this wait "
        "their turn (many threads contending for one interpreter cost more CPU than they save).",
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
    token_keys_dir: Path | None = Field(
        default=None,
        description=(
            "Directory of the EC P-256 keys (PEM files) that sign access tokens: the newest signs, all "
            "verify (rotation overlap). Unset: data_dir/keys/tokens, generated on first start (SQLite "
            "only; with PostgreSQL it must be supplied)."
        ),
    )
    statement_keys_dir: Path | None = Field(
        default=None,
        description=(
            "Directory of the EC P-256 keys that sign handoff responses and audit checkpoints, apart from "
            "the token keys. Unset: data_dir/keys/statements, generated on first start (SQLite only)."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Master secret (at least 32 characters) from which the HMAC key for identifier look-ups and "
            "the encryption key for stored document numbers are derived. Unset: data_dir/keys/secret.key, "
            "generated on first start (SQLite only; with PostgreSQL it must be supplied). Losing it makes "
            "stored document numbers unreadable."
        ),
    )
    audit_checkpoint_dir: Path | None = Field(
        default=None,
        description=(
            "Where signed checkpoints of the audit chain's head are written, outside the database (in "
            "production a write-once mount or a directory synced to object storage). Unset: "
            "data_dir/audit-checkpoints."
        ),
    )
    audit_checkpoint_seconds: float = Field(
        default=300.0, ge=1, description="How often `gateway worker` checkpoints the audit chain's head."
    )
    client_freeze_days: int = Field(
        default=180, ge=1, description="A client unused for this many days is frozen and refused tokens."
    )
    signin_client_failures: int = Field(
        default=5,
        ge=1,
        description=(
            "Failed sign-ins (POST /v1/token, console) with one client id, known or not, before it is "
            "locked out (429 with Retry-After)."
        ),
    )
    signin_address_failures: int = Field(
        default=30,
        ge=1,
        description=(
            "Failed sign-ins from one source address, whatever the client ids, before the address is "
            "locked out (an IPv6 address counts by its /64)."
        ),
    )
    signin_lockout_seconds: float = Field(
        default=60, gt=0, description="First lock-out at a limit; each further failure doubles it."
    )
    signin_max_lockout_seconds: float = Field(
        default=900, gt=0, description="The longest lock-out, however many failures."
    )
    signin_forget_seconds: float = Field(
        default=3600,
        gt=0,
        description=(
            "A client id or address with no failed sign-in for this long starts counting from zero "
            "(at least signin_max_lockout_seconds); older counters are pruned."
        ),
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Addresses or CIDR networks of reverse proxies (comma-separated) whose X-Forwarded-For is "
            "believed when counting failed sign-ins per address. Empty: the TCP peer is the source."
        ),
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
    registration_verification_waits: int = Field(
        default=64,
        ge=1,
        le=10000,
        description="Registrations per process that may wait for the external systems at once (each "
        "waits in a thread of its own, outside the few request threads).",
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
    batch_lease_seconds: float = Field(
        default=120,
        gt=0,
        description=(
            "A running batch not heard of for this long (its runner stopped or was killed) is taken "
            "over by another runner: `gateway import` run again, `gateway worker`, or a restarted gateway."
        ),
    )
    batch_chunk_rows: int = Field(
        default=5000,
        ge=1,
        description=(
            "Rows a batch run reads and decides at a time (each chunk in units of work of at most "
            "2,000 rows); smaller chunks acknowledge progress more often, larger ones go faster."
        ),
    )
    export_lease_seconds: float = Field(
        default=300,
        gt=0,
        description="A running export not heard of for this long is taken over by another process.",
    )
    export_storage: Literal["auto", "database", "directory"] = Field(
        default="auto",
        description=(
            "Where export files are kept: `database` (in the gateway's database, so every replica can "
            "serve an export written or taken over on another machine), `directory` (data_dir/exports "
            "on this machine only) or `auto`: the database on PostgreSQL, the directory on SQLite."
        ),
    )
    prometheus_multiproc_dir: DirectoryPath | None = Field(
        default=None,
        validation_alias=AliasChoices("prometheus_multiproc_dir", "PROMETHEUS_MULTIPROC_DIR"),
        description=(
            "PROMETHEUS_MULTIPROC_DIR (no GATEWAY_ prefix: prometheus-client reads the same variable). "
            "Set, every gateway process on this machine (`gateway serve` workers, `gateway worker`) "
            "counts into files there and /metrics sums them all; an empty directory of this machine's "
            "own, emptied when the service starts (a tmpfs). Unset: /metrics shows its own process."
        ),
    )
    start_mocks: bool = Field(
        default=False,
        description="`gateway serve` also starts the mock government systems on loopback (set by make run).",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return value

    @model_validator(mode="after")
    def _check_lockouts(self) -> Self:
        if self.signin_max_lockout_seconds < self.signin_lockout_seconds:
            raise ValueError("signin_max_lockout_seconds must be at least signin_lockout_seconds")
        if self.signin_forget_seconds < self.signin_max_lockout_seconds:
            # Otherwise a key could be forgotten while still locked, and the doubling never reached.
            raise ValueError("signin_forget_seconds must be at least signin_max_lockout_seconds")
        return self

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(entry, strict=False) for entry in self.trusted_proxies]

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').as_posix()}"

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"

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
