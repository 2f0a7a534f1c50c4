"""The gateway's keys: the signing key for tokens and signed responses, and the keys for stored identifiers.

Built once at start-up from settings. In development the keys are generated into ``data_dir/keys``
on first use; production supplies ``GATEWAY_SIGNING_KEY_FILE`` and ``GATEWAY_SECRET_KEY``.
Document numbers are stored encrypted (AES-GCM) and looked up by a keyed hash (HMAC-SHA256); G codes
and ID numbers in other columns are sealed deterministically (AES-SIV, ``gateway.sealing``). All
three keys are derived from the one master secret with HKDF, each under its own label, so that they
can never be confused.
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
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.settings import Settings


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _derive(secret: bytes, purpose: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(secret)


@dataclass(frozen=True)
class KeyRing:
    signing_key: ec.EllipticCurvePrivateKey
    hmac_key: bytes = field(repr=False)
    encryption_key: bytes = field(repr=False)
    sealing_key: bytes = field(repr=False)  # AES-SIV takes two AES-256 keys: 64 bytes

    @property
    def public_jwk(self) -> dict[str, Any]:
        numbers = self.signing_key.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
        # RFC 7638 thumbprint: members in lexicographic order, no spaces.
        thumb = hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest()
        return {**jwk, "kid": _b64url(thumb), "use": "sig", "alg": "ES256"}

    @property
    def kid(self) -> str:
        return str(self.public_jwk["kid"])

    @property
    def signing_pem(self) -> bytes:
        return self.signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_pem(self) -> bytes:
        return self.signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def lookup_hash(self, scheme: str, value: str) -> str:
        """Keyed hash of an identifier, for equality look-ups without storing the value in clear."""
        return hmac.new(self.hmac_key, f"{scheme}\x1f{value}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.encryption_key).encrypt(nonce, plaintext.encode(), context.encode())
        return _b64url(nonce + sealed)

    def decrypt(self, token: str, context: str) -> str:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return AESGCM(self.encryption_key).decrypt(raw[:12], raw[12:], context.encode()).decode()


def load_keyring(settings: Settings) -> KeyRing:
    """Load the keys named by settings, generating development keys under data_dir/keys if absent."""
    key_file = settings.signing_key_file or settings.keys_dir / "signing-key.pem"
    if not key_file.exists():
        if settings.signing_key_file is not None:
            raise FileNotFoundError(f"signing key file {key_file} does not exist")
        generated = ec.generate_private_key(ec.SECP256R1())
        try:
            _write_private(
                key_file,
                generated.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
        except FileExistsError:
            pass  # another process created it first; read theirs
    loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError("the signing key must be an EC P-256 private key")

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
        signing_key=loaded,
        hmac_key=_derive(secret, b"gateway identifier lookup v1"),
        encryption_key=_derive(secret, b"gateway identifier encryption v1"),
        sealing_key=_derive(secret, b"gateway code sealing v1", length=64),
    )
