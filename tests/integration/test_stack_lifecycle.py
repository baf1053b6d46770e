"""The stack manager's promises: idempotent up, restart of dead engines, data kept."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import psycopg
import pytest
from fastapi.testclient import TestClient

from covenant.app import create_app
from covenant.kernel.config import STACK_ENGINES
from covenant.kernel.stackstate import load_state
from covenant.stack._process import is_alive
from covenant.stack.manager import StackManager
from tests.conftest import CovenantCli, wait_until
from tests.integration.conftest import RunningStack, make_state_dir, stack_config


def test_up_twice_is_a_no_op(stack: RunningStack) -> None:
    before = {name: rec.pid for name, rec in load_state(stack.state_dir).engines.items()}
    messages: list[str] = []
    StackManager(stack.config, report=messages.append).up()
    after = {name: rec.pid for name, rec in load_state(stack.state_dir).engines.items()}
    assert after == before
    assert set(before) == set(STACK_ENGINES)
    assert all("already running" in m for m in messages), messages


def test_killed_engine_shows_down_then_up_restarts_it(
    stack: RunningStack, cli: CovenantCli
) -> None:
    record = load_state(stack.state_dir).engines["alertmanager"]
    os.kill(record.pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(record.pid, record.proc_start), timeout=10, what="kill")

    statuses = {row.name: row for row in stack.manager.status()}
    assert statuses["alertmanager"].state == "stopped"
    assert statuses["postgres"].state == "healthy"

    status = cli("stack", "status", timeout=60)
    assert status.returncode == 1, status.stdout + status.stderr
    assert "alertmanager" in status.stdout and "stopped" in status.stdout
    assert "Traceback" not in status.stderr

    with TestClient(create_app(stack.config)) as client:
        health = client.get("/health")
    assert health.status_code == 503
    engines = {e["engine"]: e for e in health.json()["engines"]}
    assert engines["alertmanager"]["status"] == "down"
    assert engines["alertmanager"]["error"]
    assert engines["postgres"]["status"] == "up"

    StackManager(stack.config).up()
    restarted = load_state(stack.state_dir).engines["alertmanager"]
    assert restarted.pid != record.pid
    assert restarted.port == record.port, "a restarted engine keeps its address"
    with TestClient(create_app(stack.config)) as client:
        assert client.get("/health").status_code == 200


@pytest.mark.slow
def test_down_then_up_keeps_postgres_data_and_purge_deletes_it() -> None:
    state_dir = make_state_dir("covenant-persist-")
    config = stack_config(state_dir, engines=["postgres"])
    manager = StackManager(config)
    try:
        manager.up()
        url = load_state(state_dir).engines["postgres"].url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('survives a restart')")
        assert manager.down() == ["postgres"]
        assert "postgres" not in load_state(state_dir).engines

        manager.up()
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT v FROM kept").fetchall()
        assert rows == [("survives a restart",)]

        manager.down(purge=True)
        assert not (state_dir / "postgres" / "data").exists()
    finally:
        manager.down(purge=True)
        shutil.rmtree(state_dir, ignore_errors=True)


def test_down_leaves_processes_it_did_not_start_alone() -> None:
    state_dir = make_state_dir("covenant-foreign-")
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        manager = StackManager(stack_config(state_dir, engines=["kafka"]))
        assert manager.down() == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
        shutil.rmtree(state_dir, ignore_errors=True)
