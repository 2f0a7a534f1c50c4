"""Who is calling: the client, its role, jurisdiction and scopes, and the person acting through it.

A plain value, built in one place (``Caller.of_client``) by the HTTP layer from a token, by a CLI
command from a stored client, and by workers from what they recorded (a batch's submitter, a webhook
subscriber). Services take it as an argument and know nothing of where it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.auth.jurisdiction import Jurisdiction
from gateway.auth.scopes import Role, Scope


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


@dataclass(frozen=True)
class Caller:
    client_id: str
    client_name: str
    role: Role
    jurisdiction: Jurisdiction
    scopes: frozenset[str]
    stage: str | None
    acting_user: str | None
    request_id: str | None

    @classmethod
    def of_client(
        cls,
        client: ClientLike,
        *,
        scopes: str | Iterable[str],
        acting_user: str | None = None,
        request_id: str | None = None,
    ) -> Caller:
        """The caller a client is, holding ``scopes`` (a space-separated string or the names)."""
        held = scopes.split() if isinstance(scopes, str) else scopes
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
