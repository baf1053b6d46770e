"""Detection latency of each signal of the example checks against its floor, and the
HTTP journey's steps against bare requests.

A signal cannot be seen before it exists. For each run of ``pipeline-kafka`` (Kafka
traffic) and ``journey-http`` (five HTTP steps through hono-api, elixir-processor and
baml-extractor) against the running local stack, the floor of each signal is:

- sql: when the event-worker wrote the row (``pipeline_events.processed_at`` of the
  row carrying the run's trace id);
- loki: when the worker's log line first became queryable in Loki, found by a bare
  poller (``query_range`` for the run's trace id every 50 ms, started before the
  send: the peer in the same run). The line's own timestamp would not do: the
  worker ships its lines in batches (every 0.5 s), so they are queryable later;
- prometheus (``increase``): the first scrape that saw the counter move (the
  timestamp of the first raw sample above the value before the send);

all measured from the moment the traffic was sent (for the journey: its first
step). Prints, per check and signal, the median detection latency, the median floor
and the overhead Covenant adds (latency - floor); target: median overhead <= 0.5 s.
Signals without a floor (an alert state, a PromQL condition) are left out.

For the journey it also prints each step's median latency and, for the read-only
steps (read-back, list), the median of the same GET sent right after each run by a
bare ``httpx`` client: the peer in the same run, so the ratio is Covenant's step
machinery (templates, credentials, assertions, capture) over a plain request.
Every engine call sends the stack's credentials. Asserts nothing.

    covenant stack up && .venv/bin/python bench/checks.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from covenant.kernel.config import load_config  # noqa: E402
from schedules import Check, CheckRun, Engines, engines_for, load_checks, run_check  # noqa: E402

TARGET_OVERHEAD_S = 0.5
FLOORED = ("sql", "loki", "prometheus")


def _write_time(database_url: str, run: CheckRun) -> float | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT processed_at FROM pipeline_events WHERE trace_id = %s", (run.trace_id,)
        ).fetchone()
    if row is None or run.sent_at is None:
        return None
    return max(0.0, (row[0] - run.sent_at).total_seconds())


class LokiPeer(threading.Thread):
    """Polls Loki every 50 ms for the run's trace id until the line is queryable."""

    def __init__(self, engines: Engines, trace_id: str) -> None:
        super().__init__(daemon=True)
        self.engines, self.trace_id = engines, trace_id
        self.found_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        start_ns = time.time_ns() - 5_000_000_000
        headers = self.engines.credentials_for("loki").http_headers()
        deadline = time.monotonic() + 60
        with httpx.Client() as client:
            while not self.stop.is_set() and time.monotonic() < deadline:
                response = client.get(
                    f"{self.engines.loki}/loki/api/v1/query_range",
                    params={
                        "query": f'{{service="event-worker"}} |= "{self.trace_id}"',
                        "start": str(start_ns),
                        "end": str(time.time_ns() + 1_000_000_000),
                        "limit": "1",
                    },
                    headers=headers,
                    timeout=5,
                )
                if response.is_success and response.json()["data"]["result"]:
                    self.found_at = time.time()
                    return
                self.stop.wait(0.05)

    def floor(self, run: CheckRun) -> float | None:
        self.stop.set()
        self.join(timeout=10)
        if self.found_at is None or run.sent_at is None:
            return None
        return max(0.0, self.found_at - run.sent_at.timestamp())


def _first_scrape_after(engines: Engines, selector: str, run: CheckRun) -> float | None:
    """Seconds from the send to the first raw sample of ``selector`` above its value
    before the send: when Prometheus could first have seen the increase."""
    if run.sent_at is None or not engines.prometheus:
        return None
    response = httpx.get(
        f"{engines.prometheus}/api/v1/query",
        params={"query": f"{selector}[2m]"},
        headers=engines.credentials_for("prometheus").http_headers(),
        timeout=5,
    )
    response.raise_for_status()
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


def _floors(
    check: Check, engines: Engines, run: CheckRun, loki: LokiPeer
) -> dict[str, float | None]:
    """Each floored expectation's floor, by expectation name."""
    floors: dict[str, float | None] = {}
    for expectation in check.expect:
        if expectation.sql is not None:
            floors[expectation.name] = _write_time(engines.databases["postgres"], run)
        elif expectation.loki is not None:
            floors[expectation.name] = loki.floor(run)
        elif expectation.prometheus is not None and expectation.prometheus.increase:
            floors[expectation.name] = _first_scrape_after(
                engines, expectation.prometheus.increase, run
            )
    return floors


def _read_only_urls(check: Check, engines: Engines) -> dict[str, str]:
    """The journey's read-only hono-api steps as plain URLs: ``list`` as it is,
    ``read-back`` for the newest listed event (the same route and work)."""
    urls: dict[str, str] = {}
    for step in check.traffic.http_steps:
        if step.method != "GET" or step.service != "hono-api" or step.path is None:
            continue
        base = engines.services["hono-api"]
        if "{{ event_id }}" in step.path:
            listed = httpx.get(f"{base}/api/events?page=1&pageSize=1", timeout=10).json()
            path = step.path.replace("{{ event_id }}", listed["items"][0]["id"])
        else:
            path = step.path
        urls[step.name] = base + path
    return urls


def _bare_gets(urls: dict[str, str]) -> dict[str, float]:
    """The same GETs as the journey's read-only steps, by a plain client."""
    took = {}
    with httpx.Client() as client:
        for name, url in urls.items():
            started = time.perf_counter()
            client.get(url, timeout=10).raise_for_status()
            took[name] = time.perf_counter() - started
    return took


def _floored_only(check: Check) -> Check:
    keep = tuple(
        e
        for e in check.expect
        if e.kind in FLOORED and (e.prometheus is None or e.prometheus.increase is not None)
    )
    return check.model_copy(update={"expect": keep})


def bench(check: Check, engines: Engines, runs: int) -> None:
    latency: dict[str, list[float]] = {}
    floor: dict[str, list[float]] = {}
    steps: dict[str, list[float]] = {}
    bare: dict[str, list[float]] = {}
    failed = 0
    for index in range(runs):
        trace_id = secrets.token_hex(16)
        loki = LokiPeer(engines, trace_id)
        loki.start()
        run = asyncio.run(run_check(check, engines, trace_id=trace_id))
        if run.result != "pass":
            loki.stop.set()
            failed += 1
            print(f"  run {index + 1}: {run.result} {run.error or ''}", file=sys.stderr)
            continue
        for name, took in _bare_gets(_read_only_urls(check, engines)).items():
            bare.setdefault(name, []).append(took)
        floors = _floors(check, engines, run, loki)
        for result in run.expectations:
            if result.latency_s is None:
                continue
            if result.kind == "http":
                steps.setdefault(result.name, []).append(result.latency_s)
                continue
            found = floors.get(result.name)
            if found is None:
                continue
            latency.setdefault(result.name, []).append(result.latency_s)
            floor.setdefault(result.name, []).append(found)
        time.sleep(1)

    print(f"\n{check.name}: {runs} runs ({failed} not passing)")
    if steps:
        print(f"  {'step':<12}{'latency p50':>13}{'bare GET p50':>14}{'ratio':>8}")
        for name, values in steps.items():
            seen = statistics.median(values)
            if name in bare:
                peer = statistics.median(bare[name])
                print(f"  {name:<12}{seen:>12.3f}s{peer:>13.3f}s{seen / peer:>7.2f}x")
            else:
                print(f"  {name:<12}{seen:>12.3f}s{'-':>14}")
    print(
        f"  {'signal':<22}{'latency p50':>13}{'floor p50':>11}{'overhead':>10}"
        f"  target overhead <= {TARGET_OVERHEAD_S:g} s"
    )
    for expectation in check.expect:
        name = expectation.name
        if name not in latency:
            print(f"  {expectation.kind + ':' + name:<22}{'no data':>13}")
            continue
        seen = statistics.median(latency[name])
        least = statistics.median(floor[name])
        verdict = "met" if seen - least <= TARGET_OVERHEAD_S else "NOT met"
        label = f"{expectation.kind}:{name}"
        print(f"  {label:<22}{seen:>12.3f}s{least:>10.3f}s{seen - least:>9.3f}s  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--check", action="append", help="pipeline-kafka, journey-http (default: both)"
    )
    args = parser.parse_args()

    config = load_config(None)
    engines = engines_for(config)
    if not (engines.kafka and engines.loki and engines.prometheus and engines.services):
        raise SystemExit("the local stack is not running: covenant stack up")
    print(f"scrape interval {float(config.stack.scrape_interval_s):g} s")
    checks = {i.check.name: i.check for i in load_checks(REPO / "schedules")}
    for name in args.check or ["pipeline-kafka", "journey-http"]:
        bench(_floored_only(checks[name]), engines, args.runs)


if __name__ == "__main__":
    main()
