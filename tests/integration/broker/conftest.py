"""A broker served by ``covenant serve``'s app on a fresh database of the stack's PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from covenant.app import BackgroundServer, create_app
from covenant.kernel.config import CovenantConfig
from tests.integration.conftest import RunningStack, fresh_database

RW_TOKEN = "rw-" + secrets.token_hex(8)
RO_TOKEN = "ro-" + secrets.token_hex(8)


@dataclass
class Broker:
    url: str
    database_url: str
    rw_token: str = RW_TOKEN
    ro_token: str = RO_TOKEN

    def client(self, token: str | None = RW_TOKEN) -> httpx.Client:
        headers = {"Accept": "application/hal+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def broker_config(database_url: str, **broker: object) -> CovenantConfig:
    return CovenantConfig.model_validate(
        {
            "engines": {"postgres": {"url": database_url}},
            "broker": {
                "read_write_tokens": [RW_TOKEN],
                "read_only_tokens": [RO_TOKEN],
                "allow_anonymous_read": True,
                **broker,
            },
        }
    )


@pytest.fixture(scope="session")
def broker(stack: RunningStack) -> Iterator[Broker]:
    database_url = fresh_database(stack, "broker_it")
    with BackgroundServer(create_app(broker_config(database_url))) as server:
        yield Broker(server.url, database_url)
