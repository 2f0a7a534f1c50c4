"""The national duplicate sweep over a registry holding the same children twice: it opens one
possible-duplicate problem record per new pair, with the model and score it used, never one for a
pair already open or decided, nothing at all the second time, and only within the region asked."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.context import AppContext
from gateway.db import session_scope
from gateway.identity import normalise_record
from gateway.matching import generate_labelled
from gateway.persons.models import Person
from gateway.registry.models import ProblemPerson, ProblemRecord
from gateway.registry.problems import open_problem
from gateway.registry.service import new_person
from gateway.registry.sweep import SweepOptions, sweep
from gateway.settings import Settings
from gateway.wiring import build_context, close_context


@pytest.fixture
def registered(committed_context: AppContext) -> dict[int, str]:
    """Messy records of 150 children, about a third registered twice: person id -> child."""
    return register_children(committed_context, 150)


def register_children(context: AppContext, children: int) -> dict[int, str]:
    data = generate_labelled(children, 41)
    child_of: dict[int, str] = {}
    with session_scope(context.engine) as session:
        for row in data.rows:
            record = normalise_record(row).record
            if record is None:
                continue
            person, _ = new_person(
                session,
                region=record.household_region or "410102",
                school_code=None,
                birth_date=record.birth_date,
                actor="test",
                record=record,
                keyring=context.keyring,
            )
            child_of[int(person.id or 0)] = data.person_of[row["record_id"]]
    return child_of


def _sweep(ctx: AppContext, region: str | None = None):  # type: ignore[no-untyped-def]
    return sweep(ctx.engine, ctx.keyring, ctx.services.registry.model, SweepOptions(region=region))


def _pairs_opened(session: Session) -> list[tuple[int, int]]:
    problems = session.exec(select(ProblemRecord).where(ProblemRecord.opened_by == "sweep")).all()
    pairs = []
    for problem in problems:
        named = session.exec(
            select(ProblemPerson.person_id).where(ProblemPerson.problem_id == problem.id)
        ).all()
        pairs.append(tuple(sorted(named)))
    return pairs  # type: ignore[return-value]


def test_a_sweep_opens_a_problem_record_per_pair_and_a_second_opens_nothing(
    committed_context: AppContext, registered: dict[int, str]
) -> None:
    true_pairs = {(a, b) for a in registered for b in registered if a < b and registered[a] == registered[b]}
    first = _sweep(committed_context)
    assert first.persons == len(registered)
    assert first.opened == first.match_pairs + first.review_pairs > 0 and first.already_known == 0
    with Session(committed_context.engine) as session:
        pairs = _pairs_opened(session)
        problems = session.exec(select(ProblemRecord).where(ProblemRecord.opened_by == "sweep")).all()
    assert len(pairs) == len(set(pairs)) == first.opened
    assert all(len(p) == 2 for p in pairs)
    found = set(pairs)
    # Most children registered twice are found, and what is found is mostly real.
    assert len(found & true_pairs) >= 0.8 * len(true_pairs)
    assert len(found & true_pairs) >= 0.8 * len(found)
    for problem in problems:
        assert problem.type == "possible_duplicate" and problem.status == "open"
        (hit,) = json.loads(problem.explanation_json or "")
        config = committed_context.services.registry.model.config
        assert hit["config"] == f"{config.name}@{config.version}" and hit["model"]
        assert hit["band"] in ("match", "review") and 0.5 <= hit["probability"] <= 1.0
        assert {f["field"] for f in hit["fields"]} >= {"name", "birth_date", "id_number"}
    second = _sweep(committed_context)
    assert second.opened == 0
    assert second.already_known == first.opened
    with Session(committed_context.engine) as session:
        assert sorted(_pairs_opened(session)) == sorted(pairs)


@pytest.mark.postgres
def test_two_sweeps_at_once_open_each_pair_once(
    committed_context: AppContext, registered: dict[int, str]
) -> None:
    results = []
    threads = [threading.Thread(target=lambda: results.append(_sweep(committed_context))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    with Session(committed_context.engine) as session:
        pairs = _pairs_opened(session)
    assert len(pairs) == len(set(pairs)) == sum(r.opened for r in results) > 0
    # Each pair was opened by one sweep; the other found it known.
    assert sorted(r.opened + r.already_known for r in results) == [len(pairs), len(pairs)]


def test_a_pair_already_decided_or_open_is_not_reopened(
    committed_context: AppContext, registered: dict[int, str]
) -> None:
    by_child: dict[str, list[int]] = {}
    for person_id, child in registered.items():
        by_child.setdefault(child, []).append(person_id)
    twice = [sorted(ids)[:2] for ids in by_child.values() if len(ids) >= 2][:2]
    with session_scope(committed_context.engine) as session:
        persons = {p.id: p for p in session.exec(select(Person)).all()}
        for k, (a, b) in enumerate(twice):
            problem = open_problem(
                session, committed_context.keyring, kind="possible_duplicate", region=persons[a].region,
                school_code=None, opened_by="school", subject=persons[a], candidates=[b],
            )  # fmt: skip
            if k == 0:
                problem.status, problem.decision = "decided", "different_persons"
                session.add(problem)
    summary = _sweep(committed_context)
    with Session(committed_context.engine) as session:
        opened = set(_pairs_opened(session))
    for a, b in twice:
        assert (a, b) not in opened
    assert summary.already_known >= 1


def test_a_region_sweep_reads_and_opens_only_within_the_region(
    committed_context: AppContext, registered: dict[int, str]
) -> None:
    with Session(committed_context.engine) as session:
        regions = {int(p.id or 0): p.region for p in session.exec(select(Person)).all()}
    province = max(
        {r[:2] for r in regions.values()}, key=lambda p: sum(r.startswith(p) for r in regions.values())
    )
    summary = _sweep(committed_context, region=province)
    assert summary.persons == sum(r.startswith(province) for r in regions.values()) < len(regions)
    with Session(committed_context.engine) as session:
        pairs = _pairs_opened(session)
    assert len(pairs) == summary.opened > 0
    assert all(regions[p].startswith(province) for pair in pairs for p in pair)


def test_merged_persons_are_not_swept(committed_context: AppContext, registered: dict[int, str]) -> None:
    with session_scope(committed_context.engine) as session:
        merged = session.exec(select(Person).order_by(col(Person.id)).limit(10)).all()
        for person in merged:
            person.status = "merged"
            session.add(person)
    summary = _sweep(committed_context)
    assert summary.persons == len(registered) - 10
    with Session(committed_context.engine) as session:
        pairs = _pairs_opened(session)
    assert not {p.id for p in merged} & {p for pair in pairs for p in pair}


def test_the_sweep_command_prints_progress_and_a_summary_and_refuses_a_bad_region(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, supplied_keys: None
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    context = build_context(Settings())
    try:
        register_children(context, 60)
    finally:
        close_context(context)
    runner = CliRunner()
    bad = runner.invoke(app, ["sweep", "--region", "4x"])
    assert bad.exit_code == 2 and "--region" in bad.output
    first = runner.invoke(app, ["sweep"])
    assert first.exit_code == 0, first.output
    assert "read: " in first.output and "swept the whole country" in first.output
    opened = int(re.search(r"([\d,]+) problem records opened", first.output).group(1))  # type: ignore[union-attr]
    assert opened > 0
    again = runner.invoke(app, ["sweep", "--engine", "duckdb"])
    assert f"0 problem records opened, {opened} pairs already open or decided" in again.output


def test_a_sweep_on_spark_opens_the_pairs_a_sweep_on_duckdb_would(
    committed_context: AppContext, registered: dict[int, str]
) -> None:
    ctx = committed_context
    spark = sweep(ctx.engine, ctx.keyring, ctx.services.registry.model, SweepOptions(engine="spark"))
    with Session(ctx.engine) as session:
        on_spark = sorted(_pairs_opened(session))
    duckdb = _sweep(ctx)
    assert spark.opened == len(on_spark) > 0
    assert (duckdb.match_pairs, duckdb.review_pairs) == (spark.match_pairs, spark.review_pairs)
    assert duckdb.opened == 0 and duckdb.already_known == spark.opened
