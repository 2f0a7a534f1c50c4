"""Named people acting through a client: staff accounts, their passwords and who may act as whom.

A staff account belongs to one client and carries a real name, a workflow role (``StaffRole``) and a
jurisdiction: the client's or one inside it, at the level the role works at. It is never deleted (the
audit trail names its id), only disabled. A person signs in to the console with their login and
password (Argon2id, ``argon2-cffi``), throttled on the same counters as client sign-ins; a client that
acts for many people names one per request with ``X-Staff-Id`` (``acting_staff``). Why this shape:
docs/adr/014-named-staff.md.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from gateway.auth import repository
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.models import ApiClient, StaffAccount
from gateway.auth.scopes import Role, StaffRole
from gateway.auth.throttle import KeyKind, ThrottlePolicy, retry_after
from gateway.clock import utcnow
from gateway.errors import FieldError, InvalidInput, NotAuthenticated, NotFound, RateLimited
from gateway.settings import Settings

STAFF_HEADER = "X-Staff-Id"
RETIRED_HEADER = "X-Acting-User"
LOGIN = re.compile(r"[a-z0-9][a-z0-9_.@\-]{2,59}")
_STAFF_ID = re.compile(r"st_[0-9a-f]{12}")
MIN_PASSWORD = 12

# Which jurisdictions each workflow role works at: a school's people at the school (a clerk may also
# enter for every school of a county, as a township central school does for small schools), the
# reviewers at their level, the province's operator at the province.
_ROLE_LEVELS: dict[StaffRole, frozenset[str]] = {
    StaffRole.ENTRY_CLERK: frozenset({"school", "6"}),
    StaffRole.SCHOOL_REVIEWER: frozenset({"school"}),
    StaffRole.COUNTY_REVIEWER: frozenset({"6"}),
    StaffRole.CITY_REVIEWER: frozenset({"4"}),
    StaffRole.PROVINCE_OPERATOR: frozenset({"2"}),
}
# Clients whose people take part in the collection: the education authorities, schools and reviewers.
STAFF_CLIENT_ROLES = frozenset(
    {Role.CENTRAL, Role.PROVINCE, Role.CITY, Role.COUNTY, Role.SCHOOL, Role.REVIEWER}
)

# Where a school lies, from the school register (``None``: not registered). Passed in by the entry
# point, which may import the register's domain; a school-level account under a region's client is
# refused while the register cannot place the school inside that region.
SchoolRegion = Callable[[str], str | None]


@functools.cache
def _hasher() -> PasswordHasher:
    # argon2-cffi's defaults are RFC 9106's second recommended option (Argon2id, t=3, 64 MiB, p=4).
    return PasswordHasher()


@functools.cache
def _unknown_login_hash() -> str:
    """Checked in place of a hash when the login is unknown: the same work as a known login."""
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, stored: str) -> bool:
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """An initial (or reset) password: shown once to the operator, who hands it to the person."""
    return secrets.token_urlsafe(12)


def _level(j: Jurisdiction) -> str:
    if j.is_country:
        return "country"
    return "school" if j.is_school else str(len(j.value))


def _inside(client: Jurisdiction, staff: Jurisdiction, school_region: SchoolRegion) -> str | None:
    """Why ``staff`` is not the client's jurisdiction or one inside it, or None when it is."""
    if client.is_country or client == staff:
        return None
    if client.is_school:
        return f"the client's jurisdiction is the school {client.value}; its people work there"
    if not staff.is_school:
        return None if staff.value.startswith(client.value) else f"{staff.value} is outside {client.value}"
    region = school_region(staff.value)
    if region is None:
        return (
            f"the school register does not place school {staff.value}; a school's people are added "
            "under the school's own client until it does"
        )
    return None if region.startswith(client.value) else f"school {staff.value} lies outside {client.value}"


@dataclass(frozen=True)
class NewStaff:
    staff: StaffAccount
    password: str


def add_staff(
    session: Session,
    *,
    client_id: str,
    login: str,
    name: str,
    role: str,
    jurisdiction: str | None,
    school_region: SchoolRegion,
) -> NewStaff:
    """Add a named person under a client; the returned password is the only time it is ever shown.

    ``jurisdiction`` defaults to the client's. Every bad field is named at once; nothing is stored.
    """
    client = repository.get_client(session, client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    errors: list[FieldError] = []
    if Role(client.role) not in STAFF_CLIENT_ROLES:
        errors.append(
            FieldError("client", "not_an_education_client", f"a {client.role} client has no staff accounts")
        )
    login = login.strip()
    if not LOGIN.fullmatch(login):
        errors.append(
            FieldError(
                "login",
                "invalid",
                "login must be 3-60 lower-case letters, digits, '.', '@', '-' or '_', starting with a "
                "letter or digit",
            )
        )
    elif repository.staff_by_login(session, login) is not None:
        errors.append(FieldError("login", "taken", f"login {login} is taken"))
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        errors.append(FieldError("name", "invalid", "name must be the person's real name, 1-100 characters"))
    try:
        staff_role: StaffRole | None = StaffRole(role)
    except ValueError:
        errors.append(FieldError("role", "unknown_role", f"role must be one of {', '.join(StaffRole)}"))
        staff_role = None
    try:
        place = Jurisdiction.parse(jurisdiction) if jurisdiction else Jurisdiction(client.jurisdiction)
    except ValueError as exc:
        errors.append(FieldError("jurisdiction", "invalid", str(exc)))
        place = None
    if place is not None:
        outside = _inside(Jurisdiction(client.jurisdiction), place, school_region)
        if outside is not None:
            errors.append(FieldError("jurisdiction", "outside_client", outside))
        elif staff_role is not None and _level(place) not in _ROLE_LEVELS[staff_role]:
            errors.append(
                FieldError(
                    "jurisdiction",
                    "role_mismatch",
                    f"a {staff_role.value} works at {' or '.join(sorted(_ROLE_LEVELS[staff_role]))} level, "
                    f"not at {place.value}",
                )
            )
    if errors:
        raise InvalidInput(errors=errors)
    assert staff_role is not None and place is not None
    password = new_password()
    staff = StaffAccount(
        id="st_" + secrets.token_hex(6),
        client_id=client.id,
        login=login,
        name=name,
        role=staff_role.value,
        jurisdiction=place.value,
        password_hash=hash_password(password),
        created_at=utcnow(),
    )
    repository.add_staff(session, staff)
    return NewStaff(staff, password)


def list_staff(session: Session, client_id: str | None = None) -> Sequence[StaffAccount]:
    return repository.list_staff(session, client_id)


def _require(session: Session, staff_id: str) -> StaffAccount:
    staff = repository.get_staff(session, staff_id)
    if staff is None:
        raise NotFound(f"no staff account {staff_id}")
    return staff


def disable_staff(session: Session, staff_id: str) -> StaffAccount:
    """Disable an account: its console session and every request naming it stop at once."""
    staff = _require(session, staff_id)
    staff.disabled_at = staff.disabled_at or utcnow()
    session.add(staff)
    return staff


def enable_staff(session: Session, staff_id: str) -> StaffAccount:
    staff = _require(session, staff_id)
    staff.disabled_at = None
    session.add(staff)
    return staff


def reset_password(session: Session, staff_id: str) -> NewStaff:
    """A new password for a person who lost theirs (the old one stops working)."""
    staff = _require(session, staff_id)
    password = new_password()
    staff.password_hash = hash_password(password)
    session.add(staff)
    repository.reset_failures(session, KeyKind.STAFF, staff.login)
    return NewStaff(staff, password)


def check_staff_password(
    session: Session,
    settings: Settings,
    *,
    login: str,
    password: str,
    address: str,
    now: datetime | None = None,
) -> StaffAccount:
    """The staff account these credentials belong to, or a refusal (the rules of
    ``gateway.auth.service.check_credentials``: locked out before any hashing, one answer and the same
    work for an unknown login and a wrong password, a failure committed before the refusal)."""
    if not login.isprintable():
        raise InvalidInput(errors=[FieldError("login", "invalid", "a login has no control characters")])
    now = now or utcnow()
    policy = ThrottlePolicy.from_settings(settings)
    keys = {KeyKind.STAFF: login, KeyKind.ADDRESS: address}
    wait = retry_after(repository.failure_counts(session, keys), policy, now)
    if wait is not None:
        raise RateLimited(f"too many failed sign-ins; try again in {wait} seconds", retry_after=wait)
    staff = repository.staff_by_login(session, login)
    matches = verify_password(password, staff.password_hash if staff else _unknown_login_hash())
    if staff is None or not matches:
        repository.record_failure(session, keys, now, forget_before=now - policy.forget)
        repository.prune_failures(session, before=now - policy.forget)
        session.commit()
        raise NotAuthenticated("unknown login or wrong password")
    repository.reset_failures(session, KeyKind.STAFF, login)
    return staff


def usable_staff(staff: StaffAccount | None, client: ApiClient, field: str) -> StaffAccount:
    """``staff`` if it exists, is active and belongs to ``client`` inside its jurisdiction; otherwise a
    refusal naming ``field`` (the header or the session) that tells no other client's people apart
    from nobody."""
    if staff is None or staff.client_id != client.id:
        raise InvalidInput(
            errors=[FieldError(field, "unknown_staff", "no staff account of this client has that id")]
        )
    if staff.disabled_at is not None:
        raise InvalidInput(errors=[FieldError(field, "staff_disabled", "this staff account is disabled")])
    client_j, staff_j = Jurisdiction(client.jurisdiction), Jurisdiction(staff.jurisdiction)
    if not (
        client_j.is_country
        or client_j == staff_j
        or staff_j.is_school
        or staff_j.value.startswith(client_j.value)
    ):
        # Stored inside the client's at creation; a client cannot move, so this is defence in depth.
        raise InvalidInput(
            errors=[FieldError(field, "outside_client", "the staff account lies outside its client")]
        )
    return staff


def acting_staff(session: Session, client: ApiClient, staff_id: str) -> StaffAccount:
    """The staff member a client names with ``X-Staff-Id``: existing, active and its own."""
    if not _STAFF_ID.fullmatch(staff_id):
        raise InvalidInput(
            errors=[FieldError(STAFF_HEADER, "invalid", "a staff id is st_ and 12 hexadecimal digits")]
        )
    return usable_staff(repository.get_staff(session, staff_id), client, STAFF_HEADER)
