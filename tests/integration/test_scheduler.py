"""Scheduled checks in ``covenant serve``: several instances, exactly once, none missed.

``TEST_SCHEDULER_SOAK_S`` sets how long the two-instance run lasts (the
acceptance run is ten minutes, the default). That run goes on in the background
while the rest of the session runs (see ``tests/integration/_scheduler.py``); its
test is the session's last and waits only for what remains of it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from covenant.kernel.config import CovenantConfig
from covenant.kernel.stackstate import load_state
from covenant.stack.manager import StackManager
from schedules import CheckScheduler
from tests.conftest import wait_until
from tests.integration._scheduler import (
    SOAK_INTERVALS,
    SOAK_S,
    Instance,
    SchedulerSoak,
    assert_each_slot_once,
    runs_by_slot,
    sql_check,
    write_checks,
    write_config,
)
from tests.integration.conftest import RunningStack, fresh_database, make_state_dir, stack_config


@pytest.fixture
def shared(stack: RunningStack, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A database of their own for the instances, and their configuration file."""
    database = fresh_database(stack, "sched")
    checks = write_checks(
        tmp_path / "checks", sql_check("every-2s", "2s"), sql_check("every-3s", "3s")
    )
    yield database, write_config(tmp_path / "covenant.yaml", database, checks)


def test_two_instances_run_each_slot_exactly_once(scheduler_soak: SchedulerSoak) -> None:
    """Two instances on one database for ``SOAK_S`` seconds: every slot of both checks
    ran exactly once, none was missed, both instances won slots, every run passed."""
    runs = scheduler_soak.finish()
    assert_each_slot_once(runs, SOAK_INTERVALS)
    assert len(runs["every-2s"]) >= SOAK_S / 2 - 3
    assert len(runs["every-3s"]) >= SOAK_S / 3 - 3
    instances = {instance for check in runs.values() for _, instance, _ in check}
    assert instances == {"instance-a", "instance-b"}, "both instances should win some slots"
    results = {result for check in runs.values() for _, _, result in check}
    assert results == {"pass"}, results


def test_a_killed_instance_s_runs_are_taken_over(
    stack: RunningStack, shared: tuple[str, Path], tmp_path: Path
) -> None:
    database, config = shared
    a = Instance("instance-a", config, stack.state_dir, tmp_path / "a.log")
    b = Instance("instance-b", config, stack.state_dir, tmp_path / "b.log")
    try:
        wait_until(lambda: a.ready() and b.ready(), timeout=60, what="both instances")
        # A few slots of each check (2 s and 3 s) with both alive, then at least
        # three slots of each after the kill: enough to see instance-b take every
        # slot alone, none missed (it used to be 15 s and 20 s: same assertions).
        time.sleep(6)
        a.stop(signal.SIGKILL)
        killed_at = time.time()
        time.sleep(13)
    finally:
        a.stop(signal.SIGKILL)
        assert b.stop() == 0, b.log.read_text()[-2000:]
    runs = runs_by_slot(database)
    assert_each_slot_once(runs, {"every-2s": 2, "every-3s": 3})
    after = [
        instance
        for check in runs.values()
        for slot, instance, _ in check
        if slot.timestamp() > killed_at + 3  # type: ignore[attr-defined]
    ]
    assert after and set(after) == {"instance-b"}


def test_the_check_files_are_reloaded_without_a_restart(
    stack: RunningStack, shared: tuple[str, Path], tmp_path: Path
) -> None:
    database, config = shared
    instance = Instance("only", config, stack.state_dir, tmp_path / "only.log")
    try:
        wait_until(instance.ready, timeout=60, what="the instance")
        write_checks(tmp_path / "checks", sql_check("added-later", "2s"))

        def added_ran() -> bool:
            return "added-later" in runs_by_slot(database)

        wait_until(added_ran, timeout=20, what="the new check to run")
        (tmp_path / "checks" / "broken.yaml").write_text("name: [unclosed\n")
        time.sleep(3)
        before = len(runs_by_slot(database)["added-later"])
        time.sleep(4)
        assert len(runs_by_slot(database)["added-later"]) > before, "a bad file stopped the rest"
        assert "check files not reloaded" in instance.log.read_text()
    finally:
        assert instance.stop() == 0, instance.log.read_text()[-2000:]


def test_runs_during_a_postgresql_outage_are_written_when_it_returns(
    stack: RunningStack, tmp_path: Path
) -> None:
    """The runs' database is a private PostgreSQL that is stopped for a while; the
    checks' own traffic goes to the session's PostgreSQL, so they keep passing."""
    private_dir = make_state_dir("covenant-sched-pg-")
    private = StackManager(stack_config(private_dir, engines=["postgres"]))
    private.up()
    try:
        store_url = load_state(private_dir).engines["postgres"].url
        config = CovenantConfig.model_validate(
            {
                "engines": {"postgres": {"url": store_url}},
                "stack": {"state_dir": str(stack.state_dir)},
                "checks": {
                    "dir": str(
                        write_checks(
                            tmp_path / "checks",
                            {
                                **sql_check("during-outage", "2s", jitter="0s"),
                                "traffic": {
                                    "sql": {
                                        "connection": "target",
                                        "statements": ["SELECT %(run_id)s"],
                                    }
                                },
                                "expect": [
                                    {
                                        "name": "answered",
                                        "sql": {"connection": "target", "query": "SELECT 1"},
                                    }
                                ],
                            },
                        )
                    ),
                    "connections": {"target": stack.url("postgres")},
                    "instance": "outage",
                },
            }
        )
        finished: list[str] = []

        async def scenario() -> None:
            scheduler = CheckScheduler(config, on_run=lambda run: finished.append(run.run_id))
            await scheduler.start()
            await asyncio.sleep(5)
            await asyncio.to_thread(private.down, names=["postgres"])
            await asyncio.sleep(12)  # a write waits up to 5 s for the pool, then spools
            assert scheduler.store.spooled_count() >= 2
            await asyncio.to_thread(private.up)
            await asyncio.sleep(12)  # the spool is flushed every 10 s
            await scheduler.stop(5)

        asyncio.run(scenario())
        with psycopg.connect(store_url) as conn:
            stored = {r[0] for r in conn.execute("SELECT run_id FROM checks.runs").fetchall()}
        assert finished and set(finished) <= stored, set(finished) - stored
        assert not list((stack.state_dir / "checks").glob("spool-outage*.ndjson"))
    finally:
        private.down(purge=True)


def test_the_status_page_shows_a_failing_drill_within_one_interval(
    stack: RunningStack, shared: tuple[str, Path], tmp_path: Path
) -> None:
    _, config = shared
    write_checks(tmp_path / "checks", sql_check("failing-drill", "4s", seen=False, jitter="0s"))
    instance = Instance("status", config, stack.state_dir, tmp_path / "status.log")
    try:
        wait_until(instance.ready, timeout=60, what="the instance")
        started = time.monotonic()
        page = f"http://127.0.0.1:{instance.port}/status"

        def shows_the_failure() -> bool:
            html = httpx.get(page, timeout=5).text
            start = html.find('id="check-failing-drill"')
            return start >= 0 and 'class="badge fail"' in html[start : start + 400]

        # One interval (4 s) to the next slot, plus the 1.5 s deadline and a page load.
        wait_until(shows_the_failure, timeout=4 + 1.5 + 3, what="the failing drill on /status")
        assert time.monotonic() - started <= 8.5
        metrics = httpx.get(f"http://127.0.0.1:{instance.port}/metrics", timeout=5).text
        assert 'covenant_check_runs_total{check="failing-drill",result="fail"}' in metrics
        assert "covenant_scheduler_running 1.0" in metrics
    finally:
        assert instance.stop() == 0, instance.log.read_text()[-2000:]


def test_shutdown_cancels_a_run_in_flight_and_records_it(
    stack: RunningStack, shared: tuple[str, Path], tmp_path: Path
) -> None:
    """SIGTERM with a run still waiting for its signal: the grace period (5 s) runs
    out, the run is cancelled, recorded as an error, and the process exits 0.

    The interval only has to hold one run: the deadline (10 s) outlasts the second
    before SIGTERM plus the grace period by 4 s, and the next slot comes after the
    process has exited. A shorter interval means a shorter wait for the first slot."""
    database, config = shared
    slow = {**sql_check("slow", "10s", seen=False, jitter="0s"), "deadline": "10s"}
    for old in (tmp_path / "checks").glob("*.yaml"):
        old.unlink()
    write_checks(tmp_path / "checks", slow)
    instance = Instance("stopping", config, stack.state_dir, tmp_path / "stopping.log")
    try:
        wait_until(instance.ready, timeout=60, what="the instance")

        def claimed() -> bool:
            with psycopg.connect(database) as conn:
                if conn.execute("SELECT to_regclass('checks.claims')").fetchone() == (None,):
                    return False
                return bool(conn.execute("SELECT 1 FROM checks.claims").fetchone())

        wait_until(claimed, timeout=30, what="a run to start")
        time.sleep(1)
    finally:
        assert instance.stop() == 0, instance.log.read_text()[-2000:]
    [(_, who, result)] = runs_by_slot(database)["slow"]
    assert (who, result) == ("stopping", "error")
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT r.error, c.lease_until < now() FROM checks.runs r"
            " JOIN checks.claims c ON c.check_name = r.check_name AND c.slot = r.scheduled_for"
        ).fetchone()
    assert row is not None
    error, lease_passed = row
    assert "cancelled" in error
    assert lease_passed, "the slot was not released for another instance"
