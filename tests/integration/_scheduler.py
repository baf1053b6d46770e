"""``covenant serve`` instances running scheduled checks, and the two-instance soak.

The soak (``test_scheduler.py::test_two_instances_run_each_slot_exactly_once``)
lasts ``TEST_SCHEDULER_SOAK_S`` seconds (ten minutes by default). It needs
nothing of the session's stack but a PostgreSQL, so it brings up a PostgreSQL of
its own and runs in the background while the rest of the suite runs: the
integration conftest starts it when collection is done (if the test is
selected) and orders the test last, and the test only waits for whatever of the
soak remains. Its own server means the drills that stop, freeze or restart the
session's PostgreSQL (``test_fault_drills.py``, ``test_checks.py``) cannot touch
it, and it cannot touch them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import yaml

from covenant.kernel.postgres import create_database
from covenant.kernel.stackstate import load_state
from covenant.stack._ports import free_port
from covenant.stack.manager import StackManager
from tests.conftest import REPO_ROOT, covenant_argv, covenant_env, wait_until

#: How long the two-instance run lasts. Not ``COVENANT_...``: every ``COVENANT_*``
#: variable is a configuration override, and an unknown one is an error in every
#: ``covenant`` command the tests start.
SOAK_S = float(os.environ.get("TEST_SCHEDULER_SOAK_S", "600"))
SOAK_TEST = "tests/integration/test_scheduler.py::test_two_instances_run_each_slot_exactly_once"
SOAK_INTERVALS = {"every-2s": 2, "every-3s": 3}

Runs = dict[str, list[tuple[object, str, str]]]


def sql_check(name: str, interval: str, *, seen: bool = True, jitter: str = "0.5s") -> dict:
    query = "SELECT 1" if seen else "SELECT 1 WHERE false"
    return {
        "name": name,
        "interval": interval,
        "jitter": jitter,
        "deadline": "1500ms",
        "traffic": {"sql": {"statements": ["SELECT %(run_id)s"]}},
        "expect": [{"name": "answered", "sql": {"query": query}}],
    }


def write_checks(directory: Path, *checks: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for check in checks:
        (directory / f"{check['name']}.yaml").write_text(yaml.safe_dump(check))
    return directory


def write_config(path: Path, database: str, checks: Path) -> Path:
    """The instances' configuration: runs, claims and the checks' SQL on ``database``."""
    path.write_text(
        yaml.safe_dump(
            {
                "engines": {"postgres": {"url": database}},
                "checks": {"dir": str(checks), "reload_interval_s": 1},
                "server": {"shutdown_timeout_s": 5},
            }
        )
    )
    return path


class Instance:
    """One ``covenant serve`` subprocess."""

    def __init__(self, name: str, config: Path, state_dir: Path, log: Path) -> None:
        self.name = name
        self.port = free_port()
        env = covenant_env(state_dir, extra={"COVENANT_CHECKS__INSTANCE": name})
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                covenant_argv("serve", "--port", str(self.port), config=config),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).is_success
        except httpx.TransportError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def runs_by_slot(database: str) -> Runs:
    with psycopg.connect(database) as conn:
        if conn.execute("SELECT to_regclass('checks.runs')").fetchone() == (None,):
            return {}  # no run stored yet
        rows = conn.execute(
            "SELECT check_name, scheduled_for, instance, result FROM checks.runs"
            " ORDER BY check_name, scheduled_for"
        ).fetchall()
    found: Runs = {}
    for check, slot, instance, result in rows:
        found.setdefault(check, []).append((slot, instance, result))
    return found


def assert_each_slot_once(runs: Runs, intervals: dict[str, int]) -> None:
    for check, step in intervals.items():
        slots = [slot for slot, _, _ in runs[check]]
        assert len(slots) == len(set(slots)), f"{check}: a slot ran twice"
        gaps = [
            (a, b)
            for a, b in itertools.pairwise(slots)
            if b - a != timedelta(seconds=step)  # type: ignore[operator]
        ]
        assert not gaps, f"{check}: missed slots between {gaps[:3]}"


class SchedulerSoak:
    """Two ``covenant serve`` instances scheduling ``every-2s`` and ``every-3s`` on a
    PostgreSQL of their own, started in a background thread by :meth:`start`;
    :meth:`finish` waits out the rest of ``seconds`` and stops them."""

    def __init__(self, seconds: float = SOAK_S) -> None:
        self.seconds = seconds
        self.state_dir: Path | None = None
        self.manager: StackManager | None = None
        self.database = ""
        self.instances: list[Instance] = []
        self.ready_at: float | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._bring_up, name="scheduler-soak", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _bring_up(self) -> None:
        # Imported here: the integration conftest imports this module.
        from tests.integration.conftest import make_state_dir, stack_config

        try:
            self.state_dir = make_state_dir("covenant-soak-")
            self.manager = StackManager(stack_config(self.state_dir, engines=["postgres"]))
            self.manager.up()
            server = load_state(self.state_dir).engines["postgres"].url
            self.database = create_database(server, "sched_soak")
            work = self.state_dir / "soak"
            checks = write_checks(
                work / "checks", sql_check("every-2s", "2s"), sql_check("every-3s", "3s")
            )
            config = write_config(work / "covenant.yaml", self.database, checks)
            for name in ("instance-a", "instance-b"):
                self.instances.append(Instance(name, config, self.state_dir, work / f"{name}.log"))
            wait_until(
                lambda: all(i.ready() for i in self.instances),
                timeout=60,
                what="both instances",
            )
            self.ready_at = time.monotonic()
        except BaseException as exc:  # handed to the test by finish()
            self._error = exc

    def finish(self) -> Runs:
        """Wait for the rest of the soak, stop both instances (each must exit 0), and
        return the runs they stored."""
        self._thread.join(timeout=300)
        if self._error is not None:
            raise self._error
        assert self.ready_at is not None, "the soak's instances never came up"
        remaining = self.seconds - (time.monotonic() - self.ready_at)
        try:
            time.sleep(max(0.0, remaining))
        finally:
            codes = [(i, i.stop()) for i in self.instances]
        for instance, code in codes:
            assert code == 0, instance.log.read_text()[-2000:]
        return runs_by_slot(self.database)

    def close(self) -> None:
        """Stop whatever is still running and remove the soak's PostgreSQL."""
        self._thread.join(timeout=300)
        for instance in self.instances:
            instance.stop(signal.SIGKILL)
        if self.manager is not None:
            self.manager.down(purge=True)
        if self.state_dir is not None and not os.environ.get("COVENANT_KEEP_TEST_STATE"):
            shutil.rmtree(self.state_dir, ignore_errors=True)
