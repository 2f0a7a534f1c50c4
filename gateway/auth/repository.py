"""SQL for API clients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select, update

from gateway.auth.models import ApiClient


def add_client(session: Session, client: ApiClient) -> None:
    session.add(client)
    session.flush()


def get_client(session: Session, client_id: str) -> ApiClient | None:
    return session.get(ApiClient, client_id)


def list_clients(session: Session) -> Sequence[ApiClient]:
    return session.exec(select(ApiClient).order_by(ApiClient.created_at)).all()  # type: ignore[arg-type]


def touch_client(session: Session, client_id: str, when: datetime) -> None:
    session.execute(update(ApiClient).where(ApiClient.id == client_id).values(last_used_at=when))  # type: ignore[arg-type]
