"""Detached JWS signatures over the exact bytes of handoff responses (RFC 7515 appendix F, RFC 7797).

The gateway signs each disclosure with its EC P-256 key; the signature travels in the
``X-JWS-Signature`` header as ``header..signature`` with an unencoded payload (``"b64": false``), so
the body stays byte-for-byte what the registry stored and the registry can later prove what it was
given by checking the header against the key published at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from gateway.clock import utcnow
from gateway.keyring import KeyRing

SIGNATURE_HEADER = "X-JWS-Signature"
ALGORITHM = "ES256"


def sign_detached(keyring: KeyRing, payload: bytes, *, audience: str | None = None) -> str:
    """A compact detached JWS over ``payload``; ``aud`` and ``iat`` ride in the protected header."""
    headers: dict[str, Any] = {
        "kid": keyring.statement_kid,
        "typ": "JOSE",
        "b64": False,
        "crit": ["b64"],
        "iat": int(utcnow().timestamp()),
    }
    if audience is not None:
        headers["aud"] = audience
    return jwt.api_jws.encode(
        payload, keyring.statement_key, algorithm=ALGORITHM, headers=headers, is_payload_detached=True
    )


def verify_detached(jwks: dict[str, Any], signature: str, payload: bytes) -> dict[str, Any]:
    """Check a detached signature against a published JWKS; returns its protected header.

    Raises ``jwt.InvalidSignatureError`` (or another ``jwt.PyJWTError``) when it does not verify.
    """
    header = jwt.get_unverified_header(signature)
    key = jwt.PyJWKSet.from_dict(jwks)[str(header["kid"])]
    verified = jwt.api_jws.decode_complete(
        signature, key.key, algorithms=[ALGORITHM], detached_payload=payload
    )
    protected: dict[str, Any] = verified["header"]
    return protected


def canonical_json(data: Any) -> bytes:
    """The bytes a handoff response is sent as (and signed over): UTF-8 JSON, no extra spaces."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()
