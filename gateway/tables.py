"""Every table of the gateway, imported in one place so alembic and tests see the whole schema."""

from sqlmodel import SQLModel

from gateway.audit.models import AuditEvent
from gateway.auth.models import ApiClient
from gateway.idgen.models import CodeLineage, CodeSequence, IssuedCode
from gateway.registry.models import (
    BlockingKey,
    IdempotencyRecord,
    Merge,
    Person,
    PersonIdentifier,
    ProblemRecord,
    StatusEvent,
    VerificationJob,
)

metadata = SQLModel.metadata

__all__ = [
    "ApiClient",
    "AuditEvent",
    "BlockingKey",
    "CodeLineage",
    "CodeSequence",
    "IdempotencyRecord",
    "IssuedCode",
    "Merge",
    "Person",
    "PersonIdentifier",
    "ProblemRecord",
    "StatusEvent",
    "VerificationJob",
    "metadata",
]
