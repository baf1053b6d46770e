"""Detection latency of each signal of the Kafka example check, against its floor.

A signal cannot be seen before it exists. For each run of ``pipeline-kafka``
against the running local stack, the floor of each signal is:

- sql: when the event-worker wrote the row (``pipeline_events.processed_at``);
- loki: when the worker's log line was written (the entry's timestamp in Loki);
- prometheus: the first scrape that saw the counter move (the timestamp of the
  first raw sample above the value before the send);

all measured from the moment the traffic was sent. Prints, per signal, the
median detection latency, the median floor and the overhead Covenant adds
(latency - floor); target: median latency <= floor + 1 s. Asserts nothing.

    covenant stack up && .venv/bin/python bench/checks.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from covenant.kernel.config import load_config  # noqa: E402
from schedules import CheckRun, engines_for, load_checks, run_check  # noqa: E402

TARGET_OVERHEAD_S = 1.0


def _write_time(database_url: str, run: CheckRun) -> float | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT processed_at FROM pipeline_events WHERE run_id = %s", (run.run_id,)
        ).fetchone()
    if row is None or run.sent_at is None:
        return None
    return max(0.0, (row[0] - run.sent_at).total_seconds())


def _log_time(loki_url: str, run: CheckRun) -> float | None:
    if run.sent_at is None:
        return None
    sent_ns = int(run.sent_at.timestamp() * 1e9)
    response = httpx.get(
        f"{loki_url}/loki/api/v1/query_range",
        params={
            "query": f'{{service="event-worker"}} |= "{run.run_id}"',
            "start": str(sent_ns - 5_000_000_000),
            "end": str(time.time_ns()),
            "direction": "forward",
            "limit": "1",
        },
        timeout=5,
    )
    streams = response.json()["data"]["result"]
    if not streams:
        return None
    first = min(int(v[0]) for s in streams for v in s["values"])
    return max(0.0, (first - sent_ns) / 1e9)


def _first_scrape_after(prometheus_url: str, selector: str, run: CheckRun) -> float | None:
    """Seconds from the send to the first raw sample of ``selector`` above its value
    before the send: when Prometheus could first have seen the increase."""
    if run.sent_at is None:
        return None
    response = httpx.get(
        f"{prometheus_url}/api/v1/query", params={"query": f"{selector}[2m]"}, timeout=5
    )
    result = response.json()["data"]["result"]
    if len(result) != 1:
        return None
    sent = run.sent_at.timestamp()
    samples = [(float(t), float(v)) for t, v in result[0]["values"]]
    before = [v for t, v in samples if t <= sent]
    if not before:
        return None
    after = [t for t, v in samples if t > sent and v > before[-1]]
    return after[0] - sent if after else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    config = load_config(None)
    engines = engines_for(config)
    if not (engines.kafka and engines.loki and engines.prometheus):
        raise SystemExit("the local stack is not running: covenant stack up")
    check = next(
        i.check for i in load_checks(REPO / "schedules") if i.check.name == "pipeline-kafka"
    )
    # Only the signals with a measurable floor; the alert state has none.
    check = check.model_copy(
        update={"expect": tuple(e for e in check.expect if e.kind in ("sql", "loki", "prometheus"))}
    )
    scrape_s = float(config.stack.scrape_interval_s)
    latency: dict[str, list[float]] = {}
    floor: dict[str, list[float]] = {}
    for index in range(args.runs):
        run = asyncio.run(run_check(check, engines))
        if run.result != "pass":
            print(f"run {index + 1}: {run.result} {run.error or ''}", file=sys.stderr)
            continue
        written = _write_time(engines.databases["postgres"], run)
        logged = _log_time(engines.loki, run)
        counter = next(e.prometheus for e in check.expect if e.prometheus is not None)
        scraped = _first_scrape_after(engines.prometheus, counter.increase or "", run)
        floors = {"sql": written, "loki": logged, "prometheus": scraped}
        for result in run.expectations:
            if result.latency_s is None or floors[result.kind] is None:
                continue
            latency.setdefault(result.kind, []).append(result.latency_s)
            floor.setdefault(result.kind, []).append(floors[result.kind] or 0.0)
        time.sleep(1)

    print(f"{args.runs} runs of pipeline-kafka; scrape interval {scrape_s:g} s")
    print(
        f"{'signal':<12}{'latency p50':>13}{'floor p50':>11}{'overhead':>10}  target <= floor + 1 s"
    )
    for kind in ("sql", "loki", "prometheus"):
        if kind not in latency:
            print(f"{kind:<12}{'no data':>13}")
            continue
        seen = statistics.median(latency[kind])
        least = statistics.median(floor[kind])
        verdict = "met" if seen <= least + TARGET_OVERHEAD_S else "NOT met"
        print(f"{kind:<12}{seen:>12.3f}s{least:>10.3f}s{seen - least:>9.3f}s  {verdict}")


if __name__ == "__main__":
    main()
