"""The scopes a client may hold, named ``resource:action``, and the roles and stages that exist.

A token carries the scopes its client holds (or the subset it asked for); each endpoint requires
exactly one scope. The README lists them with what each allows.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
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


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.CODES_READ: "validate codes and resolve a code to the current one with its lineage",
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


def parse_scopes(text: str) -> frozenset[Scope]:
    """Parse a space-separated scope list; ``all`` grants every scope. Unknown names raise ValueError."""
    names = text.split()
    if names == ["all"]:
        return frozenset(Scope)
    scopes = set()
    for name in names:
        try:
            scopes.add(Scope(name))
        except ValueError:
            raise ValueError(f"unknown scope {name!r}") from None
    return frozenset(scopes)
