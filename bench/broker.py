"""Latency of the contract broker on a seeded database: publish, pacts for
verification, can-i-deploy — and can-i-deploy against a bare indexed SELECT.

    .venv/bin/python bench/broker.py [--requests 200]

Starts (or reuses) the local stack, creates a FRESH database on its PostgreSQL,
seeds it with COPY (200 pacticipants, 20,000 versions, 50,000 pact
publications, 100,000 verification results, deployments to two
environments), then serves the real app in-process (``BackgroundServer``) and
times HTTP requests from one client. Prints p50/p95 per operation next to the
targets, the ratio of can-i-deploy to a bare SELECT of the same rows (run
with psycopg directly), and the EXPLAIN ANALYZE plans of the main queries.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contracts.broker._db import BrokerDatabase  # noqa: E402
from contracts.broker._matrix_query import SQL as MATRIX_SQL  # noqa: E402
from contracts.broker._matrix_query import MatrixQuery, Selector, _params  # noqa: E402
from contracts.broker._selectors import _SQL as FOR_VERIFICATION_SQL  # noqa: E402
from contracts.broker._selectors import parse_request  # noqa: E402
from covenant.app import BackgroundServer, create_app  # noqa: E402
from covenant.kernel.config import CovenantConfig, load_config  # noqa: E402
from covenant.kernel.postgres import create_database  # noqa: E402
from covenant.kernel.stackstate import load_state  # noqa: E402
from covenant.stack.manager import StackManager  # noqa: E402

CONSUMERS = 100
PROVIDERS = 100
VERSIONS = 100  # per pacticipant: 200 x 100 = 20,000
PROVIDERS_PER_CONSUMER = 5
CONTENT_EVERY = 10  # a consumer's pact content changes every 10 versions
VERIFICATIONS_PER_PACT = 20  # 5,000 pact versions x 20 = 100,000
DEPLOYED = {"production": 95, "test": 100}  # version number deployed per environment

TARGETS = {"can-i-deploy": 0.050, "pacts for verification": 0.100}
TOKEN = "bench-" + secrets.token_hex(8)


def name(i: int) -> str:
    return f"consumer-{i:03d}" if i < CONSUMERS else f"provider-{i - CONSUMERS:03d}"


def vid(pacticipant: int, number: int) -> int:
    return pacticipant * VERSIONS + number


def providers_of(consumer: int) -> list[int]:
    return [CONSUMERS + (consumer * 7 + k * 13) % PROVIDERS for k in range(PROVIDERS_PER_CONSUMER)]


def pact(consumer: int, provider: int, block: int) -> dict[str, Any]:
    return {
        "consumer": {"name": name(consumer)},
        "provider": {"name": name(provider)},
        "interactions": [
            {
                "description": f"request {block}",
                "request": {"method": "GET", "path": f"/items/{block}"},
                "response": {"status": 200, "body": {"block": block}},
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


def seed(url: str) -> None:
    started = time.perf_counter()
    asyncio.run(_migrate(url))
    total = PROVIDERS + CONSUMERS
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY broker.pacticipants (id, name, main_branch) FROM STDIN") as copy:
            for i in range(total):
                copy.write_row((i + 1, name(i), "main"))
        with cur.copy("COPY broker.versions (id, pacticipant_id, number) FROM STDIN") as copy:
            for i in range(total):
                for n in range(1, VERSIONS + 1):
                    copy.write_row((vid(i, n), i + 1, str(n)))
        with cur.copy("COPY broker.branches (id, pacticipant_id, name) FROM STDIN") as copy:
            for i in range(total):
                copy.write_row((i + 1, i + 1, "main"))
        with cur.copy("COPY broker.branch_versions (branch_id, version_id) FROM STDIN") as copy:
            for i in range(total):
                for n in range(1, VERSIONS + 1):
                    copy.write_row((i + 1, vid(i, n)))
        with cur.copy("COPY broker.tags (version_id, name) FROM STDIN") as copy:
            for i in range(total):
                copy.write_row((vid(i, DEPLOYED["production"]), "prod"))
        shas: dict[tuple[int, int, int], str] = {}
        with cur.copy(
            "COPY broker.pact_versions (sha, consumer_id, provider_id, content) FROM STDIN"
        ) as copy:
            for c in range(CONSUMERS):
                for p in providers_of(c):
                    for block in range(VERSIONS // CONTENT_EVERY):
                        sha = secrets.token_hex(32)
                        shas[c, p, block] = sha
                        copy.write_row((sha, c + 1, p + 1, json.dumps(pact(c, p, block))))
        with cur.copy(
            "COPY broker.pact_publications (consumer_version_id, provider_id, pact_version_sha)"
            " FROM STDIN"
        ) as copy:
            for c in range(CONSUMERS):
                for n in range(1, VERSIONS + 1):
                    for p in providers_of(c):
                        copy.write_row((vid(c, n), p + 1, shas[c, p, (n - 1) // CONTENT_EVERY]))
        with cur.copy(
            "COPY broker.verifications (pact_version_sha, provider_version_id, success) FROM STDIN"
        ) as copy:
            count = 0
            for (_c, p, block), sha in shas.items():
                for k in range(VERIFICATIONS_PER_PACT):
                    number = block * CONTENT_EVERY + 1 + k % CONTENT_EVERY
                    copy.write_row((sha, vid(p, number), count % 17 != 0 or k >= CONTENT_EVERY))
                    count += 1
        envs = {}
        for env in DEPLOYED:
            envs[env] = secrets.token_hex(16)
            cur.execute(
                "INSERT INTO broker.environments (id, name, production) VALUES (%s, %s, %s)",
                (envs[env], env, env == "production"),
            )
        with cur.copy(
            "COPY broker.deployed_versions (id, version_id, environment_id) FROM STDIN"
        ) as copy:
            for env, number in DEPLOYED.items():
                for i in range(total):
                    copy.write_row((secrets.token_hex(16), vid(i, number), envs[env]))
        for table, column in (
            ("pacticipants", "id"),
            ("versions", "id"),
            ("branches", "id"),
            ("pact_publications", "id"),
            ("verifications", "id"),
        ):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('broker.{table}', '{column}'),"  # noqa: S608
                f" (SELECT max({column}) FROM broker.{table}))"
            )
        conn.commit()
        conn.autocommit = True
        cur.execute("ANALYZE")
        counts = {
            table: cur.execute(f"SELECT count(*) FROM broker.{table}").fetchone()[0]  # type: ignore[index]  # noqa: S608
            for table in (
                "pacticipants",
                "versions",
                "pact_versions",
                "pact_publications",
                "verifications",
                "deployed_versions",
            )
        }
    print(f"seeded in {time.perf_counter() - started:.1f}s: {counts}")


async def _migrate(url: str) -> None:
    database = BrokerDatabase(url, min_size=1, max_size=1)
    await database.open()
    await database.close()


def timings(label: str, runs: int, call: Callable[[int], None]) -> list[float]:
    for i in range(min(10, runs)):  # warm up: connections, prepared statements
        call(i)
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(label: str, samples: list[float]) -> None:
    p50, p95 = pct(samples, 0.50), pct(samples, 0.95)
    target = TARGETS.get(label)
    goal = f"   target p95 <= {target * 1000:.0f} ms" if target else ""
    verdict = ("  (met)" if p95 <= target else "  (MISSED)") if target else ""
    print(f"{label:<24} p50 {p50 * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms{goal}{verdict}")


BARE_SQL = """
SELECT pp.pact_version_sha, d.version_id, ver.success
  FROM broker.pacticipants c
  JOIN broker.versions cv ON cv.pacticipant_id = c.id AND cv.number = %(version)s
  JOIN broker.pact_publications pp ON pp.consumer_version_id = cv.id
  JOIN broker.environments e ON e.name = %(environment)s
  JOIN broker.versions pv ON pv.pacticipant_id = pp.provider_id
  JOIN broker.deployed_versions d
    ON d.version_id = pv.id AND d.environment_id = e.id AND d.undeployed_at IS NULL
  LEFT JOIN LATERAL (
    SELECT v.success FROM broker.verifications v
     WHERE v.pact_version_sha = pp.pact_version_sha AND v.provider_version_id = d.version_id
     ORDER BY v.id DESC LIMIT 1) ver ON true
 WHERE c.name = %(pacticipant)s
"""


def explain(conn: psycopg.Connection, title: str, sql: str, params: dict[str, Any]) -> None:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params).fetchall()
    print(f"\n--- EXPLAIN ANALYZE: {title} ---")
    print("\n".join(str(r[0]) for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-plans", action="store_true", help="skip the EXPLAIN output")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args()
    runs = args.requests

    config = load_config()
    StackManager(config, report=lambda m: print(f"stack: {m}")).up()
    admin_url = load_state(config.stack.state_dir.resolve()).engines["postgres"].url
    database = f"broker_bench_{secrets.token_hex(4)}"
    url = create_database(admin_url, database)
    print(f"database: {database}")
    seed(url)

    app_config = CovenantConfig.model_validate(
        {
            "engines": {"postgres": {"url": url}},
            "broker": {"read_write_tokens": [TOKEN], "allow_anonymous_read": False},
        }
    )
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/hal+json"}
    with (
        BackgroundServer(create_app(app_config)) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=30) as client,
    ):
        assert client.get("/").status_code == 200

        def publish(i: int) -> None:
            consumer = i % CONSUMERS
            contracts = [
                {
                    "consumerName": name(consumer),
                    "providerName": name(p),
                    "specification": "pact",
                    "contentType": "application/json",
                    "content": base64.b64encode(
                        json.dumps(pact(consumer, p, 1000 + i)).encode()
                    ).decode(),
                }
                for p in providers_of(consumer)
            ]
            response = client.post(
                "/contracts/publish",
                json={
                    "pacticipantName": name(consumer),
                    "pacticipantVersionNumber": f"bench-{i}-{secrets.token_hex(3)}",
                    "branch": "main",
                    "contracts": contracts,
                },
            )
            assert response.status_code in (200, 201), response.text

        body = {
            "consumerVersionSelectors": [{"mainBranch": True}, {"deployedOrReleased": True}],
            "providerVersionBranch": "main",
            "includePendingStatus": True,
            "includeWipPactsSince": "2020-01-01",
        }

        def for_verification(i: int) -> None:
            provider = name(CONSUMERS + i % PROVIDERS)
            response = client.post(f"/pacts/provider/{provider}/for-verification", json=body)
            assert response.status_code == 200, response.text
            assert response.json()["_embedded"]["pacts"]

        def can_i_deploy(i: int) -> None:
            # Alternate consumers and providers, version 100 into production.
            who = i % (CONSUMERS + PROVIDERS)
            response = client.get(
                "/can-i-deploy",
                params={"pacticipant": name(who), "version": "100", "environment": "production"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["matrix"], response.text

        print(f"\n{runs} requests each, one client, in-process server (BackgroundServer)")
        cid = timings("can-i-deploy", runs, can_i_deploy)
        pfv = timings("pacts for verification", runs, for_verification)
        pub = timings("publish", runs, publish)
        report("publish", pub)
        report("pacts for verification", pfv)
        report("can-i-deploy", cid)

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET jit = off")
            conn.execute("SET enable_hashjoin = off")
            conn.execute("SET enable_mergejoin = off")

            def bare(i: int) -> None:
                rows = conn.execute(
                    BARE_SQL,
                    {
                        "pacticipant": name(i % CONSUMERS),
                        "version": "100",
                        "environment": "production",
                    },
                    prepare=True,
                ).fetchall()
                assert rows

            def consumer_can_i_deploy(i: int) -> None:
                response = client.get(
                    "/can-i-deploy",
                    params={
                        "pacticipant": name(i % CONSUMERS),
                        "version": "100",
                        "environment": "production",
                    },
                )
                assert response.status_code == 200

            base = timings("bare SELECT", runs, bare)
            same = timings("can-i-deploy (consumers)", runs, consumer_can_i_deploy)
            report("bare indexed SELECT", base)
            report("can-i-deploy (same rows)", same)
            print(
                f"ratio can-i-deploy / bare SELECT: p50 {pct(same, 0.5) / pct(base, 0.5):.1f}x"
                f"   p95 {pct(same, 0.95) / pct(base, 0.95):.1f}x"
                " (HTTP, auth, JSON and the deployability decision included)"
            )

            if not args.no_plans:
                conn.execute("SET plan_cache_mode = force_generic_plan")
                query = MatrixQuery(
                    [Selector(name(3), version="100")], latestby="cvpv", environment="production"
                )
                explain(
                    conn,
                    "can-i-deploy (consumer-003 v100 -> production)",
                    MATRIX_SQL,
                    _params(query),
                )
                query = MatrixQuery(
                    [Selector(name(CONSUMERS + 3), version="100")],
                    latestby="cvpv",
                    environment="production",
                )
                explain(
                    conn,
                    "can-i-deploy (provider-003 v100 -> production)",
                    MATRIX_SQL,
                    _params(query),
                )
                request = parse_request(body)
                explain(
                    conn,
                    "pacts for verification (provider-003)",
                    FOR_VERIFICATION_SQL,
                    {
                        "provider": name(CONSUMERS + 3),
                        "selectors": json.dumps([s.as_param() for s in request.selectors]),
                        "wip_since": request.wip_since,
                        "provider_branch": request.provider_branch,
                        "provider_tags": request.provider_tags,
                    },
                )
                explain(
                    conn,
                    "bare indexed SELECT",
                    BARE_SQL,
                    {"pacticipant": name(3), "version": "100", "environment": "production"},
                )
    if args.keep:
        print(f"\n(database {database} kept on the stack's PostgreSQL for inspection)")
        return
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
