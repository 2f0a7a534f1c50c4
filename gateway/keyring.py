"""The gateway's keys: signing keys for tokens and for signed statements, and the keys for stored identifiers.

Built once at start-up from settings. Two purposes sign, each with its own EC P-256 keys kept as PEM
files in a directory of their own: access tokens (``token_keys_dir``) and statements the gateway makes
to others (handoff responses, audit checkpoints; ``statement_keys_dir``). The newest file of a
directory signs; every file of it verifies and is published at ``/.well-known/jwks.json``, selected
by ``kid``, so a key can be rotated (``gateway keys rotate``) while what the old one signed still
verifies; an old file is removed when its overlap has passed. In development the keys are generated
under ``data_dir/keys`` on first use; with PostgreSQL (production) nothing is generated: the
gateway refuses to start unless ``GATEWAY_SECRET_KEY`` and both key directories are supplied.
Document numbers are stored encrypted (AES-GCM) and looked up by a keyed hash (HMAC-SHA256); G codes
and ID numbers in other columns are sealed deterministically (AES-SIV, ``gateway.sealing``). All
three keys are derived from the one master secret with HKDF, each under its own label, so that they
can never be confused. Every file written here is created 0600.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.clock import utcnow
from gateway.settings import Settings


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _derive(secret: bytes, purpose: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(secret)


class KeysRequired(RuntimeError):
    """Production (PostgreSQL) was started without externally supplied keys."""


def _jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    # RFC 7638 thumbprint: members in lexicographic order, no spaces.
    thumb = hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest()
    return {**jwk, "kid": _b64url(thumb), "use": "sig", "alg": "ES256"}


@dataclass(frozen=True)
class KeySet:
    """The signing keys of one purpose, newest first: the newest signs, every one verifies."""

    keys: tuple[ec.EllipticCurvePrivateKey, ...] = field(repr=False)

    @cached_property
    def _public(self) -> dict[str, tuple[dict[str, Any], ec.EllipticCurvePublicKey]]:
        """kid -> (published JWK, public key), newest first; worked out once, not per token checked."""
        return {str(jwk["kid"]): (jwk, key.public_key()) for key in self.keys for jwk in [_jwk(key)]}

    @property
    def current(self) -> ec.EllipticCurvePrivateKey:
        return self.keys[0]

    @property
    def kid(self) -> str:
        return next(iter(self._public))

    @property
    def current_pem(self) -> bytes:
        return self.current.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_jwks(self) -> list[dict[str, Any]]:
        return [jwk for jwk, _key in self._public.values()]

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        """The public key of ``kid`` if it is one of this purpose's keys (None: unknown or retired)."""
        found = self._public.get(kid)
        return found[1] if found else None


def lookup_hash(hmac_key: bytes, scheme: str, value: str) -> str:
    """``KeyRing.lookup_hash`` given the key alone (for work done where the keyring is not, such as a
    helper process preparing a bulk load's rows)."""
    return hmac.new(hmac_key, f"{scheme}\x1f{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    token_keys: KeySet
    statement_keys: KeySet
    hmac_key: bytes = field(repr=False)
    encryption_key: bytes = field(repr=False)
    sealing_key: bytes = field(repr=False)  # AES-SIV takes two AES-256 keys: 64 bytes

    @property
    def statement_key(self) -> ec.EllipticCurvePrivateKey:
        """The key that signs what the gateway states to others (handoff responses, checkpoints)."""
        return self.statement_keys.current

    @property
    def statement_kid(self) -> str:
        return self.statement_keys.kid

    @property
    def fingerprint(self) -> str:
        """A one-way name of the identifier keys (what a registry's stored data depends on)."""
        material = b"gateway key fingerprint v1" + self.hmac_key + self.encryption_key + self.sealing_key
        return hashlib.sha256(material).hexdigest()

    def jwks(self) -> dict[str, Any]:
        """Every key that verifies, of both purposes, current and previous."""
        return {"keys": self.token_keys.public_jwks() + self.statement_keys.public_jwks()}

    def lookup_hash(self, scheme: str, value: str) -> str:
        """Keyed hash of an identifier, for equality look-ups without storing the value in clear."""
        return lookup_hash(self.hmac_key, scheme, value)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.encryption_key).encrypt(nonce, plaintext.encode(), context.encode())
        return _b64url(nonce + sealed)

    def decrypt(self, token: str, context: str) -> str:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return AESGCM(self.encryption_key).decrypt(raw[:12], raw[12:], context.encode()).decode()


KEY_SUFFIX = ".pem"


def new_key_file(directory: Path) -> Path:
    """Generate a new EC P-256 key as the newest file of ``directory`` (created 0600); returns it."""
    key = ec.generate_private_key(ec.SECP256R1())
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}-{_jwk(key)['kid'][:12]}{KEY_SUFFIX}"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(
        path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    return path


def generate_key_dirs(base: Path) -> tuple[Path, Path]:
    """A token key directory and a statement key directory under ``base``, one new key each (what an
    operator makes once with ``gateway keys generate``; tests and benchmarks use it on PostgreSQL)."""
    tokens, statements = base / "tokens", base / "statements"
    new_key_file(tokens)
    new_key_file(statements)
    return tokens, statements


def load_key_set(directory: Path) -> KeySet:
    """The keys of a directory, newest (by file name: a UTC time stamp) first."""
    keys = []
    for path in sorted(directory.glob(f"*{KEY_SUFFIX}"), reverse=True):
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
            raise ValueError(f"{path.name}: a signing key must be an EC P-256 private key")
        keys.append(loaded)
    if not keys:
        raise KeysRequired(f"no signing key ({KEY_SUFFIX} file) in {directory}")
    return KeySet(tuple(keys))


def _development_keys(directory: Path) -> KeySet:
    if not any(directory.glob(f"*{KEY_SUFFIX}")):
        new_key_file(directory)
    return load_key_set(directory)


def load_keyring(settings: Settings) -> KeyRing:
    """Load the keys named by settings. With SQLite (development) missing keys are generated under
    data_dir/keys; with PostgreSQL (production) every key must be supplied (``KeysRequired``)."""
    production = not settings.is_sqlite
    if production:
        missing = [
            name
            for name, value in (
                ("GATEWAY_SECRET_KEY", settings.secret_key),
                ("GATEWAY_TOKEN_KEYS_DIR", settings.token_keys_dir),
                ("GATEWAY_STATEMENT_KEYS_DIR", settings.statement_keys_dir),
            )
            if value is None
        ]
        if missing:
            raise KeysRequired(
                f"with PostgreSQL the keys must be supplied, none is generated: set {', '.join(missing)} "
                "(gateway keys generate makes a key directory; README: Keys)"
            )
    token_dir = settings.token_keys_dir or settings.keys_dir / "tokens"
    statement_dir = settings.statement_keys_dir or settings.keys_dir / "statements"
    if production or settings.token_keys_dir is not None:
        token_keys = load_key_set(token_dir)
    else:
        token_keys = _development_keys(token_dir)
    if production or settings.statement_keys_dir is not None:
        statement_keys = load_key_set(statement_dir)
    else:
        statement_keys = _development_keys(statement_dir)
    if {k["kid"] for k in token_keys.public_jwks()} & {k["kid"] for k in statement_keys.public_jwks()}:
        raise ValueError("tokens and statements must be signed with different keys")

    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value().encode()
        if len(secret) < 32:
            raise ValueError("GATEWAY_SECRET_KEY must be at least 32 characters")
    else:
        secret_file = settings.keys_dir / "secret.key"
        if not secret_file.exists():
            with contextlib.suppress(FileExistsError):
                _write_private(secret_file, secrets.token_urlsafe(48).encode())
        secret = secret_file.read_bytes().strip()
    return KeyRing(
        token_keys=token_keys,
        statement_keys=statement_keys,
        hmac_key=_derive(secret, b"gateway identifier lookup v1"),
        encryption_key=_derive(secret, b"gateway identifier encryption v1"),
        sealing_key=_derive(secret, b"gateway code sealing v1", length=64),
    )
