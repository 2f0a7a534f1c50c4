"""Many gateways, one registry: three ``gateway serve`` processes behind nginx and two ``gateway
worker`` processes against one PostgreSQL, one gateway and one worker killed (SIGKILL) and started
again while sixteen clients register overlapping children through nginx.

What must hold afterwards: no child holds two codes, no code belongs to two children, every
registration that was acknowledged resolves to its child, and the public-security register was
asked no more often than the deployment's daily quota allows, whatever process asked.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from gateway import sealing
from gateway.db import build_engine
from gateway.idgen.service import resolve_code
from gateway.keyring import load_keyring
from gateway.settings import Settings
from tests.fixtures.replicas import NGINX, deployment, registrants

pytestmark = pytest.mark.postgres

CHILDREN = 1_200
REQUESTS = 2_000
CLIENTS = 16
QUOTA = 900  # calls a day the public-security register allows the whole deployment


def _register(http: httpx.Client, key: str, body: dict[str, str]) -> dict[str, Any] | None:
    """Send one registration until it is answered; a gateway dying under it is only a retry with the
    same key. None if it was never answered."""
    for attempt in range(20):
        try:
            reply = http.post("/v1/registrations", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            reply = None
        if reply is not None and reply.status_code < 500:
            answer: dict[str, Any] = reply.json()
            answer["status_code"] = reply.status_code
            return answer
        time.sleep(min(0.2 * (attempt + 1), 2.0))
    return None


@pytest.mark.skipif(not NGINX.exists(), reason="nginx is installed by `make test` (Debian's nginx-light)")
def test_three_gateways_and_two_workers_behind_nginx_survive_kills_with_one_code_per_child(
    fresh_db_url: str, tmp_path: Path
) -> None:
    children = registrants(CHILDREN, seed=41)
    rng = random.Random(7)
    # Every child once, and 800 of them again under another key, some at the same moment.
    plan = [(f"first-{n}", n) for n in range(CHILDREN)]
    plan += [(f"again-{k}", rng.randrange(CHILDREN)) for k in range(REQUESTS - CHILDREN)]
    rng.shuffle(plan)
    answers: dict[str, tuple[int, dict[str, Any] | None]] = {}
    lock = threading.Lock()
    with deployment(
        tmp_path,
        fresh_db_url,
        children,
        gateways=3,
        workers=2,
        GATEWAY_ADAPTERS__PUBLIC_SECURITY__DAILY_QUOTA=str(QUOTA),
    ) as running:
        token = running.central_token()

        def client(items: list[tuple[str, int]]) -> None:
            with httpx.Client(
                base_url=running.base, timeout=60, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                for key, child in items:
                    answer = _register(http, key, children[child])
                    with lock:
                        answers[key] = (child, answer)

        threads = [threading.Thread(target=client, args=(plan[i::CLIENTS],)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        while len(answers) < REQUESTS // 3:
            time.sleep(0.1)
        running.kill(running.gateways[0])
        running.kill(running.workers[0])
        time.sleep(1)
        running.start_gateway(0)
        running.start_worker(0)
        for thread in threads:
            thread.join()
        asked = running.mock_stats()["requests"]

    assert len(answers) == REQUESTS
    unanswered = [key for key, (_, answer) in answers.items() if answer is None]
    assert not unanswered
    refused = {key: a for key, (_, a) in answers.items() if a is not None and a["status_code"] >= 400}
    assert not refused, list(refused.items())[:3]

    # Every acknowledged code resolves, each child to one person, each person to one child.
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=fresh_db_url,
        secret_key=running.env["GATEWAY_SECRET_KEY"],
        token_keys_dir=running.env["GATEWAY_TOKEN_KEYS_DIR"],
        statement_keys_dir=running.env["GATEWAY_STATEMENT_KEYS_DIR"],
    )
    sealing.install_from(load_keyring(settings))
    engine = build_engine(fresh_db_url, pool_size=2)
    persons_of_child: dict[int, set[int]] = defaultdict(set)
    children_of_person: dict[int, set[int]] = defaultdict(set)
    try:
        with Session(engine) as session:
            for child, answer in answers.values():
                assert answer is not None
                if answer.get("code") is None:
                    assert answer["outcome"] == "review_required"
                    continue
                person = resolve_code(session, answer["code"]).person
                assert person.id is not None
                persons_of_child[child].add(person.id)
                children_of_person[person.id].add(child)
    finally:
        engine.dispose()
    assert persons_of_child, "no code was acknowledged"
    assert {child: ids for child, ids in persons_of_child.items() if len(ids) > 1} == {}
    assert {pid: kids for pid, kids in children_of_person.items() if len(kids) > 1} == {}
    # The register was asked at most as often as the deployment's quota allows, in total.
    assert asked <= QUOTA
