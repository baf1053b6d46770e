"""``covenant serve`` as a real process against the real stack."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx

from covenant.stack._ports import free_port
from tests.conftest import covenant_argv, covenant_env, wait_until
from tests.integration.conftest import RunningStack


def test_serve_reports_every_engine_healthy_and_shuts_down_gracefully(
    stack: RunningStack,
) -> None:
    port = free_port()
    # An engine that is configured but unreachable must be reported by name.
    env = covenant_env(
        stack.state_dir, extra={"COVENANT_ENGINES__LOKI__URL": f"http://127.0.0.1:{free_port()}"}
    )
    process = subprocess.Popen(
        covenant_argv("serve", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answering() -> httpx.Response | None:
            try:
                return httpx.get(f"{base}/health", timeout=10)
            except httpx.TransportError:
                return None

        health = wait_until(answering, timeout=30, what="covenant serve to answer")
        body = health.json()
        engines = {e["engine"]: e for e in body["engines"]}
        assert health.status_code == 503
        assert engines["loki"]["status"] == "down"
        for name in ("postgres", "kafka", "prometheus", "alertmanager", "postgres_exporter"):
            assert engines[name]["status"] == "up", engines[name]
        password = stack.url("postgres").split(":")[2].split("@")[0]
        assert password not in health.text

        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'covenant_engine_up{engine="postgres"} 1.0' in metrics
        assert 'covenant_engine_up{engine="loki"} 0.0' in metrics

        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = process.wait(timeout=20)
        assert code == 0
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    assert "Shutting down" in output or "Finished server process" in output, output
    assert password not in output
