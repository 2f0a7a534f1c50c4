"""The lawful basis a handoff caller states for a call (its purpose and who approved it) and the
one audit row each disclosure of a student leaves, whoever discloses it: a record read, a claim, an
export or a transfer pull (docs/adr/004-handoff-disclosure.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from gateway.audit import service as audit
from gateway.auth.caller import Caller


@dataclass(frozen=True)
class Disclosure:
    """The lawful basis a caller states for a call: what for, and who approved it."""

    purpose: str
    approval_ref: str


def audit_disclosure(
    session: Session, caller: Caller | None, actor: str, code: str, action: str, disclosure: Disclosure
) -> None:
    """Audit one student disclosed under ``code``: by ``caller`` when a request discloses, else by
    ``actor`` (the client a background export writes for)."""
    audit.record(
        session,
        action=action,
        caller=caller,
        actor=None if caller else actor,
        object_type="person",
        object_ref=code,
        purpose=disclosure.purpose,
        approval_ref=disclosure.approval_ref,
    )
