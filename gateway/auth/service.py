"""Rules for API clients: registration, credentials, freezing and the access tokens they get.

Secrets are shown once and stored as scrypt hashes. Tokens are short-lived ES256 JWTs signed with
the gateway's key; each request re-reads the client so that disabling one takes effect at once.
Every credential check goes through ``check_credentials``: refused while the client id or the source
address is locked out (``gateway.auth.throttle``) before any scrypt runs, and the same scrypt work for
an unknown id as for a known one, so neither timing nor the answer tells whether an id exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlmodel import Session

from gateway.auth import repository, staff
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.models import ApiClient, StaffAccount
from gateway.auth.scopes import Role, Scope, Stage, held_scopes, parse_scopes, staff_scopes
from gateway.auth.throttle import KeyKind, ThrottlePolicy, retry_after
from gateway.clock import as_utc, utcnow
from gateway.errors import AccountFrozen, FieldError, InvalidInput, NotAuthenticated, NotFound, RateLimited
from gateway.keyring import KeyRing
from gateway.settings import Settings

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
TOKEN_AUDIENCE = "student-identity-gateway"  # noqa: S105 - an audience name


@dataclass
class ScryptWork:
    """The scrypt derivations this process has run and their summed cost (n * r * p each).

    Read by the tests and the benchmark to show that an unknown client id costs what a known one does.
    """

    derivations: int = 0
    cost: int = 0


SCRYPT_WORK = ScryptWork()


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    SCRYPT_WORK.derivations += 1
    SCRYPT_WORK.cost += n * r * p
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


def _encode_hash(salt: bytes, digest: bytes) -> str:
    enc = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${enc(salt).decode()}${enc(digest).decode()}"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    return _encode_hash(salt, _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P))


# Checked in place of a hash when the client id is unknown: the same parameters as every stored hash,
# so the same work. No secret is looked for in it (the id is unknown whatever it yields).
_UNKNOWN_CLIENT_HASH = _encode_hash(bytes(16), bytes(32))


def verify_secret(secret: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    candidate = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


# Which jurisdictions each role may hold: a role's reach follows the administrative level.
_ROLE_JURISDICTION: dict[Role, set[str]] = {
    Role.CENTRAL: {"country"},
    Role.PROVINCE: {"2"},
    Role.CITY: {"4"},
    Role.COUNTY: {"6"},
    Role.SCHOOL: {"school"},
    # A reviewer at CN is the ministry's: it decides problem records that span provinces.
    Role.REVIEWER: {"country", "2", "4", "6"},
    Role.PARTNER: {"country", "2", "4", "6"},
    Role.REGISTRY: {"country", "2", "4", "6", "school"},
}


def _jurisdiction_kind(j: Jurisdiction) -> str:
    if j.is_country:
        return "country"
    if j.is_school:
        return "school"
    return str(len(j.value))


@dataclass(frozen=True)
class NewClient:
    client: ApiClient
    secret: str


def create_client(
    session: Session,
    *,
    name: str,
    role: str,
    jurisdiction: str,
    scopes: str,
    stage: str | None = None,
) -> NewClient:
    """Register a client; the returned secret is the only time it is ever shown."""
    errors: list[FieldError] = []
    if not name.strip() or len(name) > 200:
        errors.append(FieldError("name", "invalid", "name must be 1 to 200 characters"))
    try:
        parsed_role = Role(role)
    except ValueError:
        errors.append(FieldError("role", "unknown_role", f"role must be one of {', '.join(Role)}"))
        parsed_role = None
    try:
        parsed_j: Jurisdiction | None = Jurisdiction.parse(jurisdiction)
    except ValueError as exc:
        errors.append(FieldError("jurisdiction", "invalid", str(exc)))
        parsed_j = None
    parsed_scopes: frozenset[Scope] = frozenset()
    if parsed_role is not None:
        try:
            parsed_scopes = parse_scopes(scopes, parsed_role)
        except ValueError as exc:
            errors.append(FieldError("scopes", "scope_not_allowed", str(exc)))
    if parsed_role and parsed_j and _jurisdiction_kind(parsed_j) not in _ROLE_JURISDICTION[parsed_role]:
        errors.append(
            FieldError(
                "jurisdiction",
                "role_mismatch",
                f"role {parsed_role} cannot hold jurisdiction {parsed_j.value}",
            )
        )
    if stage is not None:
        if parsed_role is not Role.REGISTRY:
            errors.append(FieldError("stage", "not_a_registry", "only registry clients have a stage"))
        elif stage not in set(Stage):
            errors.append(FieldError("stage", "unknown_stage", f"stage must be one of {', '.join(Stage)}"))
    elif parsed_role is Role.REGISTRY:
        errors.append(FieldError("stage", "required", "a registry client needs a stage"))
    if errors:
        raise InvalidInput(errors=errors)
    assert parsed_role is not None and parsed_j is not None
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        id="cl_" + secrets.token_hex(12),
        name=name.strip(),
        role=parsed_role.value,
        jurisdiction=parsed_j.value,
        stage=stage,
        scopes=" ".join(sorted(s.value for s in parsed_scopes)),
        secret_hash=hash_secret(secret),
        created_at=utcnow(),
    )
    repository.add_client(session, client)
    return NewClient(client=client, secret=secret)


def list_clients(session: Session) -> Sequence[ApiClient]:
    return repository.list_clients(session)


def _require_client(session: Session, client_id: str) -> ApiClient:
    client = repository.get_client(session, client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    return client


def disable_client(session: Session, client_id: str) -> ApiClient:
    client = _require_client(session, client_id)
    client.disabled_at = client.disabled_at or utcnow()
    session.add(client)
    return client


def enable_client(session: Session, client_id: str) -> ApiClient:
    """Re-enable a disabled or frozen client; its idle clock starts again now."""
    client = _require_client(session, client_id)
    client.disabled_at = None
    client.last_used_at = utcnow()
    session.add(client)
    return client


def is_frozen(client: ApiClient, settings: Settings) -> bool:
    last = as_utc(client.last_used_at or client.created_at)
    return utcnow() - last > timedelta(days=settings.client_freeze_days)


def check_usable(client: ApiClient, settings: Settings) -> None:
    if client.disabled_at is not None:
        raise AccountFrozen("this client is disabled")
    if is_frozen(client, settings):
        raise AccountFrozen(
            f"this client has not been used for {settings.client_freeze_days} days and is frozen; "
            "an administrator must re-enable it"
        )


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


def check_credentials(
    session: Session,
    settings: Settings,
    *,
    client_id: str,
    client_secret: str,
    address: str,
    now: datetime | None = None,
) -> ApiClient:
    """The client these credentials belong to, or a refusal; every failure counts towards a lock-out.

    Refused with ``RateLimited`` while the client id or the address is locked, whatever the secret
    (a right secret let through would tell a guesser he had found it), and before any scrypt runs.
    A failure is committed before ``NotAuthenticated`` is raised: the request's unit of work rolls
    back on the raise, and the count must stay. A success forgets the client id's failures but not
    the address's: one valid credential must not let its holder spray other ids from that address.
    """
    if not client_id.isprintable():
        # PostgreSQL cannot even compare a text with a NUL in it: refuse the field, count nothing.
        raise InvalidInput(
            errors=[FieldError("client_id", "invalid", "a client id has no control characters")]
        )
    now = now or utcnow()
    policy = ThrottlePolicy.from_settings(settings)
    keys = {KeyKind.CLIENT: client_id, KeyKind.ADDRESS: address}
    wait = retry_after(repository.failure_counts(session, keys), policy, now)
    if wait is not None:
        raise RateLimited(f"too many failed sign-ins; try again in {wait} seconds", retry_after=wait)
    client = repository.get_client(session, client_id)
    matches = verify_secret(client_secret, client.secret_hash if client else _UNKNOWN_CLIENT_HASH)
    # One answer for an unknown client and a wrong secret, so neither can be probed.
    if client is None or not matches:
        repository.record_failure(session, keys, now, forget_before=now - policy.forget)
        repository.prune_failures(session, before=now - policy.forget)
        session.commit()
        raise NotAuthenticated("unknown client or wrong secret")
    repository.reset_failures(session, KeyKind.CLIENT, client_id)
    return client


def issue_token(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    *,
    client_id: str,
    client_secret: str,
    address: str,
    scope: str | None = None,
) -> IssuedToken:
    """OAuth2 client-credentials grant: a short-lived signed token carrying role, jurisdiction, scopes."""
    client = check_credentials(
        session, settings, client_id=client_id, client_secret=client_secret, address=address
    )
    check_usable(client, settings)
    # The role's ceiling holds even for a client stored before the ceiling existed.
    held = held_scopes(client.role, client.scopes)
    if scope:
        asked = frozenset(scope.split())
        if not asked <= held:
            refused = ", ".join(sorted(asked - held))
            raise InvalidInput(
                errors=[FieldError("scope", "invalid_scope", f"this client may not hold {refused}")]
            )
        granted = asked
    else:
        granted = held
    return _signed_token(session, settings, keyring, client, granted)


def _signed_token(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    client: ApiClient,
    granted: frozenset[str],
    staff_id: str | None = None,
) -> IssuedToken:
    now = utcnow()
    repository.touch_client(session, client.id, now)
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": TOKEN_AUDIENCE,
        "sub": client.id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.token_ttl_seconds)).timestamp()),
        "jti": secrets.token_hex(8),
        "role": client.role,
        "jur": client.jurisdiction,
        "scope": " ".join(sorted(granted)),
    }
    if client.stage:
        claims["stage"] = client.stage
    if staff_id:
        # The person signed in: every request of the session acts as them (re-read each time).
        claims["stf"] = staff_id
    keys = keyring.token_keys
    token = jwt.encode(claims, keys.current, algorithm="ES256", headers={"kid": keys.kid})
    return IssuedToken(access_token=token, expires_in=settings.token_ttl_seconds, scope=claims["scope"])


def issue_staff_token(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    *,
    login: str,
    password: str,
    address: str,
) -> tuple[IssuedToken, StaffAccount]:
    """A named person's sign-in (the console): a token of their client, carrying their staff id and
    the scopes their client holds cut to their workflow role."""
    person = staff.check_staff_password(session, settings, login=login, password=password, address=address)
    client = _require_client(session, person.client_id)
    check_usable(client, settings)
    staff.usable_staff(person, client, "login")
    repository.touch_staff(session, person.id, utcnow())
    granted = staff_scopes(held_scopes(client.role, client.scopes), person.role)
    return _signed_token(session, settings, keyring, client, granted, person.id), person


def decode_token(token: str, settings: Settings, keyring: KeyRing) -> dict[str, Any]:
    """The claims of a token signed by one of the token keys, the one its ``kid`` names (a token of a
    retired key, or signed by any other key, is refused)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = keyring.token_keys.public_key(str(kid)) if kid else None
        if key is None:
            raise jwt.InvalidTokenError("unknown key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            audience=TOKEN_AUDIENCE,
            issuer=settings.token_issuer,
            options={"require": ["exp", "iat", "sub", "scope", "role", "jur"]},
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("the access token has expired") from None
    except jwt.InvalidTokenError:
        raise NotAuthenticated("the access token is not valid") from None
    return claims
