"""Every malformed pact of the corpus through the broker's two pact doors.

``POST /contracts/publish`` (the pact base64 in ``contracts[0].content``) and
``PUT /pacts/provider/P/consumer/C/version/V`` (the pact as the body). Each
must be refused with a problem document whose ``errors`` name the place (the
field, then ``#`` and the JSON pointer inside the pact), never a 5xx, and
nothing may be stored: the broker's tables have the same row counts after the
corpus as before it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import psycopg
from psycopg import sql

from tests.integration.broker.conftest import Broker
from tests.unit.test_corpus_pacts import CASES, raw_of

TABLES = (
    "pacticipants",
    "versions",
    "pact_versions",
    "pact_publications",
    "branches",
    "tags",
)


def counts(broker: Broker) -> dict[str, int]:
    with psycopg.connect(broker.database_url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM broker.{}").format(sql.Identifier(table))
            ).fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def _names(raw: bytes) -> tuple[str, str]:
    """The names the case's pact gives, when it gives them as strings (else stand-ins),
    so that a refusal is about the pact and not a name that contradicts the request."""
    try:
        document: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return "corpus-consumer", "corpus-provider"
    names: list[str] = []
    for role in ("consumer", "provider"):
        party = document.get(role) if isinstance(document, dict) else None
        name = party.get("name") if isinstance(party, dict) else None
        usable = isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= 256
        names.append(str(name) if usable else f"corpus-{role}")
    return names[0], names[1]


def _placed(problem: dict[str, Any], field: str, pointer: str) -> bool:
    keys = list(problem.get("errors") or {})
    if not pointer:
        return any(key.startswith(field) for key in keys)
    for key in keys:
        if "#" not in key:
            continue
        found = key.split("#", 1)[1]
        if found == pointer or found.startswith(pointer + "/") or pointer.startswith(found + "/"):
            return True
    return False


#: A file with a byte order mark is refused by the CLI (the Pact verifier cannot read
#: it), but an HTTP body may carry one: RFC 8259 lets a parser ignore it, and the
#: broker does, for every JSON body.
READ_BY_THE_BROKER = {"text: byte-order mark"}


def test_no_malformed_pact_is_stored_through_either_door(broker: Broker) -> None:
    with broker.client() as client:  # the broker migrates its schema on first use
        assert client.get("/pacticipants").status_code == 200
    before = counts(broker)
    failures: list[str] = []
    with broker.client() as client:
        for case in CASES:
            if case["id"] in READ_BY_THE_BROKER:
                continue
            raw = raw_of(case)
            consumer, provider = _names(raw)
            body = {
                "pacticipantName": consumer,
                "pacticipantVersionNumber": "1.0.0",
                "contracts": [
                    {
                        "consumerName": consumer,
                        "providerName": provider,
                        "specification": "pact",
                        "contentType": "application/json",
                        "content": base64.b64encode(raw).decode("ascii"),
                    }
                ],
            }
            published = client.post("/contracts/publish", json=body)
            problem = published.json() if published.content else {}
            pointer = case["pointer"] if case["expect"] == "location" else ""
            if published.status_code not in (400, 413, 422) or not _placed(
                problem, "contracts[0].content", pointer
            ):
                failures.append(
                    f"publish {case['id']}: {published.status_code} {published.text[:300]}"
                )
            put = client.put(
                f"/pacts/provider/{provider}/consumer/{consumer}/version/1.0.0",
                content=raw,
                headers={"Content-Type": "application/json"},
            )
            if put.status_code not in (400, 413, 422):
                failures.append(f"put {case['id']}: {put.status_code} {put.text[:300]}")
            elif put.status_code >= 500:
                failures.append(f"put {case['id']}: a server error")
    assert not failures, f"{len(failures)} refusals were wrong:\n" + "\n".join(failures[:25])
    assert counts(broker) == before


def test_a_byte_order_mark_is_ignored_by_both_doors(broker: Broker) -> None:
    (case,) = [c for c in CASES if c["id"] in READ_BY_THE_BROKER]
    raw = raw_of(case)
    assert raw.startswith("\ufeff".encode())
    with broker.client() as client:
        put = client.put(
            "/pacts/provider/elixir-processor/consumer/hono-api/version/bom-1",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert put.status_code in (200, 201), put.text
        published = client.post(
            "/contracts/publish",
            json={
                "pacticipantName": "hono-api",
                "pacticipantVersionNumber": "bom-2",
                "contracts": [
                    {
                        "consumerName": "hono-api",
                        "providerName": "elixir-processor",
                        "specification": "pact",
                        "contentType": "application/json",
                        "content": base64.b64encode(raw).decode("ascii"),
                    }
                ],
            },
        )
        assert published.status_code in (200, 201), published.text
        stored = client.get(
            "/pacts/provider/elixir-processor/consumer/hono-api/version/bom-2"
        ).json()
    assert stored["interactions"] == json.loads(raw.decode("utf-8-sig"))["interactions"]
