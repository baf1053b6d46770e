"""Malformed requests to the broker (tests/corpus/broker/*.jsonl), sent over HTTP to
``covenant serve``'s app on a fresh database of the stack's PostgreSQL: each gets
its documented status (400 breaks the published schema, 422 schema-valid but
impossible, 404, 413), an RFC 9457 problem document naming where, never a 5xx,
and nothing in the broker's tables changes.

One server, one client and one seeded database for the whole corpus. Regenerate
the corpus with ``.venv/bin/python tests/corpus/generate_broker.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from psycopg import sql

from covenant.app import BackgroundServer, create_app
from tests.integration.broker.conftest import RW_TOKEN, broker_config, fresh_database
from tests.integration.conftest import RunningStack

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "broker"
FILES = ("bodies", "query", "webhook_urls")
CASES: list[dict[str, Any]] = [
    json.loads(line)
    for name in FILES
    for line in (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
]
C, P = "corpus-consumer", "corpus-provider"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "*.allowed.test", "10.1.0.0/16", "::1"]
MAX_BODY_BYTES = 64 * 1024
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Seeded:
    client: httpx.Client
    database_url: str
    places: dict[str, str]
    tables: list[str]

    def fingerprint(self) -> dict[str, str]:
        """A digest of every row of every broker table."""
        parts = [
            sql.SQL(
                "SELECT {name}, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                " FROM broker.{table} t"
            ).format(name=sql.Literal(table), table=sql.Identifier(table))
            for table in self.tables
        ]
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()
        return {str(name): str(digest) for name, digest in rows}


def _pact(consumer: str, provider: str) -> dict[str, Any]:
    return {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [
            {
                "description": "a corpus request",
                "request": {"method": "GET", "path": "/corpus"},
                "response": {"status": 200},
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def seed(client: httpx.Client) -> dict[str, str]:
    """A pact, a verification, an environment, a deployment, a release, a webhook."""
    content = base64.b64encode(json.dumps(_pact(C, P)).encode()).decode()
    _ok(
        client.post(
            "/contracts/publish",
            json={
                "pacticipantName": C,
                "pacticipantVersionNumber": "1.0.0",
                "branch": "main",
                "contracts": [{"consumerName": C, "providerName": P, "content": content}],
            },
        )
    )
    pact = _ok(client.get(f"/pacts/provider/{P}/consumer/{C}/version/1.0.0"))
    results = pact["_links"]["pb:publish-verification-results"]["href"]
    sha = results.split("/pact-version/")[1].split("/")[0]
    _ok(client.post(results, json={"success": True, "providerApplicationVersion": "2.0.0"}))
    env = _ok(client.post("/environments", json={"name": "corpus-env"}))["uuid"]
    versions = f"/pacticipants/{P}/versions/2.0.0"
    deployed = _ok(client.post(f"{versions}/deployed-versions/environment/{env}", json={}))
    released = _ok(client.post(f"{versions}/released-versions/environment/{env}", json={}))
    hook = _ok(
        client.post(
            "/webhooks",
            json={
                "events": [{"name": "contract_requiring_verification_published"}],
                "request": {"method": "POST", "url": "http://127.0.0.1:9/hook"},
                "enabled": False,
            },
        )
    )
    return {
        "{C}": quote(C, safe=""),
        "{P}": quote(P, safe=""),
        "{V}": "1.0.0",
        "{PV}": "2.0.0",
        "{ENV}": env,
        "{SHA}": sha,
        "{DEP}": deployed["uuid"],
        "{REL}": released["uuid"],
        "{HOOK}": hook["uuid"],
    }


@pytest.fixture(scope="module")
def seeded(stack: RunningStack) -> Iterator[Seeded]:
    database_url = fresh_database(stack, "broker_corpus")
    config = broker_config(
        database_url, max_body_bytes=MAX_BODY_BYTES, webhook_allowed_hosts=ALLOWED_HOSTS
    )
    with (
        BackgroundServer(create_app(config)) as server,
        httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {RW_TOKEN}", "Accept": "application/hal+json"},
            timeout=30,
        ) as client,
    ):
        places = seed(client)
        with psycopg.connect(database_url, autocommit=True) as conn:
            tables = [
                str(row[0])
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = 'broker' AND table_type = 'BASE TABLE'"
                    " ORDER BY table_name"
                )
            ]
        yield Seeded(client, database_url, places, tables)


def request_of(case: dict[str, Any], places: dict[str, str]) -> dict[str, Any]:
    """httpx arguments for one case."""
    path = case["path"]
    for placeholder, value in places.items():
        path = path.replace(placeholder, value)
    request: dict[str, Any] = {"method": case["method"], "url": path}
    if case.get("query") is not None:
        request["params"] = [(name, value) for name, value in case["query"]]
    headers = {"Content-Type": "application/json"}
    if "body" in case:
        request["content"] = json.dumps(case["body"]).encode()
    elif "raw" in case:
        request["content"] = (case["raw"] * case.get("raw_repeat", 1)).encode()
    elif "raw_hex" in case:
        request["content"] = bytes.fromhex(case["raw_hex"])
    elif "raw_deep" in case:
        request["content"] = ("[" * case["raw_deep"] + "]" * case["raw_deep"]).encode()
    else:
        headers = {}
    request["headers"] = headers
    return request


def check_answer(case: dict[str, Any], response: httpx.Response) -> None:
    """The class of the answer: status, a problem document, and where it points."""
    shown = f"{case['id']}: {response.status_code} {response.text[:500]}"
    assert response.status_code < 500, shown
    assert response.status_code == case["expect"], shown
    assert response.headers.get("content-type", "").startswith("application/problem+json"), shown
    problem = response.json()
    assert problem.get("status") == response.status_code and problem.get("title"), shown
    assert "Traceback" not in response.text, shown
    where = case["where"]
    if where:
        named = [*problem.get("errors", {}), problem.get("detail", "")]
        assert any(where in text for text in named), f"{shown}\n(expected it to name {where!r})"


@pytest.fixture(scope="module")
def before(seeded: Seeded) -> dict[str, str]:
    return seeded.fingerprint()


def test_the_corpus_is_large_and_well_formed() -> None:
    assert len(CASES) >= 800
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert {case["expect"] for case in CASES} <= {400, 404, 413, 422}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_each_case_is_refused_and_nothing_is_stored(
    case: dict[str, Any], seeded: Seeded, before: dict[str, str]
) -> None:
    response = seeded.client.request(**request_of(case, seeded.places))
    check_answer(case, response)
    if case["method"] in WRITES:
        assert seeded.fingerprint() == before, f"{case['id']} changed the broker's tables"
