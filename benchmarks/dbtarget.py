"""Databases a benchmark runs against: a fresh SQLite file, and a fresh schema on local PostgreSQL."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gateway.db import build_engine, upgrade_database
from gateway.keyring import generate_key_dirs
from gateway.settings import Settings
from gateway.wiring import install_logs

POSTGRES_URL = os.environ.get(
    "GATEWAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def engine_for(url: str, *, pool_size: int = 10) -> Engine:
    """The gateway's engine on ``url``, with the audit chain and the change feed installed as every
    entry point of the gateway installs them."""
    install_logs()
    return build_engine(url, pool_size=pool_size)


def supplied_settings(data_dir: Path, url: str, secret: str, **extra: object) -> Settings:
    """Settings as a production gateway gets them: the master secret and a fresh key directory per
    signing purpose under ``data_dir`` (with PostgreSQL nothing is generated)."""
    tokens, statements = generate_key_dirs(data_dir / "supplied-keys")
    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key=SecretStr(secret),
        token_keys_dir=tokens,
        statement_keys_dir=statements,
        **extra,  # type: ignore[arg-type]
    )


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{(Path(tmp) / 'bench.db').as_posix()}"
        upgrade_database(url)
        yield url


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh schema on local PostgreSQL, dropped afterwards; None when no server answers."""
    admin = create_engine(POSTGRES_URL)
    schema = f"bench_{secrets.token_hex(4)}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"  PostgreSQL not reachable ({type(exc).__name__}); skipping its figures")
        yield None
        return
    url = (
        make_url(POSTGRES_URL)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        upgrade_database(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
