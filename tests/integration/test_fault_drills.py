"""Fault drills: engines stopped, frozen and killed while work is in flight.

1. A check run in flight while PostgreSQL stops or freezes (SIGSTOP), Kafka stops,
   Prometheus stops or the Loki engine stops: the run ends ``error`` (never
   ``fail``, never a hang), it is stored exactly once (spooled while PostgreSQL is
   away), and the next run passes.
2. A burst of concurrent publishes while the broker's PostgreSQL stops or freezes:
   every request ends 2xx or in a 503 problem document within a bounded time, and
   every consumer version is stored whole or not at all (rows counted).
3. ``covenant serve`` killed with SIGKILL mid-burst: after a restart no consumer
   version is half-written, and republishing the same content succeeds unchanged.

Every engine is restored in a ``finally`` so later tests of the session find the
stack as it was.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from covenant.kernel.stackstate import load_state
from covenant.stack._ports import free_port
from schedules import Check, CheckRun, ExpectationResult, RunStore, engines_for, run_check
from schedules._database import ChecksDatabase
from tests.conftest import covenant_argv, covenant_env, wait_until
from tests.integration.broker._webhook_receiver import pact
from tests.integration.conftest import RunningStack, fresh_database

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "rw-drill-" + uuid.uuid4().hex[:8]
#: The broker's client-side database deadline in these drills (broker.database_timeout_s).
DB_TIMEOUT_S = 3
#: A request may take the deadline, psycopg's attempt to cancel the query on the
#: frozen server (up to 10 s) and some slack on a loaded machine; never longer.
REQUEST_BOUND_S = DB_TIMEOUT_S + 10 + 15
CHECK_DEADLINE_S = 20.0
#: A run ends within its deadline, plus the bounded traffic step and cleanup.
RUN_BOUND_S = CHECK_DEADLINE_S + 25


# --- engines -----------------------------------------------------------------------


def _pid(stack: RunningStack, engine: str) -> int:
    return load_state(stack.state_dir).engines[engine].pid


@contextmanager
def stopped(stack: RunningStack, engine: str) -> Iterator[None]:
    stack.manager.down(names=[engine])
    try:
        yield
    finally:
        stack.manager.up()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after it.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@contextmanager
def frozen(stack: RunningStack, engine: str) -> Iterator[None]:
    """SIGSTOP the engine and its children (PostgreSQL's backends each lead a process
    group of their own, so the postmaster's group is not enough)."""
    pid = _pid(stack, engine)
    os.kill(pid, signal.SIGSTOP)  # first: it forks no new backend while frozen
    family = [pid, *_children(pid)]
    for child in family[1:]:
        os.kill(child, signal.SIGSTOP)
    try:
        yield
    finally:
        for member in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGCONT)


def outage(stack: RunningStack, engine: str, how: str) -> Any:
    return frozen(stack, engine) if how == "sigstop" else stopped(stack, engine)


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


# --- drill 1: a check run in flight ------------------------------------------------


def _gate(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def drill_check(engine: str, gate: datetime) -> Check:
    """A check whose expectation on ``engine`` is still being polled when the drill
    stops it; ``gate`` (in the past for the next run) is when it can be seen.

    ``started`` is seen at the first poll, so its result says that the traffic is
    out and polling has begun."""
    started = (
        {"name": "started", "prometheus": {"condition": "vector(1)"}}
        if engine == "postgres"
        else {"name": "started", "sql": {"query": "SELECT 1"}}
    )
    traffic: dict[str, Any] = {"sql": {"statements": ["SELECT %(run_id)s"]}}
    if engine == "postgres":
        traffic = {
            "sql": {
                "statements": [
                    "CREATE TABLE IF NOT EXISTS covenant_synthetic (run_id text PRIMARY KEY,"
                    " trace_id text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())",
                    "INSERT INTO covenant_synthetic (run_id, trace_id)"
                    " VALUES (%(run_id)s, %(trace_id)s)",
                ]
            }
        }
        target = {
            "name": "row-written",
            "sql": {
                "query": "SELECT 1 FROM covenant_synthetic WHERE run_id = %(run_id)s"  # noqa: S608 - our own timestamp
                f" AND clock_timestamp() > to_timestamp({gate.timestamp():.3f})"
            },
        }
    elif engine == "prometheus":
        target = {
            "name": "gate",
            "prometheus": {"condition": f"vector(time()) > {gate.timestamp():.3f}"},
        }
    else:  # loki: a line the test pushes itself (never, for the drill run)
        target = {"name": "logged", "loki": {"selector": '{service="covenant-drill"}'}}
    return Check.model_validate(
        {
            "name": f"drill-{engine}",
            "deadline": f"{CHECK_DEADLINE_S:g}s",
            "traffic": traffic,
            "expect": [started, target],
        }
    )


def start_run(
    stack: RunningStack, check: Check, run_id: str
) -> tuple[Future[CheckRun], threading.Event]:
    """Run ``check`` in a thread; the event is set once ``started`` was seen."""
    polling = threading.Event()

    def seen(result: ExpectationResult) -> None:
        if result.name == "started":
            polling.set()

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(
        asyncio.run, run_check(check, engines_for(stack.config), run_id=run_id, on_result=seen)
    )
    pool.shutdown(wait=False)
    return future, polling


def stored_counts(stack: RunningStack, run_id: str) -> tuple[int, int]:
    with psycopg.connect(stack.url("postgres")) as conn:
        runs = conn.execute("SELECT count(*) FROM checks.runs WHERE run_id = %s", (run_id,))
        run_rows = runs.fetchone()
        results = conn.execute(
            "SELECT count(*) FROM checks.expectation_results WHERE run_id = %s", (run_id,)
        ).fetchone()
    assert run_rows is not None and results is not None
    return int(run_rows[0]), int(results[0])


def spooled_lines(spool: Path, run_id: str) -> int:
    if not spool.exists():
        return 0
    return sum(1 for line in spool.read_text().splitlines() if run_id in line)


def push_loki_line(stack: RunningStack, text: str) -> None:
    body = {
        "streams": [
            {"stream": {"service": "covenant-drill"}, "values": [[str(time.time_ns()), text]]}
        ]
    }
    response = httpx.post(
        stack.url("loki") + "/loki/api/v1/push", json=body, headers=stack.headers("loki"), timeout=5
    )
    assert response.status_code == 204, response.text


def worker_consuming(stack: RunningStack) -> bool:
    try:
        metrics = httpx.get(stack.url("event_worker") + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return False
    return "event_worker_consumer_up 1.0" in metrics


def kafka_check() -> Check:
    from schedules import load_checks

    check = next(
        i.check for i in load_checks(ROOT / "schedules") if i.check.name == "pipeline-kafka"
    )
    return check.model_copy(update={"expect": tuple(e for e in check.expect if e.name == "stored")})


ENGINE_OUTAGES = [
    pytest.param("postgres", "stop", id="postgres-stop"),
    pytest.param("postgres", "sigstop", id="postgres-sigstop"),
    pytest.param("kafka", "stop", id="kafka-stop"),
    pytest.param("prometheus", "stop", id="prometheus-stop"),
    pytest.param("loki", "stop", id="loki-stop"),
]


@pytest.mark.parametrize(("engine", "how"), ENGINE_OUTAGES)
def test_a_run_in_flight_during_an_outage_ends_error_and_is_stored_once(
    stack: RunningStack, tmp_path: Path, engine: str, how: str
) -> None:
    spool = tmp_path / "spool.ndjson"
    store = RunStore(stack.url("postgres"), spool)
    run_id = "drill-" + uuid.uuid4().hex
    began = time.monotonic()
    saved: bool | None = None
    if engine == "kafka":
        # Kafka is only the traffic step: the run meets it stopped while sending.
        # (Stopped after a successful send, the message is the pipeline's to lose:
        # that run is a fail by design.)
        check = kafka_check()
        with stopped(stack, "kafka"):
            future, _ = start_run(stack, check, run_id)
            run = future.result(timeout=RUN_BOUND_S)
            saved = asyncio.run(store.save(run))
    else:
        # Seen only after the gate: still being polled when the engine goes away.
        check = drill_check(engine, _gate(CHECK_DEADLINE_S / 2))
        future, polling = start_run(stack, check, run_id)
        assert polling.wait(timeout=CHECK_DEADLINE_S / 4), "the run never started polling"
        with outage(stack, engine, how):
            run = future.result(timeout=RUN_BOUND_S)
            # Stored now, while the engine is still away (spooled for PostgreSQL).
            saved = asyncio.run(store.save(run))
    elapsed = time.monotonic() - began
    assert run.result == "error", run.to_dict()
    assert elapsed < RUN_BOUND_S, f"the run took {elapsed:.1f} s"
    if engine == "postgres":
        assert saved is False and spooled_lines(spool, run_id) == 1
    else:
        assert saved is True and spooled_lines(spool, run_id) == 0

    # The next run, with the engine back.
    if engine == "postgres":
        wait_until(lambda: postgres_answers(stack.url("postgres")), timeout=60, what="postgres")
    if engine == "kafka":
        # The worker has to reconnect and rejoin its consumer group (the
        # event-worker's reconnect after a Kafka restart).
        wait_until(lambda: worker_consuming(stack), timeout=60, what="the worker to consume")
        next_check = check
    else:
        next_check = drill_check(engine, _gate(-1))
    next_id = "drill-next-" + uuid.uuid4().hex
    if engine == "loki":
        push_loki_line(stack, f"drill line {next_id}")
    future, _ = start_run(stack, next_check, next_id)
    again = future.result(timeout=RUN_BOUND_S)
    assert again.result == "pass", again.to_dict()
    # Written now, or spooled when PostgreSQL failed moments ago (callers fail fast
    # for a few seconds); the scheduler's periodic flush writes the spool then.
    asyncio.run(store.save(again))

    def flushed() -> bool:
        asyncio.run(store.flush())
        return store.spooled_count() == 0

    wait_until(flushed, timeout=30, what="the spool to be written")

    # Exactly once each: one row per run, one per expectation, nothing left spooled.
    assert stored_counts(stack, run_id) == (1, len(run.expectations))
    assert stored_counts(stack, next_id) == (1, len(again.expectations))
    assert spooled_lines(spool, run_id) == 0 and not spool.exists()
    assert asyncio.run(store.save(run)) is True  # a second write is a no-op
    assert stored_counts(stack, run_id) == (1, len(run.expectations))


def test_the_scheduler_s_run_store_spools_on_a_frozen_postgres(
    stack: RunningStack, tmp_path: Path
) -> None:
    """The pooled store ``covenant serve``'s scheduler writes runs with: a frozen
    PostgreSQL (the pool's connection check never answers) spools the run within
    the store's deadline instead of holding the scheduler until it thaws."""
    url = stack.url("postgres")
    spool = tmp_path / "spool.ndjson"

    def a_run() -> CheckRun:
        now = datetime.now(UTC)
        return CheckRun(
            check="drill-store",
            run_id="drill-store-" + uuid.uuid4().hex,
            trace_id=uuid.uuid4().hex,
            started_at=now,
            finished_at=now,
            result="pass",
            expectations=[ExpectationResult("answered", "sql", "seen", 0.01)],
        )

    first, second = a_run(), a_run()

    async def scenario() -> float:
        database = ChecksDatabase(url, pool_size=2, timeout_s=3)
        store = RunStore(url, spool, database)
        await database.open()
        try:
            assert await store.save(first) is True  # the pool is warm, the schema there
            with frozen(stack, "postgres"):
                began = time.monotonic()
                saved = await asyncio.wait_for(store.save(second), timeout=RUN_BOUND_S)
                took = time.monotonic() - began
                assert saved is False and spooled_lines(spool, second.run_id) == 1
            database.retry_now()
            written = await asyncio.wait_for(store.flush(), timeout=RUN_BOUND_S)
            assert written == 1 and not spool.exists()
            return took
        finally:
            await database.close()

    took = asyncio.run(scenario())
    assert took < RUN_BOUND_S, took
    assert stored_counts(stack, first.run_id) == (1, 1)
    assert stored_counts(stack, second.run_id) == (1, 1)


# --- drills 2 and 3: publishes against ``covenant serve`` ---------------------------


class Serve:
    """``covenant serve`` as a subprocess, with the broker on its own database."""

    def __init__(self, stack: RunningStack, database_url: str, log: Path, **extra_env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = covenant_env(
            stack.state_dir,
            extra={
                "COVENANT_ENGINES__POSTGRES__URL": database_url,
                "COVENANT_BROKER__READ_WRITE_TOKENS": f"[{TOKEN}]",
                "COVENANT_BROKER__DATABASE_TIMEOUT_S": str(DB_TIMEOUT_S),
                "COVENANT_CHECKS__SCHEDULE": "false",
                **extra_env,
            },
        )
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                covenant_argv("serve", "--port", str(self.port)),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        wait_until(self.ready, timeout=60, what="covenant serve to answer")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"covenant serve exited:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/metrics", timeout=2).is_success
        except httpx.TransportError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def serving(stack: RunningStack, database_url: str, log: Path, **extra_env: str) -> Iterator[Serve]:
    serve = Serve(stack, database_url, log, **extra_env)
    try:
        yield serve
    finally:
        serve.stop()


def scheduler_metrics(url: str, check: str) -> dict[str, float]:
    """``covenant_check_runs_total`` of ``check`` by result, and the spooled gauge."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("covenant_check_runs_total{") and f'check="{check}"' in line:
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("covenant_check_results_spooled "):
            found["spooled"] = float(line.rsplit(" ", 1)[1])
    return found


def rows_by_result(url: str, check: str) -> dict[str, int]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT result, count(*), count(DISTINCT run_id) FROM checks.runs"
            " WHERE check_name = %s GROUP BY result",
            (check,),
        ).fetchall()
    assert all(total == distinct for _, total, distinct in rows)
    return {result: int(total) for result, total, _ in rows}


def test_scheduled_runs_through_a_postgres_restart_are_each_stored_once(
    stack: RunningStack, tmp_path: Path
) -> None:
    """``covenant serve``'s scheduler runs a check every 2 s while PostgreSQL (its
    claims, its runs table and the check's traffic) stops and starts: the runs of
    the outage end ``error`` and are spooled, and once it is back the table holds
    exactly the runs the scheduler counted, by result; the next run passes."""
    name = f"drill-sched-{uuid.uuid4().hex[:8]}"
    checks = tmp_path / "checks"
    checks.mkdir()
    check_file = checks / f"{name}.yaml"
    spec: dict[str, Any] = {
        "name": name,
        "interval": "2s",
        "jitter": "0s",
        "deadline": "2s",
        "traffic": {"sql": {"statements": ["SELECT %(run_id)s"]}},
        "expect": [{"name": "answered", "sql": {"query": "SELECT 1"}}],
    }
    check_file.write_text(json.dumps(spec))  # JSON is YAML
    url = stack.url("postgres")
    env = {
        "COVENANT_CHECKS__SCHEDULE": "true",
        "COVENANT_CHECKS__DIR": str(checks),
        "COVENANT_CHECKS__RELOAD_INTERVAL_S": "1",
        "COVENANT_CHECKS__INSTANCE": name,
    }
    with serving(stack, url, tmp_path / "serve.log", **env) as serve:
        wait_until(
            lambda: scheduler_metrics(serve.url, name).get("pass", 0) >= 1,
            timeout=30,
            what="a first scheduled run to pass",
        )
        with stopped(stack, "postgres"):
            wait_until(
                lambda: scheduler_metrics(serve.url, name).get("error", 0) >= 2,
                timeout=60,
                what="runs during the outage to end in error",
            )
        back = scheduler_metrics(serve.url, name).get("pass", 0)
        wait_until(
            lambda: scheduler_metrics(serve.url, name).get("pass", 0) > back,
            timeout=60,
            what="the next scheduled run to pass",
        )
        check_file.write_text(json.dumps({**spec, "enabled": False}))

        def settled() -> bool:
            counted = scheduler_metrics(serve.url, name)
            stored = rows_by_result(url, name)
            expected = {r: int(n) for r, n in counted.items() if r != "spooled" and n}
            return counted.get("spooled") == 0 and stored == expected

        wait_until(settled, timeout=60, interval=1, what="the stored runs to match the counted")
        counted = scheduler_metrics(serve.url, name)
        assert counted.get("fail", 0) == 0, counted


PROVIDERS = ("drill-p1", "drill-p2")
TAGS = ("t1", "t2")


def publication(consumer: str, version: str) -> dict[str, Any]:
    return {
        "pacticipantName": consumer,
        "pacticipantVersionNumber": version,
        "branch": "main",
        "tags": list(TAGS),
        "contracts": [
            {
                "consumerName": consumer,
                "providerName": provider,
                "specification": "pact",
                "contentType": "application/json",
                "content": base64.b64encode(
                    json.dumps(pact(consumer, provider, f"{version}-{provider}")).encode()
                ).decode(),
            }
            for provider in PROVIDERS
        ],
    }


def publish(url: str, consumer: str, version: str) -> httpx.Response | Exception:
    try:
        return httpx.post(
            f"{url}/contracts/publish",
            json=publication(consumer, version),
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/hal+json"},
            timeout=REQUEST_BOUND_S,
        )
    except httpx.HTTPError as exc:
        return exc


def burst(
    url: str, consumer: str, versions: list[str], during: Callable[[list[Future[Any]]], None]
) -> dict[str, tuple[httpx.Response | Exception, float]]:
    """All publishes at once, ``during`` called once a few have been answered."""
    began = time.monotonic()

    def timed(version: str) -> tuple[httpx.Response | Exception, float]:
        answer = publish(url, consumer, version)
        return answer, time.monotonic() - began

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(timed, v) for v in versions]
        wait_until(
            lambda: sum(f.done() for f in futures) >= 3, timeout=60, what="the first answers"
        )
        during(futures)
        return {
            v: f.result(timeout=REQUEST_BOUND_S * 2) for v, f in zip(versions, futures, strict=True)
        }


def broker_rows(database_url: str, consumer: str) -> dict[str, tuple[int, int, int]]:
    """Per consumer version: (publications, tags, branch memberships)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT v.number,"
            " (SELECT count(*) FROM broker.pact_publications p"
            "   WHERE p.consumer_version_id = v.id),"
            " (SELECT count(*) FROM broker.tags t WHERE t.version_id = v.id),"
            " (SELECT count(*) FROM broker.branch_versions b WHERE b.version_id = v.id)"
            " FROM broker.versions v JOIN broker.pacticipants c ON c.id = v.pacticipant_id"
            " WHERE c.name = %s",
            (consumer,),
        ).fetchall()
        orphans = conn.execute(
            "SELECT count(*) FROM broker.pact_versions pv"
            " JOIN broker.pacticipants c ON c.id = pv.consumer_id WHERE c.name = %s"
            " AND NOT EXISTS (SELECT 1 FROM broker.pact_publications p"
            "   WHERE p.pact_version_sha = pv.sha)",
            (consumer,),
        ).fetchone()
    assert orphans == (0,), f"pact versions without a publication: {orphans}"
    return {number: (int(p), int(t), int(b)) for number, p, t, b in rows}


WHOLE = (len(PROVIDERS), len(TAGS), 1)


def assert_whole_or_absent(database_url: str, consumer: str, versions: list[str]) -> set[str]:
    """Every version is stored whole or not at all; returns those stored."""
    rows = broker_rows(database_url, consumer)
    half = {number: counts for number, counts in rows.items() if counts != WHOLE}
    assert not half, f"half-written versions (publications, tags, branches): {half}"
    assert set(rows) <= set(versions)
    return set(rows)


def is_problem_503(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    body = response.json()
    return (
        response.headers.get("content-type") == "application/problem+json"
        and body.get("status") == 503
        and bool(body.get("title"))
    )


def republish_all(url: str, consumer: str, versions: list[str]) -> None:
    for version in versions:
        answer = publish(url, consumer, version)
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code in (200, 201), answer.text


@pytest.mark.parametrize("how", ["stop", "sigstop"])
def test_a_publish_burst_during_a_postgres_outage_is_whole_or_absent(
    stack: RunningStack, tmp_path: Path, how: str
) -> None:
    database_url = fresh_database(stack, "drill_burst")
    consumer = f"drill-c-{uuid.uuid4().hex[:8]}"
    versions = [f"1.0.{i}" for i in range(16)]
    with serving(stack, database_url, tmp_path / "serve.log") as serve:
        republish_all(serve.url, consumer, ["0.0.0"])  # the pool is open, the schema there

        def hold_an_outage(futures: list[Future[Any]]) -> None:
            with outage(stack, "postgres", how):
                # Every request ends while PostgreSQL is still away: none hangs on it.
                wait_until(
                    lambda: all(f.done() for f in futures),
                    timeout=REQUEST_BOUND_S * 2,
                    what="every publish to be answered during the outage",
                )

        answers = burst(serve.url, consumer, versions, hold_an_outage)
        wait_until(lambda: postgres_answers(database_url), timeout=60, what="postgres")

        statuses = {}
        for version, (answer, took) in answers.items():
            assert isinstance(answer, httpx.Response), (version, answer)
            assert took < REQUEST_BOUND_S * 2, (version, took)
            assert answer.status_code in (200, 201) or is_problem_503(answer), (
                version,
                answer.status_code,
                answer.text,
            )
            statuses[version] = answer.status_code
        assert 503 in statuses.values(), statuses  # the outage did hit the burst
        stored = assert_whole_or_absent(database_url, consumer, ["0.0.0", *versions])
        assert {v for v, s in statuses.items() if s in (200, 201)} <= stored

        # The broker is back: publishing everything again lands it all, once.
        def publishes_again() -> bool:
            answer = publish(serve.url, consumer, "0.0.0")
            return isinstance(answer, httpx.Response) and answer.status_code == 200

        wait_until(publishes_again, timeout=60, what="the broker to publish again")
        republish_all(serve.url, consumer, versions)
        assert assert_whole_or_absent(database_url, consumer, ["0.0.0", *versions]) == {
            "0.0.0",
            *versions,
        }


def test_serve_killed_mid_publish_leaves_no_half_written_version(
    stack: RunningStack, tmp_path: Path
) -> None:
    database_url = fresh_database(stack, "drill_kill")
    consumer = f"drill-k-{uuid.uuid4().hex[:8]}"
    versions = [f"2.0.{i}" for i in range(24)]
    log = tmp_path / "serve.log"
    serve = Serve(stack, database_url, log)
    try:
        republish_all(serve.url, consumer, ["0.0.0"])
        answers = burst(serve.url, consumer, versions, lambda _: serve.stop(signal.SIGKILL))
    finally:
        serve.stop()
    assert serve.process.returncode == -signal.SIGKILL
    lost = [v for v, (a, _) in answers.items() if not isinstance(a, httpx.Response)]
    assert lost, "the kill came after the whole burst"
    for answer, _ in answers.values():
        if isinstance(answer, httpx.Response):
            assert answer.status_code in (200, 201), answer.text
    stored = assert_whole_or_absent(database_url, consumer, ["0.0.0", *versions])
    answered = {v for v, (a, _) in answers.items() if isinstance(a, httpx.Response)}
    assert answered <= stored

    with serving(stack, database_url, log) as again:
        republish_all(again.url, consumer, versions)
        rows = broker_rows(database_url, consumer)
        assert rows == dict.fromkeys(["0.0.0", *versions], WHOLE)
        # Republishing identical content is a no-op, also for the versions that landed.
        for version in sorted(stored - {"0.0.0"})[:3]:
            answer = publish(again.url, consumer, version)
            assert isinstance(answer, httpx.Response) and answer.status_code == 200
            assert "unchanged" in answer.text
        assert broker_rows(database_url, consumer) == rows


@pytest.mark.parametrize("engine", ["kafka", "prometheus", "loki"])
def test_a_publish_burst_does_not_depend_on_the_other_engines(
    stack: RunningStack, tmp_path: Path, engine: str
) -> None:
    """The broker needs PostgreSQL only: with Kafka, Prometheus or the Loki engine
    stopped for the whole burst, every publish lands, whole, exactly once."""
    database_url = fresh_database(stack, f"drill_{engine}")
    consumer = f"drill-o-{uuid.uuid4().hex[:8]}"
    versions = [f"3.0.{i}" for i in range(12)]
    with serving(stack, database_url, tmp_path / "serve.log") as serve:
        republish_all(serve.url, consumer, ["0.0.0"])

        def hold_an_outage(futures: list[Future[Any]]) -> None:
            with stopped(stack, engine):
                wait_until(
                    lambda: all(f.done() for f in futures),
                    timeout=REQUEST_BOUND_S * 2,
                    what=f"every publish to be answered while {engine} is stopped",
                )

        answers = burst(serve.url, consumer, versions, hold_an_outage)
    for version, (answer, took) in answers.items():
        assert isinstance(answer, httpx.Response), (version, answer)
        assert answer.status_code in (200, 201), (version, answer.status_code, answer.text)
        assert took < REQUEST_BOUND_S, (version, took)
    assert assert_whole_or_absent(database_url, consumer, ["0.0.0", *versions]) == {
        "0.0.0",
        *versions,
    }
