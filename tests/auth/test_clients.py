"""Client registration rules: roles, jurisdictions, scopes and stages."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from gateway.auth import service
from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import ROLE_SCOPES, Role, Scope, parse_scopes
from gateway.errors import InvalidInput


@pytest.mark.parametrize(
    ("role", "jurisdiction"),
    [
        ("central", "CN"),
        ("province", "41"),
        ("city", "4101"),
        ("county", "410102"),
        ("school", "4101020001"),
        ("reviewer", "410102"),
        ("partner", "CN"),
        ("registry", "41"),
    ],
)
def test_each_role_accepts_its_jurisdiction(session: Session, role: str, jurisdiction: str) -> None:
    stage = "vocational" if role == "registry" else None
    created = service.create_client(
        session, name="x", role=role, jurisdiction=jurisdiction, scopes="all", stage=stage
    )
    assert created.client.jurisdiction == jurisdiction


@pytest.mark.parametrize(
    ("role", "jurisdiction", "field"),
    [
        ("province", "CN", "jurisdiction"),
        ("county", "41", "jurisdiction"),
        ("mayor", "41", "role"),
        ("central", "4", "jurisdiction"),
        ("school", "41", "jurisdiction"),
    ],
)
def test_mismatched_role_and_jurisdiction_are_refused(
    session: Session, role: str, jurisdiction: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        service.create_client(session, name="x", role=role, jurisdiction=jurisdiction, scopes="all")
    assert field in {e.field for e in info.value.errors}


def test_unknown_scope_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as info:
        service.create_client(
            session, name="x", role="central", jurisdiction="CN", scopes="codes:read codes:delete"
        )
    assert [e.field for e in info.value.errors] == ["scopes"]


def test_registry_needs_a_stage_and_others_have_none(session: Session) -> None:
    with pytest.raises(InvalidInput):
        service.create_client(session, name="x", role="registry", jurisdiction="CN", scopes="all")
    with pytest.raises(InvalidInput):
        service.create_client(
            session, name="x", role="county", jurisdiction="410102", scopes="all", stage="preschool"
        )


def test_all_means_every_scope_of_the_role() -> None:
    for role in Role:
        assert parse_scopes("all", role) == ROLE_SCOPES[role]
    assert parse_scopes("codes:read  search:read", Role.COUNTY) == {Scope.CODES_READ, Scope.SEARCH_READ}
    # Every scope is held by some role, and no role holds them all.
    assert set().union(*ROLE_SCOPES.values()) == set(Scope)
    assert all(ROLE_SCOPES[role] != frozenset(Scope) for role in Role)


@pytest.mark.parametrize("role", list(Role))
def test_a_scope_beyond_the_role_is_refused_at_creation_naming_it(session: Session, role: Role) -> None:
    beyond = sorted(set(Scope) - ROLE_SCOPES[role])
    jurisdiction = {"school": "4101020001", "county": "410102", "city": "4101", "province": "41"}.get(
        role.value, "CN"
    )
    stage = "higher_education" if role is Role.REGISTRY else None
    for scope in beyond:
        with pytest.raises(InvalidInput) as refused:
            service.create_client(
                session, name="x", role=role.value, jurisdiction=jurisdiction, scopes=scope.value, stage=stage
            )
        [error] = refused.value.errors
        assert error.field == "scopes" and scope.value in error.message
    created = service.create_client(
        session, name="x", role=role.value, jurisdiction=jurisdiction, scopes="all", stage=stage
    )
    assert set(created.client.scopes.split()) == {s.value for s in ROLE_SCOPES[role]}


def test_a_partner_can_check_but_never_read_search_or_audit() -> None:
    partner = ROLE_SCOPES[Role.PARTNER]
    assert Scope.VERIFICATIONS_WRITE in partner and Scope.CODES_VALIDATE in partner
    for never in (Scope.STUDENTS_READ, Scope.SEARCH_READ, Scope.AUDIT_READ, Scope.CODES_READ):
        assert never not in partner


@pytest.mark.parametrize(
    ("jurisdiction", "region", "school", "covered"),
    [
        ("CN", "650102", None, True),
        ("41", "410102", None, True),
        ("41", "420102", None, False),
        ("4101", "410102", None, True),
        ("4101", "410202", None, False),
        ("410102", "410102", None, True),
        ("410102", "410103", None, False),
        ("4101020001", "410102", "4101020001", True),
        ("4101020001", "410102", "4101020002", False),
        ("41", None, None, False),
    ],
)
def test_jurisdiction_covers(
    jurisdiction: str, region: str | None, school: str | None, covered: bool
) -> None:
    assert Jurisdiction.parse(jurisdiction).covers(region, school) is covered


@pytest.mark.parametrize("bad", ["", "4", "123", "41010", "X1", "41010200012"])
def test_bad_jurisdictions(bad: str) -> None:
    with pytest.raises(ValueError):
        Jurisdiction.parse(bad)
