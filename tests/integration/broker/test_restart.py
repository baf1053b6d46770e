"""The broker across restarts: of the app (same database), with a webhook
delivery in flight, and of its PostgreSQL (a private one, never the shared stack's)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from covenant.app import BackgroundServer, create_app
from covenant.kernel.stackstate import load_state
from covenant.stack.manager import StackManager
from tests.conftest import wait_until
from tests.integration.broker._webhook_receiver import (
    Receiver,
    finished,
    publish,
    unique,
)
from tests.integration.broker.conftest import RW_TOKEN, broker_config, fresh_database
from tests.integration.conftest import RunningStack, make_state_dir, stack_config


def client(url: str) -> httpx.Client:
    return httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {RW_TOKEN}", "Accept": "application/hal+json"},
        timeout=30,
    )


def test_everything_is_still_there_after_the_app_restarts(stack: RunningStack) -> None:
    database_url = fresh_database(stack, "broker_restart")
    consumer, provider = unique("rs-c"), unique("rs-p")
    with (
        BackgroundServer(create_app(broker_config(database_url))) as first,
        client(first.url) as api,
    ):
        publish(api, consumer, provider, "1.0.0", branch="main")
        hook = api.post(
            "/webhooks",
            json={
                "description": "kept",
                "events": [{"name": "contract_published"}],
                "request": {"method": "POST", "url": "https://ci.example/x"},
                "consumer": {"name": consumer},
            },
        )
        assert hook.status_code == 201
        hook_path = "/webhooks/" + hook.json()["uuid"]
        environment = api.post("/environments", json={"name": unique("rs-env")})
        assert environment.status_code == 201, environment.text
        environment_path = "/environments/" + environment.json()["uuid"]
        before = {
            path: api.get(path).json()
            for path in (
                f"/pacts/provider/{provider}/consumer/{consumer}/version/1.0.0",
                f"/pacticipants/{consumer}",
                hook_path,
                environment_path,
            )
        }
    with (
        BackgroundServer(create_app(broker_config(database_url))) as second,
        client(second.url) as api,
    ):
        for path, was in before.items():
            now = api.get(path)
            assert now.status_code == 200, path
            body = now.json()
            for key in ("consumer", "provider", "name", "description", "events", "request"):
                assert body.get(key) == was.get(key), (path, key)
        latest = api.get(f"/pacts/provider/{provider}/consumer/{consumer}/branch/main/latest")
        assert latest.status_code == 200
        publish(api, consumer, provider, "1.0.1", marker="b")


def test_a_delivery_interrupted_by_a_stop_is_retried_at_the_next_start(
    stack: RunningStack,
) -> None:
    database_url = fresh_database(stack, "broker_redeliver")
    consumer, provider = unique("rd-c"), unique("rd-p")
    slow = broker_config(database_url, webhook_timeout_s=60, webhook_retries=0)
    with Receiver(hang=True) as receiver:
        with BackgroundServer(create_app(slow)) as first, client(first.url) as api:
            publish(api, consumer, provider, "1")
            hook = api.post(
                "/webhooks",
                json={
                    "events": [{"name": "contract_published"}],
                    "request": {"method": "POST", "url": receiver.url + "/late"},
                    "consumer": {"name": consumer},
                },
            )
            href = hook.json()["_links"]["self"]["href"]
            publish(api, consumer, provider, "2", marker="b")
            receiver.wait_for(1)  # the delivery is in flight, the receiver sits on it
        # The first broker stopped mid-delivery: the delivery is still pending.
        receiver.hang = False
        with BackgroundServer(create_app(broker_config(database_url))) as second:
            path = href.split("/webhooks/", 1)[1]
            with client(second.url) as api:
                [delivery] = finished(api, f"{second.url}/webhooks/{path}")
        assert delivery["status"] == "succeeded", delivery["logs"]
        assert delivery["attemptsMade"] == 1
        assert [r.path for r in receiver.requests] == ["/late", "/late"]


@dataclass
class PrivatePostgres:
    manager: StackManager
    url: str


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of our own, so stopping it cannot disturb the shared stack."""
    state_dir = make_state_dir("covenant-broker-pg-")
    manager = StackManager(stack_config(state_dir, engines=["postgres"]))
    try:
        manager.up()
        yield PrivatePostgres(manager, load_state(state_dir).engines["postgres"].url)
    finally:
        manager.down(purge=True)
        shutil.rmtree(state_dir, ignore_errors=True)


def _is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type") == "application/problem+json"


def test_the_broker_outlives_a_postgres_restart(private_postgres: PrivatePostgres) -> None:
    consumer, provider = unique("pg-c"), unique("pg-p")
    pact_path = f"/pacts/provider/{provider}/consumer/{consumer}/version/1"
    with (
        BackgroundServer(create_app(broker_config(private_postgres.url))) as server,
        client(server.url) as api,
    ):
        publish(api, consumer, provider, "1")
        assert api.get(pact_path).status_code == 200

        private_postgres.manager.down()
        # (each waits for the pool's connection timeout before giving up)
        while_down = [api.get(pact_path), api.post("/webhooks", json={})]
        for response in while_down:
            assert response.status_code == 503, response.text
            assert _is_problem(response), response.text

        private_postgres.manager.up()
        answers: list[int] = []

        def answers_again() -> bool:
            response = api.get(pact_path)
            answers.append(response.status_code)
            assert response.status_code in (200, 503), response.text
            if response.status_code == 503:
                assert _is_problem(response)
            return response.status_code == 200

        wait_until(answers_again, timeout=30, interval=0.2, what="the broker after the restart")
        assert api.get(pact_path).json()["consumer"]["name"] == consumer
        publish(api, consumer, provider, "2", marker="b")
        assert api.get(f"/pacticipants/{consumer}/versions/2").status_code == 200
