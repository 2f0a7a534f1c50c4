"""The registry's own matching model: estimated from the persons registered (never from reviewers'
labels), stored as a numbered version with the name frequencies its TF fields are weighed against,
activated by an operator (audited), and followed by a re-evaluation: stored auto-links the new version
would no longer make become problem records for a reviewer (nothing is unmerged or unlinked by a
machine), and persons the new version would link to each other open possible-duplicate records.

EM needs pairs of records of one person among its blocked pairs, and the registry's persons are
deduplicated: so the records it learns from are the persons and the submissions stored with the
auto-links made so far (each a second record of a registered person; whether it was one is not read,
so these are data, not labels). The name frequencies are counted over the persons only.

The TF table is stored with the version rather than counted at request time: a search then costs one
dictionary look-up per agreeing name, a version's scores are reproducible for as long as it is kept
(what a stored explanation says can be recomputed), and the registry's growth changes weights only
when an operator activates a retrained version. Values seen once are left out of the stored table,
since their frequency (1/N) is what an absent value gets anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from gateway.audit import service as audit
from gateway.clock import utcnow
from gateway.db import session_scope
from gateway.errors import Conflict, FieldError, InvalidInput, NotFound
from gateway.matching import MatchModel, record_to_row
from gateway.matching.batch import (
    RANDOM_PAIRS_PER_RECORD,
    candidate_pairs,
    learn,
    pair_levels,
    prepare_rows,
)
from gateway.matching.config import Thresholds
from gateway.matching.frequencies import count_frequencies
from gateway.matching.model import EMResult
from gateway.matching.scoring import score_pair
from gateway.persons import repository as people
from gateway.persons.records import person_to_record
from gateway.registry import problems, repository
from gateway.registry.models import MatchDecision, MatchModelVersion
from gateway.registry.modelstore import active_model, model_of_version
from gateway.registry.service import RegistryDeps, explanation_json, find_candidates, hit_explanation

PAGE = 1000
REEVALUATION_ACTOR = "matching:reevaluation"


@dataclass(frozen=True)
class Trained:
    """A version stored by ``train_from_registry``: its number, records read, how EM went."""

    version: int
    persons: int
    submissions: int
    em: EMResult | None
    fallbacks: tuple[str, ...]


SUBMISSION_PREFIX = "submitted:"


def _registry_rows(engine: Engine, deps: RegistryDeps) -> Iterator[dict[str, str]]:
    """The active persons, then the submissions of the stored auto-links (ids prefixed)."""
    after = 0
    while True:
        with session_scope(engine) as session:
            page = repository.active_persons_after(session, after, PAGE)
            rows = [record_to_row(person_to_record(p, deps.keyring)) for p in page]
        if not page:
            break
        after = int(page[-1].id or 0)
        yield from rows
    after = 0
    while True:
        with session_scope(engine) as session:
            decisions = repository.decisions_after(session, after, PAGE)
            submitted = [
                {
                    **record_to_row(problems.unseal_submission(d.submitted_encrypted, deps.keyring).record),
                    "record_id": f"{SUBMISSION_PREFIX}{d.id}",
                }
                for d in decisions
            ]
        if not decisions:
            return
        after = int(decisions[-1].id or 0)
        yield from submitted


def train_from_registry(
    engine: Engine,
    deps: RegistryDeps,
    actor: str,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> Trained:
    """Estimate u, m and the prior on the registry's active persons (labels unused; the guards fall
    back to the parameters started with) and count their names: stored as a new version, not active.
    The thresholds are the active version's (an operator's accepted thresholds carry over)."""
    base = deps.model
    config = base.config
    records, _, _ = prepare_rows(_registry_rows(engine, deps), config, progress)
    if len(records) < 2:
        raise Conflict("the registry holds fewer than two persons: nothing to train on")
    pairs = candidate_pairs(records, config)
    levels = pair_levels(records, pairs, base, progress)
    estimate = learn(
        records,
        pairs,
        levels,
        base,
        "EM on the registry's persons",
        seed=seed,
        progress=progress,
        random_count=RANDOM_PAIRS_PER_RECORD * len(records),
    )
    persons = [r for r in records if not r.record_id.startswith(SUBMISSION_PREFIX)]
    frequencies = count_frequencies(persons, config)
    with session_scope(engine) as session:
        thresholds = active_model(session, base, deps.model_cache).config.thresholds
        row = MatchModelVersion(
            config_label=config.label,
            parameters_json=estimate.model.to_json(),
            frequencies_json=frequencies.to_json(),
            match_probability=thresholds.match_probability,
            probable_probability=thresholds.probable_probability,
            review_probability=thresholds.review_probability,
            description=(
                estimate.model.trained
                if estimate.em is not None
                else f"the parameters started with (EM fell back), the registry's names: {base.trained}"
            )[:500],
            created_at=utcnow(),
            created_by=actor,
        )
        repository.add_model_version(session, row)
        assert row.id is not None
        audit.record(
            session, action="matching.train", actor=actor, object_type="match_model", object_ref=str(row.id)
        )
        return Trained(row.id, len(persons), len(records) - len(persons), estimate.em, estimate.fallbacks)


def _activate(session: Session, deps: RegistryDeps, version_id: int, actor: str) -> MatchModel:
    row = repository.get_model_version(session, version_id, for_update=True)
    if row is None:
        raise NotFound(f"no model version {version_id}")
    if row.status == "active":
        raise Conflict(f"model version {version_id} is already active")
    try:
        model = model_of_version(row, deps.model)
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    now = utcnow()
    previous = repository.active_versions_for_update(session)
    for old in previous:
        old.status = "retired"
        session.add(old)
    row.status, row.activated_at, row.activated_by = "active", now, actor
    session.add(row)
    session.flush()
    audit.record(
        session,
        action="matching.activate",
        actor=actor,
        object_type="match_model",
        object_ref=str(version_id),
        outcome="replaces " + (",".join(str(o.id) for o in previous) or "shipped"),
    )
    return model


@dataclass(frozen=True)
class Reevaluation:
    """What re-evaluating under a newly active version opened for reviewers."""

    links_checked: int
    links_questioned: int
    persons_checked: int
    duplicates_opened: int


def activate(
    engine: Engine, deps: RegistryDeps, version_id: int, actor: str, duplicate_limit: int = 1000
) -> Reevaluation:
    """Make a stored version the one every decision uses (audited), then re-evaluate under it."""
    with session_scope(engine) as session:
        _activate(session, deps, version_id, actor)
    return reevaluate(engine, deps, duplicate_limit)


def accept_thresholds(
    engine: Engine,
    deps: RegistryDeps,
    actor: str,
    *,
    match_probability: float,
    review_probability: float,
    duplicate_limit: int = 1000,
) -> tuple[int, Reevaluation]:
    """An operator accepts thresholds (a suggestion of the matching report, say): a new version with
    the active parameters and these thresholds, activated (both steps audited), then re-evaluated."""
    errors = [
        FieldError(name, "out_of_range", f"{name} must be above 0 and below 1")
        for name, value in (
            ("match_probability", match_probability),
            ("review_probability", review_probability),
        )
        if not 0 < value < 1
    ]
    if not errors and review_probability > match_probability:
        errors.append(
            FieldError("review_probability", "not_ordered", "review_probability must not exceed match")
        )
    if errors:
        raise InvalidInput(errors=errors)
    with session_scope(engine) as session:
        current = active_model(session, deps.model, deps.model_cache)
        probable = max(
            review_probability, min(current.config.thresholds.probable_probability, match_probability)
        )
        thresholds = Thresholds(
            match_probability=match_probability,
            probable_probability=probable,
            review_probability=review_probability,
        )
        source = repository.get_model_version(session, current.version) if current.version else None
        row = MatchModelVersion(
            config_label=current.config.label,
            parameters_json=current.to_json(),
            frequencies_json=source.frequencies_json if source is not None else None,
            match_probability=thresholds.match_probability,
            probable_probability=thresholds.probable_probability,
            review_probability=thresholds.review_probability,
            description=f"thresholds accepted by an operator on version {current.version or 'shipped'}",
            based_on=current.version,
            created_at=utcnow(),
            created_by=actor,
        )
        repository.add_model_version(session, row)
        assert row.id is not None
        audit.record(
            session,
            action="matching.thresholds_accept",
            actor=actor,
            object_type="match_model",
            object_ref=str(row.id),
            outcome=f"match {match_probability:.6g} review {review_probability:.6g}",
        )
        _activate(session, deps, row.id, actor)
        version = row.id
    return version, reevaluate(engine, deps, duplicate_limit)


def reevaluate(engine: Engine, deps: RegistryDeps, duplicate_limit: int = 1000) -> Reevaluation:
    """Under the active version: every stored auto-link made by another version is scored again
    (the submission against the person's record now); one it would no longer make opens an
    ``auto_link_review`` problem record (the link stands until a reviewer decides). Then the newest
    ``duplicate_limit`` persons are searched for (the registry-wide sweep is the batch engine's): a
    pair it would auto-link opens a ``possible_duplicate`` record, unless an open one names both."""
    checked = questioned = 0
    after = 0
    while True:
        with session_scope(engine) as session:
            model = active_model(session, deps.model, deps.model_cache)
            if model.version is None:
                return Reevaluation(0, 0, 0, 0)
            page = repository.decisions_to_recheck(session, model.version, after, PAGE)
            for decision in page:
                checked += 1
                questioned += _recheck_link(session, deps, model, decision.id or 0)
        if not page:
            break
        after = int(page[-1].id or 0)
    persons_checked, opened = _open_possible_duplicates(engine, deps, duplicate_limit)
    return Reevaluation(checked, questioned, persons_checked, opened)


def _recheck_link(session: Session, deps: RegistryDeps, model: MatchModel, decision_id: int) -> bool:
    decision = session.get(MatchDecision, decision_id, with_for_update=True)
    assert decision is not None
    holder = people.current_holder(session, decision.person_id)
    if holder.status != "active" or holder.id is None:
        return False
    submission = problems.unseal_submission(decision.submitted_encrypted, deps.keyring)
    result = score_pair(submission.record, person_to_record(holder, deps.keyring), model)
    if result.band == "match":
        return False
    linked = json.loads(decision.explanation_json)
    # One candidate, as registration's problem records list them, with when and why it was linked.
    explanation = [
        hit_explanation(holder.id, result)
        | {
            "reevaluated_under": model.version,
            "when_linked": {
                "probability": linked.get("probability"),
                "model_version": decision.model_version,
                "config": decision.config_label,
                "decided_at": decision.decided_at.isoformat(),
            },
        }
    ]
    problem = problems.open_problem_on_submission(
        session,
        deps.keyring,
        submission,
        kind="auto_link_review",
        actor=REEVALUATION_ACTOR,
        candidates=[holder.id],
        explanation=json.dumps(explanation, ensure_ascii=False),
    )
    decision.reviewed_problem_id = problem.id
    session.add(decision)
    return True


def _pair(a: int, b: int | None) -> tuple[int, int]:
    return (min(a, b or 0), max(a, b or 0))


def _open_possible_duplicates(engine: Engine, deps: RegistryDeps, limit: int) -> tuple[int, int]:
    opened = 0
    with session_scope(engine) as session:
        persons = list(repository.newest_active_persons(session, limit))
    seen: set[tuple[int, int]] = set()
    for person in persons:
        assert person.id is not None
        with session_scope(engine) as session:
            hits, _outcome, _holders = find_candidates(session, deps, person_to_record(person, deps.keyring))
            others = [h for h in hits if h.result.band == "match" and h.person.id not in (None, person.id)]
            new = [h for h in others if _pair(person.id, h.person.id) not in seen]
            seen.update(_pair(person.id, h.person.id) for h in new)
            ids = [int(h.person.id or 0) for h in new]
            if not ids or repository.open_problem_naming_all(session, [person.id, *ids]):
                continue
            subject = people.get_person(session, person.id)
            assert subject is not None
            problems.open_problem_about(
                session,
                deps.keyring,
                subject,
                kind="possible_duplicate",
                actor=REEVALUATION_ACTOR,
                candidates=ids,
                explanation=explanation_json(new),
            )
            opened += 1
    return len(persons), opened
