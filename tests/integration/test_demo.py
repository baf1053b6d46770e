"""The README's main job, ``covenant demo``, end to end on a stack of its own."""

from __future__ import annotations

import re
import shutil

import pytest

from covenant.stack._ports import free_port
from tests.conftest import CovenantCli
from tests.integration.conftest import make_state_dir


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_exits_0() -> None:
    state_dir = make_state_dir("covenant-demo-")
    cli = CovenantCli(state_dir)
    env = {"COVENANT_SERVER__PORT": str(free_port())}
    try:
        done = cli("demo", env=env, cwd=None, timeout=600)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        assert "every consumer deployable" in done.stdout
        for provider in ("baml-extractor", "elixir-processor", "hono-api", "event-worker"):
            assert f"{provider} at " in done.stdout and "verified" in done.stdout
        assert "can-i-deploy web-client" in done.stdout
        assert "FAILED" not in done.stdout
        # The HTTP journey, each step with its latency, and the alert drill: fired and
        # resolved in all three sources.
        for step in ("scrape", "process", "processed", "read-back", "list"):
            assert re.search(rf"passed\s+http:{step}\s+\d+\.\d+s", done.stdout), step
        for source in ("prometheus", "alertmanager", "grafana"):
            assert re.search(rf"seen\s+alert:firing-in-{source}\s+\d", done.stdout), source
            assert re.search(rf"seen\s+alert:resolved-in-{source}\s+\d", done.stdout), source
    finally:
        cli("stack", "down", "--purge", env=env, cwd=None, timeout=120)
        shutil.rmtree(state_dir, ignore_errors=True)
