"""The server under test: the Grafana double on a loopback port, or a real Grafana 11 or
12 named by ``COVENANT_CONFORMANCE_GRAFANA_URL``.

* The double runs as ``python -m observability.doubles grafana`` with an API token
  (``GRAFANA_DOUBLE_TOKEN``) and Covenant's provisioning: the data sources and alert
  rules of ``observability/grafana/provisioning`` and the dashboards of
  ``observability/grafana/dashboards``. Its Prometheus, Loki and Alertmanager data
  sources point at a loopback port where nothing listens (a socket bound for the
  session but never listening), so no Prometheus is needed: the cases that reach
  Prometheus assert Grafana's answer for an unreachable one.
* A real Grafana needs that same provisioning loaded (as docker-compose.yml does),
  anonymous access off, and a service account token with the Admin role in
  ``COVENANT_CONFORMANCE_GRAFANA_TOKEN`` (reading data source settings needs
  ``datasources:read``). Whether its Prometheus data source is reachable is taken from
  the server's own health check of it (``Grafana.prometheus_up``), and the cases that
  reach Prometheus assert Grafana's answer for that situation.

The suite only reads: it creates, changes and deletes nothing on the server."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from observability import assets
from tests.conftest import REPO_ROOT, wait_until

# Covenant's provisioning (observability/grafana/provisioning, .../dashboards).
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
ALERTMANAGER_UID = "alertmanager"
RULE_FOLDER = "Covenant"
RULE_GROUP = "event-pipeline"
RULE_GROUP_INTERVAL_S = 10
STALLED_RULE = "EventPipelineStalled"
DB_ERRORS_RULE = "DatabaseWriteErrors"
DASHBOARDS = {
    "covenant": "Covenant synthetic checks",
    "covenant-stack": "Covenant stack",
    "event-pipeline": "Event pipeline",
}
# A uid no provisioning defines (valid as a short uid: letters, digits, '-').
MISSING_UID = "covenant-conformance-missing"


@dataclass
class Grafana:
    url: str
    token: str
    client: httpx.Client
    prometheus_up: bool

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=self.headers)

    def post(
        self, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return self.client.post(path, headers={**self.headers, **(headers or {})}, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prometheus_up(client: httpx.Client, token: str) -> bool:
    health = client.get(
        f"/api/datasources/uid/{PROMETHEUS_UID}/health",
        headers={"Authorization": f"Bearer {token}"},
    )
    return health.status_code == 200


@pytest.fixture(scope="session")
def grafana() -> Iterator[Grafana]:
    real = os.environ.get("COVENANT_CONFORMANCE_GRAFANA_URL")
    if real:
        token = os.environ.get("COVENANT_CONFORMANCE_GRAFANA_TOKEN")
        if not token:
            pytest.fail(
                "COVENANT_CONFORMANCE_GRAFANA_URL is set but COVENANT_CONFORMANCE_GRAFANA_TOKEN "
                "(a service account token) is not"
            )
        with httpx.Client(base_url=real.rstrip("/"), timeout=30) as client:
            yield Grafana(real, token, client, _prometheus_up(client, token))
        return
    token = secrets.token_urlsafe(24)
    port = _free_port()
    # Bound, never listening: a connection to it is refused, and no other process can
    # take the port while the suite runs.
    nowhere = socket.socket()
    nowhere.bind(("127.0.0.1", 0))
    nowhere_url = f"http://127.0.0.1:{nowhere.getsockname()[1]}"
    # The data source credentials come from COVENANT_DS_* through provisioning
    # interpolation: none of the caller's leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_DS_")}
    env["GRAFANA_DOUBLE_TOKEN"] = token
    argv = [
        sys.executable,
        "-m",
        "observability.doubles",
        "grafana",
        "--port",
        str(port),
        "--prometheus",
        nowhere_url,
        "--loki",
        nowhere_url,
        "--alertmanager",
        nowhere_url,
        "--provisioning",
        str(assets.grafana_provisioning()),
        "--dashboards",
        str(assets.grafana_dashboards()),
    ]
    process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as client:

            def ready() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"the Grafana double exited with {process.returncode}")
                try:
                    return client.get("/api/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, timeout=30, what="the Grafana double to be ready")
            yield Grafana(url, token, client, prometheus_up=False)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        nowhere.close()
