"""Who is calling: the client, its role, jurisdiction and scopes, and the named person acting through it.

A plain value, built in one place (``Caller.of_client``) by the HTTP layer from a token, by a CLI
command from a stored client, and by workers from what they recorded (a batch's submitter, a webhook
subscriber). Services take it as an argument and know nothing of where it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import Role, Scope, StaffRole, staff_scopes


class ClientLike(Protocol):
    """What a caller is built from: a stored client (``ApiClient``) or ``ClientFields``."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def jurisdiction(self) -> str: ...
    @property
    def stage(self) -> str | None: ...


@dataclass(frozen=True)
class ClientFields:
    """A client's fields as recorded elsewhere (a batch keeps its submitter's as they were)."""

    id: str
    name: str
    role: str
    jurisdiction: str
    stage: str | None = None


class StaffLike(Protocol):
    """The named person acting through a client (``StaffAccount``), already checked to belong to it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def jurisdiction(self) -> str: ...


@dataclass(frozen=True)
class Caller:
    client_id: str
    client_name: str
    role: Role
    jurisdiction: Jurisdiction
    scopes: frozenset[str]
    stage: str | None
    # The staff id of the named person acting (docs/adr/014-named-staff.md); None when the client acts
    # for itself. Operator commands and workers pass what they recorded (``cli``, a batch's submitter).
    acting_user: str | None
    request_id: str | None
    staff_role: StaffRole | None = None
    staff_name: str | None = None

    @classmethod
    def of_client(
        cls,
        client: ClientLike,
        *,
        scopes: str | Iterable[str],
        acting_user: str | None = None,
        request_id: str | None = None,
        staff: StaffLike | None = None,
    ) -> Caller:
        """The caller a client is, holding ``scopes`` (a space-separated string or the names).

        With ``staff``, the caller is that person acting through the client: their jurisdiction (the
        client's or narrower), their id as the acting user, the scopes cut to their workflow role.
        """
        held = frozenset(scopes.split() if isinstance(scopes, str) else scopes)
        if staff is not None:
            return cls(
                client_id=client.id,
                client_name=client.name,
                role=Role(client.role),
                jurisdiction=Jurisdiction(staff.jurisdiction),
                scopes=staff_scopes(held, staff.role),
                stage=client.stage,
                acting_user=staff.id,
                request_id=request_id,
                staff_role=StaffRole(staff.role),
                staff_name=staff.name,
            )
        return cls(
            client_id=client.id,
            client_name=client.name,
            role=Role(client.role),
            jurisdiction=Jurisdiction(client.jurisdiction),
            scopes=frozenset(held),
            stage=client.stage,
            acting_user=acting_user,
            request_id=request_id,
        )

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes
