"""Keys: supplied in production, one set per purpose, rotated with an overlap, files private."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from gateway import sealing
from gateway.auth.service import TOKEN_AUDIENCE, decode_token
from gateway.cli import app
from gateway.clock import utcnow
from gateway.db import build_engine
from gateway.errors import NotAuthenticated
from gateway.keyring import KeyRing, KeysRequired, load_keyring, new_key_file
from gateway.settings import Settings

PRODUCTION = "postgresql+psycopg://gateway@127.0.0.1:5432/registry"
SECRET = "a-registry-secret-of-at-least-32-characters"


def _token(keyring: KeyRing, settings: Settings, *, key: object = None, kid: str | None = None) -> str:
    now = utcnow()
    claims = {
        "iss": settings.token_issuer,
        "aud": TOKEN_AUDIENCE,
        "sub": "cl_x",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "scope": "codes:validate",
        "role": "partner",
        "jur": "CN",
    }
    keys = keyring.token_keys
    return jwt.encode(claims, key or keys.current, algorithm="ES256", headers={"kid": kid or keys.kid})


def test_production_refuses_to_start_without_supplied_keys(tmp_path: Path) -> None:
    with pytest.raises(KeysRequired) as refused:
        load_keyring(Settings(data_dir=tmp_path, database_url=PRODUCTION))
    message = str(refused.value)
    for name in ("GATEWAY_SECRET_KEY", "GATEWAY_TOKEN_KEYS_DIR", "GATEWAY_STATEMENT_KEYS_DIR"):
        assert name in message
    assert not (tmp_path / "keys").exists()  # nothing generated
    tokens, statements = tmp_path / "tokens", tmp_path / "statements"
    supplied = Settings(
        data_dir=tmp_path,
        database_url=PRODUCTION,
        secret_key=SecretStr(SECRET),
        token_keys_dir=tokens,
        statement_keys_dir=statements,
    )
    with pytest.raises(KeysRequired):  # named, but empty
        load_keyring(supplied)
    new_key_file(tokens)
    new_key_file(statements)
    keyring = load_keyring(supplied)
    assert keyring.token_keys.kid != keyring.statement_kid


def test_serve_says_which_keys_are_missing_and_exits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", PRODUCTION)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "GATEWAY_SECRET_KEY" in result.output and "GATEWAY_TOKEN_KEYS_DIR" in result.output


def test_tokens_and_statements_are_signed_by_different_keys(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    keyring = load_keyring(settings)
    published = {k["kid"] for k in keyring.jwks()["keys"]}
    assert {keyring.token_keys.kid, keyring.statement_kid} <= published
    assert decode_token(_token(keyring, settings), settings, keyring)["sub"] == "cl_x"
    # A token signed with the statement key (published, valid ES256) is still no token.
    forged = _token(keyring, settings, key=keyring.statement_key, kid=keyring.statement_kid)
    with pytest.raises(NotAuthenticated):
        decode_token(forged, settings, keyring)


def test_a_rotated_key_signs_the_old_one_verifies_until_removed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    before = load_keyring(settings)
    old_token = _token(before, settings)
    result = CliRunner().invoke(
        app, ["keys", "rotate", "--purpose", "tokens"], env={"GATEWAY_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    after = load_keyring(settings)
    assert after.token_keys.kid != before.token_keys.kid
    assert after.statement_kid == before.statement_kid  # one purpose at a time
    assert {before.token_keys.kid, after.token_keys.kid} <= {k["kid"] for k in after.jwks()["keys"]}
    new_token = _token(after, settings)
    assert jwt.get_unverified_header(new_token)["kid"] == after.token_keys.kid
    assert decode_token(old_token, settings, after)["sub"] == "cl_x"  # the overlap
    # The overlap ends: the old file is removed, and what it signed no longer verifies.
    oldest, newest = sorted((tmp_path / "keys" / "tokens").glob("*.pem"))
    assert newest.name.endswith(f"{after.token_keys.kid[:12]}.pem")
    old_file = oldest
    old_file.unlink()
    retired = load_keyring(settings)
    with pytest.raises(NotAuthenticated):
        decode_token(old_token, settings, retired)
    assert decode_token(new_token, settings, retired)["sub"] == "cl_x"


def test_key_and_database_files_are_private(tmp_path: Path) -> None:
    load_keyring(Settings(data_dir=tmp_path))
    files = [p for p in (tmp_path / "keys").rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), files
    engine = build_engine(f"sqlite:///{tmp_path / 'db' / 'gateway.db'}")
    with engine.connect():
        pass
    engine.dispose()
    assert stat.S_IMODE((tmp_path / "db" / "gateway.db").stat().st_mode) == 0o600


def test_a_process_with_other_keys_does_not_start_on_a_registry(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys_dir: Path
) -> None:
    """Two machines of one registry with different master secrets would hash blocking keys and seal
    codes differently, and issue second codes: the second refuses to start, naming the cause."""

    def settings(secret: str) -> Settings:
        tokens, statements = tmp_path / secret / "tokens", tmp_path / secret / "statements"
        for directory in (tokens, statements):
            if not directory.exists():
                new_key_file(directory)
        return Settings(
            data_dir=tmp_path,
            database_url=fresh_db_url,
            secret_key=SecretStr(secret * 8),
            token_keys_dir=tokens,
            statement_keys_dir=statements,
            migrate_on_start=False,
        )

    try:
        _first_then_other(settings)
    finally:
        sealing.install_from(load_keyring(Settings(data_dir=keys_dir, migrate_on_start=False)))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_SECRET_KEY", "other-machine" * 8)
    monkeypatch.setenv("GATEWAY_TOKEN_KEYS_DIR", str(tmp_path / "other-machine" / "tokens"))
    monkeypatch.setenv("GATEWAY_STATEMENT_KEYS_DIR", str(tmp_path / "other-machine" / "statements"))
    try:
        result = CliRunner().invoke(app, ["clients", "list"])
    finally:  # every entry point installs its sealer process-wide: give the session's back
        sealing.install_from(load_keyring(Settings(data_dir=keys_dir, migrate_on_start=False)))
    assert result.exit_code == 2 and "other keys" in result.output


def _first_then_other(settings: Callable[[str], Settings]) -> None:
    from gateway.registrykeys import KeysMismatch
    from gateway.wiring import build_context, close_context

    close_context(build_context(settings("first-machine")))
    close_context(build_context(settings("first-machine")))  # the same keys, another process: fine
    with pytest.raises(KeysMismatch) as refused:
        build_context(settings("other-machine"))
    assert "GATEWAY_SECRET_KEY" in str(refused.value)
