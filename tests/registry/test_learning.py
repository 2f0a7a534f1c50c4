"""The registry's own matching model: trained from its persons into a stored version, activated by an
operator (audited), recorded with every auto-link, and followed by a re-evaluation that opens the
right problem records (never unlinks anything itself)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEvent
from gateway.context import AppContext
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.persons.models import Person
from gateway.registry import learning
from gateway.registry.models import MatchDecision, MatchModelVersion, ProblemPerson, ProblemRecord
from tests.fixtures.api import ApiCaller
from tests.fixtures.registrations import SCHOOL, post_registration

# No ID document: the names, birth date, guardian and household decide.
A = {
    "name": "王子涵",
    "gender": "1",
    "birth_date": "2016-09-01",
    "id_type": "none",
    "household_region": "410102",
    "guardian_name": "王建国",
    **SCHOOL,
}
# Same name and month, another day and guardian: probability 0.42 with the shipped model (a new person).
B = {**A, "birth_date": "2016-09-20", "guardian_name": "李梅"}
# A homophone typo of A's name: probability 0.9995 with the shipped model (A's code, an auto-link).
A_TYPO = {**A, "name": "王子晗"}


def _register(api: TestClient, caller: ApiCaller, body: dict[str, Any], key: str) -> dict[str, Any]:
    reply = post_registration(api, caller, body, key)
    assert reply.status_code in (200, 201), reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def _rows(ctx: AppContext, model: type, *where: Any) -> list[Any]:
    with Session(ctx.engine) as session:
        return list(session.exec(select(model).where(*where)).all())


def test_train_from_registry_stores_a_version_that_an_audited_activation_makes_decide(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    ctx, deps = committed_context, committed_context.services.registry
    _register(committed_api, province, A, "a")
    _register(committed_api, province, B, "b")
    trained = learning.train_from_registry(ctx.engine, deps, "cli")
    assert trained.persons == 2
    assert trained.em is None and trained.fallbacks  # two persons: nothing to learn, the shipped m/u
    (version,) = _rows(ctx, MatchModelVersion)
    assert version.id == trained.version and version.status == "trained"
    assert json.loads(version.frequencies_json)["counts"]["name"] == {"王子涵": 2}
    assert json.loads(version.parameters_json)["fields"] == json.loads(deps.model.to_json())["fields"]
    assert not _rows(ctx, AuditEvent, AuditEvent.action == "matching.activate")

    learning.activate(ctx.engine, deps, trained.version, "cli")
    (audit,) = _rows(ctx, AuditEvent, AuditEvent.action == "matching.activate")
    assert audit.object_ref == str(trained.version) and audit.outcome == "replaces shipped"
    assert _rows(ctx, MatchModelVersion)[0].status == "active"

    # The active version decides: the auto-link records it, its score and the TF-adjusted explanation.
    linked = _register(committed_api, province, A_TYPO, "typo")
    assert linked["outcome"] == "existing"
    (decision,) = _rows(ctx, MatchDecision)
    assert decision.model_version == trained.version and decision.probability >= 0.99
    explained = json.loads(decision.explanation_json)
    assert explained["model_version"] == trained.version and explained["band"] == "match"
    by_field = {f["field"]: f for f in explained["fields"]}
    assert by_field["name"]["level"] == "homophone" and "tf" not in by_field["name"]
    assert by_field["guardian_name"]["level"] == "exact" and by_field["guardian_name"]["tf"] == 0.5

    second = learning.train_from_registry(ctx.engine, deps, "cli")
    assert second.submissions == 1  # the auto-link's submission is a record to learn from
    learning.activate(ctx.engine, deps, second.version, "cli")
    statuses = {v.id: v.status for v in _rows(ctx, MatchModelVersion)}
    assert statuses == {trained.version: "retired", second.version: "active"}
    audits = _rows(ctx, AuditEvent, AuditEvent.action == "matching.activate")
    assert [a.outcome for a in audits] == ["replaces shipped", f"replaces {trained.version}"]
    with pytest.raises(Conflict):
        learning.activate(ctx.engine, deps, second.version, "cli")
    with pytest.raises(NotFound):
        learning.activate(ctx.engine, deps, 999, "cli")


def test_reevaluation_questions_links_the_new_version_would_not_make_and_opens_duplicates(
    committed_api: TestClient, committed_context: AppContext, province: ApiCaller
) -> None:
    ctx, deps = committed_context, committed_context.services.registry
    a_code = _register(committed_api, province, A, "a")["code"]
    _register(committed_api, province, B, "b")
    assert _register(committed_api, province, A_TYPO, "typo") == {
        "outcome": "existing",
        "code": a_code,
        "code_type": "L",
    }
    persons = {p.birth_date.day: p for p in _rows(ctx, Person)}  # A born on the 1st, B on the 20th
    (decision,) = _rows(ctx, MatchDecision)
    assert decision.model_version is None and decision.person_id == persons[1].id
    assert 0.99 <= decision.probability < 0.9999

    # Stricter: the stored auto-link (0.9995) would now only be reviewed; A and B stay apart.
    strict, result = learning.accept_thresholds(
        ctx.engine, deps, "cli", match_probability=0.9999, review_probability=0.5
    )
    assert (result.links_checked, result.links_questioned) == (1, 1)
    assert (result.persons_checked, result.duplicates_opened) == (2, 0)
    (problem,) = _rows(ctx, ProblemRecord)
    assert problem.type == "auto_link_review" and problem.status == "open"
    assert problem.candidate_person_ids == str(persons[1].id) and problem.submitted_encrypted
    (explained,) = json.loads(problem.explanation_json or "")
    assert explained["band"] == "review" and explained["model_version"] == strict
    assert explained["when_linked"]["model_version"] is None
    assert _rows(ctx, MatchDecision)[0].reviewed_problem_id == problem.id
    assert len(_rows(ctx, Person)) == 2  # nothing unlinked or unmerged
    accepted = _rows(ctx, AuditEvent, AuditEvent.action == "matching.thresholds_accept")
    assert [a.object_ref for a in accepted] == [str(strict)]

    # Looser: A and B (0.42) would be linked: a possible-duplicate record names both, once.
    _loose, result = learning.accept_thresholds(
        ctx.engine, deps, "cli", match_probability=0.4, review_probability=0.3
    )
    assert (result.links_checked, result.links_questioned) == (0, 0)  # already questioned
    assert result.duplicates_opened == 1
    duplicates = _rows(ctx, ProblemRecord, ProblemRecord.type == "possible_duplicate")
    assert len(duplicates) == 1 and duplicates[0].opened_by == learning.REEVALUATION_ACTOR
    named = _rows(ctx, ProblemPerson, col(ProblemPerson.problem_id) == duplicates[0].id)
    assert {p.person_id for p in named} == {persons[1].id, persons[20].id}
    again = learning.reevaluate(ctx.engine, deps)
    assert again.duplicates_opened == 0 and len(_rows(ctx, ProblemRecord)) == 2


@pytest.mark.parametrize(
    ("match", "review", "field"),
    [(1.0, 0.5, "match_probability"), (0.9, 0.0, "review_probability"), (0.6, 0.7, "review_probability")],
)
def test_thresholds_refused_name_the_field_and_change_nothing(
    committed_context: AppContext, match: float, review: float, field: str
) -> None:
    deps = committed_context.services.registry
    with pytest.raises(InvalidInput) as refused:
        learning.accept_thresholds(
            committed_context.engine, deps, "cli", match_probability=match, review_probability=review
        )
    assert [e.field for e in refused.value.errors] == [field]
    assert _rows(committed_context, MatchModelVersion) == []
    assert _rows(committed_context, AuditEvent, AuditEvent.action == "matching.thresholds_accept") == []
