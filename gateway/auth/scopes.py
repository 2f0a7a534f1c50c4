"""The scopes a client may hold, named ``resource:action``, the roles, and which scopes each role may hold.

A token carries the scopes its client holds (or the subset it asked for); each endpoint requires
exactly one scope. ``ROLE_SCOPES`` is the ceiling: a client is never created with, and a token never
carries, a scope its role may not hold (``all`` means every scope of the role). The README and the
OpenAPI description print the same table; docs/adr/006-roles-and-jurisdictions.md argues it.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    CODES_VALIDATE = "codes:validate"
    CODES_READ = "codes:read"
    IDENTITY_NORMALIZE = "identity:normalize"
    SEARCH_READ = "search:read"
    REGISTRATIONS_WRITE = "registrations:write"
    STUDENTS_READ = "students:read"
    STUDENTS_WRITE = "students:write"
    REVIEWS_READ = "reviews:read"
    REVIEWS_WRITE = "reviews:write"
    VERIFICATIONS_WRITE = "verifications:write"
    BATCHES_WRITE = "batches:write"
    HANDOFF_READ = "handoff:read"
    HANDOFF_WRITE = "handoff:write"
    HANDOFF_IDENTITY = "handoff:identity"
    FEED_READ = "feed:read"
    TRANSFERS_WRITE = "transfers:write"
    REPORTS_READ = "reports:read"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    SCHOOLS_READ = "schools:read"
    COLLECTION_REVIEW = "collection:review"


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.CODES_VALIDATE: "check a code's format and check character (says nothing of any person)",
    Scope.CODES_READ: "resolve a code to the current one with its lineage",
    Scope.IDENTITY_NORMALIZE: "normalise and check a record without storing it",
    Scope.SEARCH_READ: "search the registry for candidate matches of a record",
    Scope.REGISTRATIONS_WRITE: "register students and receive their codes",
    Scope.STUDENTS_READ: "read students and their status events",
    Scope.STUDENTS_WRITE: "record status changes (enrolment ... graduation)",
    Scope.REVIEWS_READ: "list and read problem records",
    Scope.REVIEWS_WRITE: "decide problem records, merge and undo merges",
    Scope.VERIFICATIONS_WRITE: "partner check that a code and demographics belong together",
    Scope.BATCHES_WRITE: "submit and read bulk registration batches",
    Scope.HANDOFF_READ: "pull handoff records of students the caller admitted",
    Scope.HANDOFF_WRITE: "hand children over, claim students",
    Scope.HANDOFF_IDENTITY: "receive full identity document numbers in handoff records",
    Scope.FEED_READ: "read the change feed",
    Scope.TRANSFERS_WRITE: "apply for, approve and reject cross-province transfers",
    Scope.REPORTS_READ: "read progress reports and the console dashboard",
    Scope.AUDIT_READ: "read the audit trail",
    Scope.METRICS_READ: "scrape /metrics",
    Scope.SCHOOLS_READ: "read the school register within the jurisdiction",
    Scope.COLLECTION_REVIEW: (
        "see the collection queue and check, review, accept or reject schools' submissions"
    ),
}


class Role(StrEnum):
    CENTRAL = "central"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    SCHOOL = "school"
    REVIEWER = "reviewer"
    PARTNER = "partner"
    REGISTRY = "registry"


class Stage(StrEnum):
    """The education stage a registry client serves (only for role ``registry``)."""

    PRESCHOOL = "preschool"
    SENIOR_SECONDARY = "senior_secondary"
    VOCATIONAL = "vocational"
    HIGHER_EDUCATION = "higher_education"


_S = Scope
# What every education-administration level does for the children inside its jurisdiction.
_ADMINISTRATION = frozenset(
    {
        _S.CODES_VALIDATE,
        _S.CODES_READ,
        _S.IDENTITY_NORMALIZE,
        _S.SEARCH_READ,
        _S.REGISTRATIONS_WRITE,
        _S.STUDENTS_READ,
        _S.STUDENTS_WRITE,
        _S.REVIEWS_READ,
        _S.REVIEWS_WRITE,
        _S.BATCHES_WRITE,
        _S.FEED_READ,
        _S.TRANSFERS_WRITE,
        _S.REPORTS_READ,
        _S.SCHOOLS_READ,
        _S.COLLECTION_REVIEW,
    }
)

# The ceiling: which scopes each role may ever hold. Jurisdiction then bounds what a scope reaches.
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    # The ministry: oversight of the whole registry, the audit trail, operations. It is not a
    # registry of another stage, so it neither claims nor pulls handoff records.
    Role.CENTRAL: _ADMINISTRATION | {_S.AUDIT_READ, _S.METRICS_READ},
    Role.PROVINCE: _ADMINISTRATION,
    Role.CITY: _ADMINISTRATION,
    Role.COUNTY: _ADMINISTRATION,
    # A school collects, enters and corrects its own students' data, applies for transfers and
    # claims the children a preschool handed over (with the family's documents in hand, so with full
    # numbers); the county above it reviews problem records and reads the reports.
    Role.SCHOOL: (_ADMINISTRATION - {_S.REVIEWS_READ, _S.REVIEWS_WRITE, _S.REPORTS_READ})
    | {_S.HANDOFF_READ, _S.HANDOFF_WRITE, _S.HANDOFF_IDENTITY},
    # A reviewer works the problem-record queue: reads the persons involved, decides, sees the dashboard.
    Role.REVIEWER: frozenset(
        {
            _S.CODES_VALIDATE,
            _S.CODES_READ,
            _S.SEARCH_READ,
            _S.STUDENTS_READ,
            _S.REVIEWS_READ,
            _S.REVIEWS_WRITE,
            _S.REPORTS_READ,
            _S.SCHOOLS_READ,
            _S.COLLECTION_REVIEW,
        }
    ),
    # A partner agency checks that a code and a few demographics belong together: yes/no per field,
    # never a record, a search result, a code's lineage or the audit trail.
    Role.PARTNER: frozenset({_S.CODES_VALIDATE, _S.IDENTITY_NORMALIZE, _S.VERIFICATIONS_WRITE}),
    # A registry of another stage hands children over, claims admitted students, pulls their records
    # (with full document numbers: admission is keyed by identity) and follows the change feed.
    Role.REGISTRY: frozenset(
        {
            _S.CODES_VALIDATE,
            _S.IDENTITY_NORMALIZE,
            _S.HANDOFF_READ,
            _S.HANDOFF_WRITE,
            _S.HANDOFF_IDENTITY,
            _S.FEED_READ,
            _S.SCHOOLS_READ,
        }
    ),
}


class StaffRole(StrEnum):
    """A named person's part in the collection workflow (shared/domain/workflows.md)."""

    ENTRY_CLERK = "entry_clerk"
    SCHOOL_REVIEWER = "school_reviewer"
    COUNTY_REVIEWER = "county_reviewer"
    CITY_REVIEWER = "city_reviewer"
    PROVINCE_OPERATOR = "province_operator"


# What reviewing above the school needs: read the records and persons, decide problem records, approve
# transfers, read the reports. Not entering data: whoever enters is answerable for it, and that is the
# school's clerk (docs/adr/014-named-staff.md).
_REVIEWING = frozenset(
    {
        _S.CODES_VALIDATE,
        _S.CODES_READ,
        _S.SEARCH_READ,
        _S.STUDENTS_READ,
        _S.REVIEWS_READ,
        _S.REVIEWS_WRITE,
        _S.TRANSFERS_WRITE,
        _S.FEED_READ,
        _S.REPORTS_READ,
        _S.COLLECTION_REVIEW,
    }
)
# The clerk enters and submits; checking a submission is someone else's step (docs/adr/019).
_ENTERING = (_ADMINISTRATION - {_S.REVIEWS_READ, _S.REVIEWS_WRITE, _S.COLLECTION_REVIEW}) | {
    _S.HANDOFF_READ,
    _S.HANDOFF_WRITE,
    _S.HANDOFF_IDENTITY,
}

# A second ceiling, inside the client's: a staff member acts with the scopes their client holds and
# their workflow role allows, never more.
STAFF_ROLE_SCOPES: dict[StaffRole, frozenset[Scope]] = {
    # The school's clerk collects, enters and corrects; the school's checker is answerable for the
    # school's data before it goes up, so does the same and reads the school's figures.
    StaffRole.ENTRY_CLERK: _ENTERING,
    StaffRole.SCHOOL_REVIEWER: _ENTERING | {_S.REPORTS_READ, _S.COLLECTION_REVIEW},
    StaffRole.COUNTY_REVIEWER: _REVIEWING,
    StaffRole.CITY_REVIEWER: _REVIEWING,
    # The province runs the collection: bulk registration, problem records province-wide, the school
    # year, the circulars. Everything its client holds.
    StaffRole.PROVINCE_OPERATOR: frozenset(Scope),
}


def staff_scopes(client_scopes: frozenset[str], staff_role: StaffRole | str) -> frozenset[str]:
    """The scopes a staff member acts with: their client's, cut to their workflow role's ceiling."""
    return client_scopes & {s.value for s in STAFF_ROLE_SCOPES[StaffRole(staff_role)]}


def parse_scopes(text: str, role: Role) -> frozenset[Scope]:
    """Parse a space-separated scope list for a client of ``role``; ``all`` grants every scope of the role.

    Unknown names, and scopes the role may never hold, raise ValueError naming them.
    """
    names = text.split()
    allowed = ROLE_SCOPES[role]
    if names == ["all"]:
        return allowed
    scopes = set()
    for name in names:
        try:
            scopes.add(Scope(name))
        except ValueError:
            raise ValueError(f"unknown scope {name!r}") from None
    refused = sorted(s.value for s in scopes - allowed)
    if refused:
        raise ValueError(f"role {role.value} may not hold {', '.join(refused)}")
    return frozenset(scopes)


def held_scopes(role: Role | str, stored: str) -> frozenset[str]:
    """The scopes a stored client really holds: its list cut to its role's ceiling (a client stored
    before the ceiling existed may list more)."""
    ceiling = {s.value for s in ROLE_SCOPES[Role(role)]}
    return frozenset(stored.split()) & ceiling


def role_scope_table() -> str:
    """The ceiling as a Markdown table (README and the OpenAPI description print this)."""
    roles = list(Role)
    head = "| scope | " + " | ".join(r.value for r in roles) + " |"
    rule = "|---" * (len(roles) + 1) + "|"
    rows = [
        f"| `{s.value}` | " + " | ".join("✓" if s in ROLE_SCOPES[r] else "" for r in roles) + " |"
        for s in Scope
    ]
    return "\n".join([head, rule, *rows])
