"""SQL of the handoff domain: admissions, intakes, exports, transfers and webhook subscriptions and
deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, delete, func, or_, select

from gateway.handoff.models import (
    Admission,
    Export,
    ExportFileChunk,
    Intake,
    WebhookDelivery,
    WebhookSubscription,
)
from gateway.students.models import Transfer, TransferStep
from gateway.students.repository import OPEN_TRANSFER_STATES


def get_admission(session: Session, client_id: str, person_id: int) -> Admission | None:
    return session.exec(
        select(Admission).where(Admission.client_id == client_id, Admission.person_id == person_id)
    ).first()


def add(
    session: Session,
    row: Admission | Intake | Export | Transfer | TransferStep | WebhookSubscription | WebhookDelivery,
) -> None:
    session.add(row)
    session.flush()


def admissions_page(session: Session, client_id: str, after_id: int, limit: int) -> Sequence[Admission]:
    """The client's admissions after ``after_id`` in id order (keyset pagination)."""
    return session.exec(
        select(Admission)
        .where(Admission.client_id == client_id, col(Admission.id) > after_id)
        .order_by(col(Admission.id))
        .limit(limit)
    ).all()


def admissions_of_persons(session: Session, person_ids: list[int]) -> Sequence[Admission]:
    if not person_ids:
        return []
    return session.exec(
        select(Admission).where(col(Admission.person_id).in_(person_ids)).order_by(col(Admission.id))
    ).all()


def admitted_person_ids(session: Session, client_id: str) -> list[int]:
    return list(session.exec(select(Admission.person_id).where(Admission.client_id == client_id)).all())


def get_intake(session: Session, intake_id: str, *, for_update: bool = False) -> Intake | None:
    return session.get(Intake, intake_id, populate_existing=True, with_for_update=for_update)


def get_export(session: Session, export_id: str, *, for_update: bool = False) -> Export | None:
    return session.get(Export, export_id, populate_existing=True, with_for_update=for_update)


def get_transfer(session: Session, transfer_id: int, *, for_update: bool = False) -> Transfer | None:
    return session.get(Transfer, transfer_id, populate_existing=True, with_for_update=for_update)


def overdue_transfers(
    session: Session, now: datetime, *, person_id: int | None = None, transfer_id: int | None = None
) -> Sequence[Transfer]:
    """Open transfers past their deadline whose expiry is not recorded yet, oldest deadline first;
    narrowed to one person or one transfer when given."""
    query = select(Transfer).where(col(Transfer.state).in_(OPEN_TRANSFER_STATES), col(Transfer.due_at) <= now)
    if person_id is not None:
        query = query.where(Transfer.person_id == person_id)
    if transfer_id is not None:
        query = query.where(Transfer.id == transfer_id)
    return session.exec(query.order_by(col(Transfer.due_at), col(Transfer.id))).all()


def transfers(
    session: Session,
    region_prefix: str | None,
    school: str | None,
    *,
    states: Sequence[str] | None,
    due_before: datetime | None,
) -> Sequence[Transfer]:
    """Transfers touching a region prefix ('' = everywhere) or a school, on either side; in one of
    ``states`` and due before ``due_before`` when given."""
    query = select(Transfer)
    if school is not None:
        query = query.where(or_(Transfer.from_school == school, Transfer.to_school == school))
    elif region_prefix:
        query = query.where(
            or_(
                col(Transfer.from_region).startswith(region_prefix),
                col(Transfer.to_region).startswith(region_prefix),
            )
        )
    if states is not None:
        query = query.where(col(Transfer.state).in_(states))
    if due_before is not None:
        query = query.where(col(Transfer.due_at) < due_before)
    return session.exec(query.order_by(col(Transfer.id))).all()


def steps_of(session: Session, transfer_id: int) -> Sequence[TransferStep]:
    return session.exec(
        select(TransferStep).where(TransferStep.transfer_id == transfer_id).order_by(col(TransferStep.id))
    ).all()


def get_subscription(
    session: Session, subscription_id: str, *, for_update: bool = False
) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, subscription_id, with_for_update=for_update)


def get_delivery(session: Session, delivery_id: str, *, for_update: bool = False) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id, with_for_update=for_update)


def subscriptions_of(session: Session, client_id: str) -> Sequence[WebhookSubscription]:
    return session.exec(
        select(WebhookSubscription)
        .where(WebhookSubscription.client_id == client_id, col(WebhookSubscription.active))
        .order_by(col(WebhookSubscription.created_at))
    ).all()


def active_subscriptions(session: Session) -> Sequence[WebhookSubscription]:
    return session.exec(
        select(WebhookSubscription)
        .where(col(WebhookSubscription.active))
        .order_by(col(WebhookSubscription.id))
    ).all()


def due_deliveries(session: Session, now: datetime, limit: int = 200) -> Sequence[WebhookDelivery]:
    return session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now)
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


def deliveries_of(session: Session, subscription_id: str) -> Sequence[WebhookDelivery]:
    return session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(col(WebhookDelivery.version))
    ).all()


def unfinished_intake_ids(session: Session) -> list[str]:
    return list(
        session.exec(select(Intake.id).where(Intake.status != "done").order_by(col(Intake.created_at))).all()
    )


def runnable_export_ids(session: Session, now: datetime) -> list[str]:
    """Exports accepted and not finished that nobody is writing: queued, or running with a lease
    that ran out (their process stopped)."""
    silent = (col(Export.status) == "running") & (
        col(Export.lease_until).is_(None) | (col(Export.lease_until) < now)
    )
    return list(
        session.exec(
            select(Export.id)
            .where((col(Export.status) == "queued") | silent)
            .order_by(col(Export.created_at))
        ).all()
    )


def expired_export_ids(session: Session, now: datetime) -> list[str]:
    """Finished exports whose files are past their retention (only finished ones have files)."""
    return list(
        session.exec(select(Export.id).where(Export.status == "done", col(Export.expires_at) <= now)).all()
    )


# --- export files stored in the database (gateway.handoff.storage) ---------------------------------


def next_chunk_seq(session: Session, export_id: str, name: str) -> int:
    last = session.exec(
        select(func.max(ExportFileChunk.seq)).where(
            ExportFileChunk.export_id == export_id, ExportFileChunk.name == name
        )
    ).one()
    return 0 if last is None else int(last) + 1


def add_chunk(session: Session, chunk: ExportFileChunk) -> None:
    session.add(chunk)


def chunk_seqs(session: Session, export_id: str, name: str) -> list[int]:
    query = (
        select(ExportFileChunk.seq)
        .where(ExportFileChunk.export_id == export_id, ExportFileChunk.name == name)
        .order_by(col(ExportFileChunk.seq))
    )
    return list(session.exec(query).all())


def get_chunk(session: Session, export_id: str, name: str, seq: int) -> ExportFileChunk | None:
    return session.get(ExportFileChunk, (export_id, name, seq))


def export_file_names(session: Session, export_id: str) -> list[str]:
    query = (
        select(ExportFileChunk.name)
        .where(ExportFileChunk.export_id == export_id)
        .distinct()
        .order_by(col(ExportFileChunk.name))
    )
    return list(session.exec(query).all())


def delete_export_chunks(session: Session, export_id: str) -> int:
    result = session.exec(delete(ExportFileChunk).where(col(ExportFileChunk.export_id) == export_id))
    return int(result.rowcount)
