"""Thin webhooks: tell a subscriber that its change feed has something new, so that it pulls.

A notification carries the event type, the feed version and the subscriber's ``subject_id`` only,
never a record or a code; the subscriber reads ``GET /v1/feed`` for the rest, which is where scope
and audit apply. Messages are signed in the Standard Webhooks style (``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1,<HMAC-SHA256>``) with the subscription's ``whsec_``
secret, and delivered by the worker: a delivery row is written per event (so nothing is lost when
the process dies), then attempted with backoff until it is accepted (2xx) or given up.

Targets are checked by ``gateway.handoff.egress`` at subscription and again at every attempt, and
each request goes to the address that was checked. A subscriber learns only the class of each
attempt's outcome (``DeliveryOutcome``), never the status code or the error its URL produced: the
deliveries would otherwise tell it which ports of which hosts answer.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import httpx
from sqlalchemy import Engine
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook

from gateway.audit import service as audit
from gateway.auth import repository as clients
from gateway.auth.caller import Caller
from gateway.auth.scopes import Scope
from gateway.clock import as_utc, utcnow
from gateway.db import session_scope
from gateway.errors import FieldError, InvalidInput, NotFound
from gateway.feed import repository as feed_repository
from gateway.handoff import repository
from gateway.handoff.egress import TargetPolicy, TargetRefused, TargetUnresolved
from gateway.handoff.feed import feed_events
from gateway.handoff.models import WebhookDelivery, WebhookSubscription
from gateway.handoff.presentation import subject_id
from gateway.keyring import KeyRing
from gateway.persons.repository import current_holder

logger = logging.getLogger(__name__)

ENCRYPTION_CONTEXT = "webhook:secret"
# The schedule Standard Webhooks recommends, after the first attempt: then the delivery is given up.
BACKOFF = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
ENQUEUE_LIMIT = 1000
DELIVERY_TIMEOUT = 10.0
LEASE = timedelta(minutes=2)


class DeliveryOutcome(StrEnum):
    """What became of a delivery's last attempt, as its subscriber is told."""

    DELIVERED = "delivered"  # 2xx
    REJECTED = "rejected"  # any other answer below 500 (redirects are not followed)
    FAILED = "failed"  # 5xx
    UNREACHABLE = "unreachable"  # no answer: the name did not resolve, no connection, timeout, TLS
    REFUSED_ADDRESS = "refused_address"  # the name now resolves to an address we do not send to
    SUBSCRIPTION_ENDED = "subscription_ended"  # unsubscribed before it was sent


def outcome_of_status(status_code: int) -> DeliveryOutcome:
    if 200 <= status_code < 300:
        return DeliveryOutcome.DELIVERED
    return DeliveryOutcome.FAILED if status_code >= 500 else DeliveryOutcome.REJECTED


def last_outcome(delivery: WebhookDelivery) -> DeliveryOutcome | None:
    """The class of a delivery's last attempt; None before the first."""
    if delivery.last_error is not None:
        try:
            return DeliveryOutcome(delivery.last_error)
        except ValueError:  # rows written before outcome classes held an exception name
            return DeliveryOutcome.UNREACHABLE
    return None if delivery.last_status is None else outcome_of_status(delivery.last_status)


@dataclass(frozen=True)
class NewSubscription:
    subscription: WebhookSubscription
    secret: str  # shown once, at creation


def _check_url(policy: TargetPolicy, url: str) -> str:
    try:
        return str(policy.check(url).url)
    except TargetRefused as exc:
        raise InvalidInput(errors=[FieldError("url", exc.code, exc.message)]) from None
    except TargetUnresolved:
        raise InvalidInput(
            errors=[FieldError("url", "unresolvable", "the host of this webhook URL does not resolve")]
        ) from None


def subscribe(
    session: Session, keyring: KeyRing, caller: Caller, url: str, policy: TargetPolicy
) -> NewSubscription:
    """A new subscription starting at the feed's present version; its secret is returned only now.
    The URL must be https to a host whose every address is public (``gateway.handoff.egress``)."""
    checked = _check_url(policy, url)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    since = feed_repository.latest_version(session)
    subscription = WebhookSubscription(
        id=f"wh_{secrets.token_hex(8)}",
        client_id=caller.client_id,
        url=checked,
        secret_encrypted=keyring.encrypt(secret, ENCRYPTION_CONTEXT),
        cursor_version=since,
        created_at=utcnow(),
    )
    repository.add(session, subscription)
    audit.record(
        session, action="webhook.subscribe", caller=caller, object_type="webhook", object_ref=subscription.id
    )
    return NewSubscription(subscription, secret)


def subscriptions_of(session: Session, caller: Caller) -> Sequence[WebhookSubscription]:
    return repository.subscriptions_of(session, caller.client_id)


def unsubscribe(session: Session, caller: Caller, subscription_id: str) -> None:
    subscription = repository.get_subscription(session, subscription_id)
    if subscription is None or subscription.client_id != caller.client_id or not subscription.active:
        raise NotFound("no such webhook subscription")
    subscription.active = False
    session.add(subscription)
    audit.record(
        session,
        action="webhook.unsubscribe",
        caller=caller,
        object_type="webhook",
        object_ref=subscription_id,
    )


def _subscriber(session: Session, client_id: str) -> Caller | None:
    client = clients.get_client(session, client_id)
    if client is None or client.disabled_at is not None:
        return None
    caller = Caller.of_client(client, scopes=client.scopes)
    return caller if caller.has(Scope.FEED_READ) else None


def enqueue(engine: Engine, keyring: KeyRing) -> int:
    """Write a delivery for every feed event each active subscriber may see; returns how many."""
    written = 0
    with session_scope(engine) as session:
        ids = [s.id for s in repository.active_subscriptions(session)]
    for subscription_id in ids:
        with session_scope(engine) as session:
            subscription = repository.get_subscription(session, subscription_id, for_update=True)
            assert subscription is not None
            caller = _subscriber(session, subscription.client_id)
            if caller is None:
                continue
            events, _scoped = feed_events(session, caller, subscription.cursor_version, ENQUEUE_LIMIT)
            now = utcnow()
            for event in events:
                holder = int(current_holder(session, event.person_id).id or 0)
                payload = {
                    "type": event.type,
                    "timestamp": as_utc(event.occurred_at).isoformat(),
                    "data": {
                        "version": event.version,
                        "subject_id": subject_id(keyring, caller.client_id, holder),
                    },
                }
                repository.add(
                    session,
                    WebhookDelivery(
                        id=f"msg_{secrets.token_hex(12)}",
                        subscription_id=subscription.id,
                        version=event.version,
                        payload=json.dumps(payload, separators=(",", ":")),
                        next_attempt_at=now,
                        created_at=now,
                    ),
                )
            if events:
                subscription.cursor_version = events[-1].version
                session.add(subscription)
            written += len(events)
    return written


@dataclass(frozen=True)
class _Attempt:
    outcome: DeliveryOutcome
    status_code: int | None = None  # kept for operators, never shown to the subscriber


def _attempt(
    client: httpx.Client, policy: TargetPolicy, webhook: Webhook, delivery: _Claimed, now: datetime
) -> _Attempt:
    try:
        # Checked again now: the name may resolve elsewhere than when the subscription was made.
        target = policy.check(delivery.url)
    except TargetRefused:
        return _Attempt(DeliveryOutcome.REFUSED_ADDRESS)
    except TargetUnresolved:
        return _Attempt(DeliveryOutcome.UNREACHABLE)
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": webhook.sign(delivery.id, now, delivery.payload),
    }
    request = target.request(client, delivery.payload.encode(), headers, DELIVERY_TIMEOUT)
    try:
        reply = client.send(request, follow_redirects=False)
        reply.close()
    except httpx.HTTPError:
        return _Attempt(DeliveryOutcome.UNREACHABLE)
    return _Attempt(outcome_of_status(reply.status_code), reply.status_code)


@dataclass(frozen=True)
class _Claimed:
    id: str
    url: str
    secret: str
    payload: str


def _claim_due(engine: Engine, keyring: KeyRing, now: datetime) -> list[_Claimed]:
    # Leased for a while before the HTTP call, which runs outside any transaction: a slow
    # subscriber must not hold the database, and a second worker must not send the same message.
    claimed: list[_Claimed] = []
    with session_scope(engine) as session:
        for delivery in repository.due_deliveries(session, now):
            subscription = repository.get_subscription(session, delivery.subscription_id)
            assert subscription is not None
            if not subscription.active:
                delivery.status = "failed"
                delivery.last_error = DeliveryOutcome.SUBSCRIPTION_ENDED.value
            else:
                delivery.next_attempt_at = now + LEASE
                secret = keyring.decrypt(subscription.secret_encrypted, ENCRYPTION_CONTEXT)
                claimed.append(_Claimed(delivery.id, subscription.url, secret, delivery.payload))
            session.add(delivery)
    return claimed


def _record_attempt(engine: Engine, delivery_id: str, attempt: _Attempt, now: datetime) -> bool:
    with session_scope(engine) as session:
        delivery = repository.get_delivery(session, delivery_id, for_update=True)
        assert delivery is not None
        delivery.attempts += 1
        accepted = attempt.outcome is DeliveryOutcome.DELIVERED
        delivery.last_status = attempt.status_code
        # Only the class of an attempt that got no answer; an answer is known by its status code.
        delivery.last_error = None if attempt.status_code is not None else attempt.outcome.value
        if accepted:
            delivery.status, delivery.delivered_at = "delivered", now
        elif delivery.attempts > len(BACKOFF):
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
        session.add(delivery)
        return accepted


def deliver_due(
    engine: Engine,
    keyring: KeyRing,
    client: httpx.Client,
    policy: TargetPolicy,
    *,
    now: datetime | None = None,
) -> int:
    """Attempt every delivery that is due; returns how many were accepted by their subscriber."""
    now = now or utcnow()
    accepted = 0
    for claimed in _claim_due(engine, keyring, now):
        attempt = _attempt(client, policy, Webhook(claimed.secret), claimed, now)
        accepted += _record_attempt(engine, claimed.id, attempt, now)
    return accepted


def dispatch_once(engine: Engine, keyring: KeyRing, client: httpx.Client, policy: TargetPolicy) -> int:
    """One pass of the worker: enqueue new events, then deliver what is due."""
    enqueue(engine, keyring)
    return deliver_due(engine, keyring, client, policy)


def deliveries_of(session: Session, caller: Caller, subscription_id: str) -> Sequence[WebhookDelivery]:
    """The deliveries of one of the caller's subscriptions, oldest event first."""
    subscription = repository.get_subscription(session, subscription_id)
    if subscription is None or subscription.client_id != caller.client_id:
        raise NotFound("no such webhook subscription")
    return repository.deliveries_of(session, subscription_id)
