from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.auth.caller import Caller, ClientFields
from gateway.auth.dependencies import authenticate
from gateway.auth.scopes import Role
from gateway.identity.endpoints import router
from gateway.problems import install_error_handlers
from tests.identity.helpers import make_id


def client_with_scopes(*scopes: str) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    caller = Caller.of_client(ClientFields("c1", "test school", Role.SCHOOL, "CN"), scopes=scopes)
    app.dependency_overrides[authenticate] = lambda: caller
    return TestClient(app)


@pytest.fixture
def client() -> TestClient:
    return client_with_scopes("identity:normalize")


def test_record_that_normalises(client: TestClient) -> None:
    number = make_id("110105", "20150307", "002")
    body = {"name": "張 曉涵", "gender": 1, "birth_date": "2015/3/7", "id_type": "1", "id_number": number}
    response = client.post("/v1/identity/normalize", json=body)
    assert response.status_code == 200
    payload: dict[str, Any] = response.json()
    assert payload["record"]["name"] == "张晓涵"
    assert payload["record"]["birth_date"] == "2015-03-07"
    assert payload["errors"] == []
    assert payload["flags"] == ["id_gender_mismatch"]


def test_record_with_errors_is_a_422_problem(client: TestClient) -> None:
    response = client.post("/v1/identity/normalize", json={"name": "<b>x</b>", "birth_date": "2015-02-30"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    codes = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert {("name", "bad_character"), ("birth_date", "impossible_date")} <= codes


@pytest.mark.parametrize("body", [[], "text", {"name": ["a"]}, {"name": {"x": 1}}, {"gender": 1.5}])
def test_malformed_bodies_are_422_never_500(client: TestClient, body: object) -> None:
    response = client.post("/v1/identity/normalize", json=body)
    assert response.status_code == 422


def test_scope_required() -> None:
    response = client_with_scopes("codes:read").post("/v1/identity/normalize", json={})
    assert response.status_code == 403
