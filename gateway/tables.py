"""Every table of the gateway, imported in one place so alembic and tests see the whole schema."""

from sqlmodel import SQLModel

from gateway import registrykeys  # noqa: F401  (its table belongs to the schema too)
from gateway.audit.models import AuditEvent
from gateway.auth.models import ApiClient, AuthThrottle, StaffAccount
from gateway.batches.models import Batch, BatchReview, BatchRow, CollectionPlanStep
from gateway.feed.models import ChangeEvent
from gateway.handoff.models import (
    Admission,
    Export,
    ExportFileChunk,
    Intake,
    WebhookDelivery,
    WebhookSubscription,
)
from gateway.idgen.models import CodeLineage, CodeSequence, IssuedCode
from gateway.limits.models import AdapterQuota
from gateway.persons.models import BlockingKey, Person, PersonIdentifier
from gateway.registry.models import (
    IdempotencyRecord,
    MatchDecision,
    MatchModelVersion,
    Merge,
    ProblemPerson,
    ProblemRecord,
    RecordCorrection,
    VerificationJob,
)
from gateway.schools.models import School
from gateway.students.models import SchoolYearClose, StatusEvent, Transfer, TransferStep

metadata = SQLModel.metadata

__all__ = [
    "AdapterQuota",
    "Admission",
    "ApiClient",
    "AuditEvent",
    "AuthThrottle",
    "Batch",
    "BatchReview",
    "BatchRow",
    "BlockingKey",
    "ChangeEvent",
    "CodeLineage",
    "CodeSequence",
    "CollectionPlanStep",
    "Export",
    "ExportFileChunk",
    "IdempotencyRecord",
    "Intake",
    "IssuedCode",
    "MatchDecision",
    "MatchModelVersion",
    "Merge",
    "Person",
    "PersonIdentifier",
    "ProblemPerson",
    "ProblemRecord",
    "RecordCorrection",
    "School",
    "SchoolYearClose",
    "StaffAccount",
    "StatusEvent",
    "Transfer",
    "TransferStep",
    "VerificationJob",
    "WebhookDelivery",
    "WebhookSubscription",
    "metadata",
]
