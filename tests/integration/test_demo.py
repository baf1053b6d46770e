"""The README's main job, ``covenant demo``, end to end on a stack of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from covenant.stack._ports import free_port
from tests.integration.conftest import make_state_dir


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_exits_0() -> None:
    state_dir = make_state_dir("covenant-demo-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")},
        "COVENANT_STACK__STATE_DIR": str(state_dir),
        "COVENANT_SERVER__PORT": str(free_port()),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "covenant", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        assert "every consumer deployable" in done.stdout
        for provider in ("baml-extractor", "elixir-processor", "hono-api", "event-worker"):
            assert f"{provider} at " in done.stdout and "verified" in done.stdout
        assert "can-i-deploy web-client" in done.stdout
        assert "FAILED" not in done.stdout
    finally:
        subprocess.run(
            [sys.executable, "-m", "covenant", "stack", "down", "--purge"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(state_dir, ignore_errors=True)
