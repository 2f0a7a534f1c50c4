"""Every table of the gateway, imported in one place so alembic and tests see the whole schema."""

from sqlmodel import SQLModel

from gateway.audit.models import AuditEvent
from gateway.auth.models import ApiClient

metadata = SQLModel.metadata

__all__ = ["ApiClient", "AuditEvent", "metadata"]
