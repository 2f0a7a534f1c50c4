"""Fixtures for the batch tests: the committed app without its batch runner, and people to register."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from gateway.context import AppContext
from tests.fixtures.registrations import citizen

SCHOOL = {"school_code": "4101020001", "school_region": "410102"}
COLUMNS = [
    "record_id",
    "name",
    "gender",
    "birth_date",
    "id_type",
    "id_number",
    "household_region",
    "guardian_name",
    "school_code",
    "school_region",
]


def child(name: str, gender: str, birth: str, sequence: str, guardian: str, **extra: str) -> dict[str, str]:
    """A child of Zhongyuan district (410102) with a resident ID that agrees with the record."""
    return {
        "name": name,
        "gender": gender,
        "birth_date": birth,
        "id_type": "resident_id",
        "id_number": citizen("410102" + birth.replace("-", "") + sequence),
        "household_region": "410102",
        "guardian_name": guardian,
        **SCHOOL,
        **extra,
    }


# Five different children (odd sequence digits are boys, even girls, as in a real ID number).
CHILDREN = [
    child("王子涵", "1", "2016-09-01", "001", "王建国"),
    child("李雨桐", "2", "2017-03-15", "002", "李明"),
    child("张浩然", "1", "2015-11-20", "013", "张伟"),
    child("陈思琪", "2", "2016-04-08", "024", "陈刚"),
    child("赵宇轩", "1", "2017-07-30", "035", "赵磊"),
]


def to_csv(rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def read_results(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def count(ctx: AppContext, model: type, *where: Any) -> int:
    with Session(ctx.engine) as s:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int(s.execute(query).scalar_one())


@pytest.fixture
def batch_api(committed_api: TestClient, committed_context: AppContext) -> Iterator[TestClient]:
    """The committed app with the batch routes, and no background runner: each test runs its batches."""
    runner = committed_context.services.pop("batches", None)
    if runner is not None:
        runner.close()
    yield committed_api
