"""The monthly progress return: the command's CSV figures against counts taken straight from the
database, the JSON endpoint against the command, month and region rules, and jurisdiction."""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session
from typer.testing import CliRunner

from gateway.context import AppContext
from gateway.errors import InvalidInput
from gateway.idgen.models import CodeLineage, IssuedCode
from gateway.persons.models import Person
from gateway.registry.models import ProblemRecord, VerificationJob
from gateway.reports import service
from gateway.reports.commands import report_app
from gateway.reports.endpoints import router
from gateway.students.models import StatusEvent
from tests.fixtures.api import register_caller

CST = timezone(timedelta(hours=8))
SEPT_START = datetime(2026, 9, 1, tzinfo=CST)
OCT_START = datetime(2026, 10, 1, tzinfo=CST)
# Schools in two cities of Henan, and one in Beijing (outside the report of region 41).
REGIONS = ("410102", "410105", "410302", "110101")
# The command as the gateway CLI mounts it: ``gateway report progress``.
cli = typer.Typer()
cli.add_typer(report_app, name="report")


def _when(rng: random.Random) -> datetime:
    # From mid-August to mid-October (UTC), so that each month boundary is crossed.
    return datetime(2026, 8, 15, tzinfo=UTC) + timedelta(minutes=rng.randrange(60 * 24 * 60))


def _seed(engine: Engine) -> None:
    """Persons, codes, promotions, jobs, problem records and transfers at random instants."""
    rng = random.Random(20260901)
    with Session(engine) as s:
        persons: list[Person] = []
        for i in range(60):
            region = rng.choice(REGIONS)
            created = _when(rng)
            code = f"L{region}20160901{i:04d}"
            person = Person(
                current_code=code,
                region=region,
                birth_date=date(2016, 9, 1),
                created_at=created,
                updated_at=created,
            )
            s.add(person)
            s.flush()
            persons.append(person)
            s.add(IssuedCode(code=code, type="L", person_id=person.id, issued_at=created, issued_by="t"))
            s.flush()
            job_done = rng.random() < 0.7
            finished = created + timedelta(hours=rng.randrange(1, 24 * 20))
            s.add(
                VerificationJob(
                    person_id=int(person.id or 0),
                    status="done" if job_done else "queued",
                    next_attempt_at=created,
                    created_at=created,
                    finished_at=finished if job_done else None,
                    outcome=rng.choice(["verified", "failed", "not_applicable"]) if job_done else None,
                )
            )
            if job_done and rng.random() < 0.6:
                kind = rng.choice("GJ")
                formal = f"{kind}{region}20160901{i:03d}X{kind}"[:19]
                s.get(IssuedCode, code).status = "superseded"  # type: ignore[union-attr]
                s.flush()
                s.add(
                    IssuedCode(code=formal, type=kind, person_id=person.id, issued_at=finished, issued_by="t")
                )
                s.add(
                    CodeLineage(
                        person_id=int(person.id or 0),
                        old_code=code,
                        new_code=formal,
                        reason="verified_and_deduplicated",
                        actor="t",
                        occurred_at=finished,
                    )
                )
                person.current_code = formal
                s.add(person)
                s.flush()
        # A merge is not a promotion even though its lineage points at a formal code.
        s.add(
            CodeLineage(
                person_id=int(persons[0].id or 0),
                old_code=persons[0].current_code,
                new_code="G" + "1" * 18,
                reason="merge",
                actor="t",
                occurred_at=datetime(2026, 9, 10, tzinfo=UTC),
            )
        )
        for _ in range(40):
            opened = _when(rng)
            status = rng.choice(["open", "needs_evidence", "resolved", "resolved"])
            decided = opened + timedelta(days=rng.randrange(0, 30)) if status != "open" else None
            s.add(
                ProblemRecord(
                    type="possible_duplicate",
                    status=status,
                    region=rng.choice(REGIONS),
                    opened_at=opened,
                    opened_by="t",
                    decided_at=decided,
                )
            )
        for person in persons[:24]:
            day = date(2026, rng.choice([8, 9, 9, 10]), rng.randrange(1, 29))
            target = rng.choice(REGIONS)
            for event, region in (("transferred_out", person.region), ("transferred_in", target)):
                s.add(
                    StatusEvent(
                        person_id=int(person.id or 0),
                        event=event,
                        from_status="x",
                        to_status="y",
                        effective_date=day,
                        region=region,
                        recorded_by="t",
                        recorded_at=datetime(2026, 9, 1, tzinfo=UTC),
                    )
                )
                s.flush()
        s.commit()


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _expected(engine: Engine, prefix: str) -> dict[str, Counter[str]]:
    """The September figures of ``prefix``'s cities, counted in Python from plain SELECTs."""
    start, end = SEPT_START, OCT_START
    out: dict[str, Counter[str]] = {}

    def add(region: str, field: str) -> None:
        if region.startswith(prefix):
            out.setdefault(region[:4], Counter())[field] += 1

    def in_month(value: Any) -> bool:
        moment = _aware(value)
        return moment is not None and start <= moment < end

    with engine.connect() as conn:
        region_of: dict[int, str] = dict(conn.execute(text("SELECT id, region FROM person")).all())
        for _code, kind, person_id, issued_at in conn.execute(
            text("SELECT code, type, person_id, issued_at FROM issued_code")
        ):
            if in_month(issued_at):
                add(
                    region_of[person_id],
                    {"L": "codes_temporary", "G": "codes_formal_g", "J": "codes_formal_j"}[kind],
                )
        for person_id, reason, occurred in conn.execute(
            text("SELECT person_id, reason, occurred_at FROM code_lineage")
        ):
            if reason not in ("merge", "unmerge") and in_month(occurred):
                add(region_of[person_id], "promotions")
        for person_id, status, outcome, created, finished in conn.execute(
            text("SELECT person_id, status, outcome, created_at, finished_at FROM verification_job")
        ):
            if status == "done" and in_month(finished):
                add(region_of[person_id], f"verification_{outcome}")
            finished_at = _aware(finished)
            if _aware(created) < end and (finished_at is None or finished_at >= end):  # type: ignore[operator]
                add(region_of[person_id], "verification_pending")
        for region, status, opened, decided in conn.execute(
            text("SELECT region, status, opened_at, decided_at FROM problem_record")
        ):
            opened_at, decided_at = _aware(opened), _aware(decided)
            assert opened_at is not None
            if in_month(opened):
                add(region, "problems_opened")
            if status == "resolved" and in_month(decided):
                add(region, "problems_closed")
            open_at_end = opened_at < end and not (status == "resolved" and decided_at < end)  # type: ignore[operator]
            if open_at_end:
                days = (end - opened_at).days
                bucket = (
                    "0_7" if days <= 7 else "8_30" if days <= 30 else "31_90" if days <= 90 else "over_90"
                )
                add(region, f"backlog_{bucket}")
        events = conn.execute(
            text("SELECT person_id, event, region, effective_date FROM status_event ORDER BY id")
        ).all()
    last_out: dict[int, str] = {}
    for person_id, event, region, effective in events:
        if event == "transferred_out":
            last_out[person_id] = region
            continue
        day = effective if isinstance(effective, date) else date.fromisoformat(effective)
        sending = last_out.get(person_id)
        if date(2026, 9, 1) <= day <= date(2026, 9, 30) and sending and sending[:2] != region[:2]:
            add(region, "transfers_in")
            add(sending, "transfers_out")
    return out


@pytest.fixture
def cli_env(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, supplied_keys: None) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))


def test_command_figures_equal_counts_taken_from_the_database(
    cli_env: None, fresh_engine: Engine, tmp_path: Path
) -> None:
    _seed(fresh_engine)
    out_dir = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["report", "progress", "--month", "2026-09", "--region", "41", "--out", str(out_dir)]
    )
    assert result.exit_code == 0, result.output
    expected = _expected(fresh_engine, "41")
    assert {"4101", "4103"} <= set(expected)  # the seed reaches both cities
    # The seed reaches every figure but the oldest backlog bucket, so each definition is exercised.
    assert len(set().union(*expected.values())) >= 15
    for city in ("4101", "4102", "4103"):
        rows = dict(
            csv.reader((out_dir / f"progress-2026-09-{city}.csv").read_text(encoding="utf-8").splitlines())
        )
        assert rows["region"] == city and rows["month"] == "2026-09"
        got = {
            k: int(v) for k, v in rows.items() if k not in ("metric", "month", "region", "name") and v != "0"
        }
        assert got == dict(expected.get(city, Counter())), city
        png = (out_dir / f"progress-2026-09-{city}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert rows["name"] == "洛阳市"
    # No Beijing figures leak into the Henan return.
    assert not list(out_dir.glob("progress-2026-09-11*"))
    summary = list(csv.DictReader((out_dir / "progress-2026-09-41-summary.csv").open(encoding="utf-8")))
    total = summary[-1]
    assert total["region"] == "41"
    assert int(total["problems_opened"]) == sum(c["problems_opened"] for c in expected.values())


def test_endpoint_returns_the_same_figures_as_the_command(
    cli_env: None, committed_api: TestClient, committed_context: AppContext, tmp_path: Path
) -> None:
    committed_api.app.include_router(router)  # type: ignore[attr-defined]
    _seed(committed_context.engine)
    city = register_caller(
        committed_api, committed_context.engine, role="city", jurisdiction="4101", scopes="reports:read"
    )
    reply = committed_api.get("/v1/reports/progress?month=2026-09&region=4101", headers=city.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["region"] == "4101" and body["regions"]
    result = CliRunner().invoke(
        cli, ["report", "progress", "--month", "2026-09", "--region", "4101", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    for figures in body["regions"]:
        rows = dict(
            csv.reader((tmp_path / "o" / f"progress-2026-09-{figures['region']}.csv").open(encoding="utf-8"))
        )
        assert {k: str(v) for k, v in figures.items() if k != "name"} == {
            k: rows[k] for k in figures if k != "name"
        }
    default = committed_api.get("/v1/reports/progress?month=2026-09", headers=city.headers).json()
    assert default["regions"] == body["regions"]


def test_endpoint_refuses_regions_outside_the_jurisdiction(
    committed_api: TestClient, committed_context: AppContext
) -> None:
    committed_api.app.include_router(router)  # type: ignore[attr-defined]
    county = register_caller(
        committed_api, committed_context.engine, role="county", jurisdiction="410102", scopes="reports:read"
    )
    assert (
        committed_api.get("/v1/reports/progress?month=2026-09&region=41", headers=county.headers).status_code
        == 403
    )
    assert (
        committed_api.get("/v1/reports/progress?month=2026-09&region=CN", headers=county.headers).status_code
        == 403
    )
    own = committed_api.get("/v1/reports/progress?month=2026-09&region=410102", headers=county.headers)
    assert own.status_code == 200 and [r["region"] for r in own.json()["regions"]] == ["410102"]
    no_scope = register_caller(
        committed_api, committed_context.engine, role="county", jurisdiction="410102", scopes="reviews:read"
    )
    assert (
        committed_api.get("/v1/reports/progress?month=2026-09", headers=no_scope.headers).status_code == 403
    )
    bad = committed_api.get("/v1/reports/progress?month=2026-13", headers=county.headers)
    assert bad.status_code == 422


def test_month_bounds_are_calendar_months_in_china_standard_time() -> None:
    start, end = service.month_bounds("2026-12")
    assert (start.isoformat(), end.isoformat()) == ("2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00")
    with pytest.raises(InvalidInput):
        service.month_bounds("2026-9")


def test_regions_are_normalised_and_their_children_come_from_the_division_table() -> None:
    assert service.normalise_region("410000") == "41"
    assert service.normalise_region("410100") == "4101"
    assert service.normalise_region("cn") == "CN"
    with pytest.raises(InvalidInput):
        service.normalise_region("4")
    cities = service.known_children("41")
    assert "4101" in cities and "4103" in cities and all(len(c) == 4 for c in cities)
    assert service.known_children("410102") == ["410102"]
    assert "11" in service.known_children("CN") and "41" in service.known_children("CN")


def test_a_month_not_yet_begun_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput):
        service.progress_report(session, "2026-09", "41", now=datetime(2026, 8, 1, tzinfo=UTC))


def test_a_month_outside_the_calendar_the_report_knows_is_refused_naming_it() -> None:
    for month in ("0000-01", "9999-12"):
        with pytest.raises(InvalidInput) as refused:
            service.month_bounds(month)
        assert refused.value.errors[0].field == "month"
