"""Covenant's CPU for scheduled checks: 1,000 checks every 60 s on one instance.

One in-process scheduler (as ``covenant serve`` runs it) with 1,000 SQL checks
(traffic ``SELECT``, one ``sql`` expectation) at a 60 s interval, jitter
spreading them over the minute, runs claimed and stored in PostgreSQL. After a
warm-up, it measures the process's CPU time (user + system) over whole
minutes and prints CPU per check run, the share of one core, and, as the peer,
the CPU of a bare SQL round trip (connect, ``SELECT 1``, close) from the same
process. Target: <= 25% of one core. Asserts nothing.

    covenant stack up && .venv/bin/python bench/scheduler.py [--checks 1000] [--minutes 1]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from pydantic import SecretStr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from covenant.kernel.config import load_config  # noqa: E402
from covenant.kernel.postgres import create_database  # noqa: E402
from schedules import CheckScheduler, engines_for  # noqa: E402

BENCH_DATABASE = "covenant_bench_scheduler"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def own_database(admin_url: str) -> str:
    return create_database(admin_url, BENCH_DATABASE, replace=True)


def bare_query_cpu(url: str, rounds: int = 200) -> float:
    started = cpu_s()
    for _ in range(rounds):
        with psycopg.connect(url) as conn:
            conn.execute("SELECT 1").fetchone()
    return (cpu_s() - started) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=1)
    args = parser.parse_args()

    base = load_config(None)
    admin = engines_for(base).databases.get("postgres")
    if not admin:
        raise SystemExit("no PostgreSQL: covenant stack up")
    store_url = own_database(admin)
    checks = [
        {
            "name": f"bench-{index:04d}",
            "interval": "60s",
            "jitter": "55s",
            "deadline": "4s",
            "traffic": {"sql": {"connection": "target", "statements": ["SELECT %(run_id)s"]}},
            "expect": [{"name": "row", "sql": {"connection": "target", "query": "SELECT 1"}}],
        }
        for index in range(args.checks)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "bench.yaml").write_text(yaml.safe_dump(checks))
        config = base.model_copy(
            update={
                "engines": base.engines.model_copy(
                    update={
                        "postgres": base.engines.postgres.model_copy(
                            update={"url": SecretStr(store_url)}
                        )
                    }
                ),
                "checks": base.checks.model_copy(
                    update={
                        "dir": Path(scratch),
                        "connections": {"target": SecretStr(admin)},
                        "instance": "bench",
                        "reload_interval_s": 60.0,
                    }
                ),
            }
        )
        results: list[str] = []

        async def measure() -> tuple[float, float, int]:
            scheduler = CheckScheduler(config, on_run=lambda run: results.append(run.result))
            await scheduler.start()
            print(f"{args.checks} checks scheduled; warming up for one minute ...", flush=True)
            await asyncio.sleep(60)
            cpu0, wall0, runs0 = cpu_s(), time.monotonic(), len(results)
            await asyncio.sleep(60 * args.minutes)
            cpu1, wall1, runs1 = cpu_s(), time.monotonic(), len(results)
            await scheduler.stop(10)
            return cpu1 - cpu0, wall1 - wall0, runs1 - runs0

        cpu, wall, runs = asyncio.run(measure())
    peer = bare_query_cpu(admin)
    per_run = cpu / runs if runs else float("nan")
    share = cpu / wall
    failed = sum(1 for r in results if r != "pass")
    print(f"runs measured: {runs} in {wall:.0f} s ({failed} not passing over the whole bench)")
    print(f"CPU total: {cpu:.2f} s = {share:.1%} of one core (target <= 25%)")
    print(f"CPU per check run: {per_run * 1000:.2f} ms")
    print(f"peer, bare SQL round trip (connect, SELECT 1, close): {peer * 1000:.2f} ms CPU")
    print(f"ratio: one check run costs {per_run / peer:.1f} bare round trips")


if __name__ == "__main__":
    main()
