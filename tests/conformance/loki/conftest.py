"""The server under test: the Loki double on a loopback port (with a gateway token and
``--auth-enabled``), or a real Loki 3.x named by ``COVENANT_CONFORMANCE_LOKI_URL``
(optional ``COVENANT_CONFORMANCE_LOKI_TOKEN``, ``COVENANT_CONFORMANCE_LOKI_TENANT``).

Every case labels its streams ``covenant_conformance=<run id>`` (fresh per run), so a
shared real server works, and asserts only what Loki's API answers."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until

NS = 1_000_000_000
RUN_LABEL = "covenant_conformance"


@dataclass
class Loki:
    url: str
    token: str | None
    tenant: str | None
    run_id: str
    client: httpx.Client

    @property
    def headers(self) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.tenant:
            headers["X-Scope-OrgID"] = self.tenant
        return headers

    def labels(self, case: str, **extra: str) -> dict[str, str]:
        """A stream of this run and case only."""
        return {RUN_LABEL: self.run_id, "case": case, **extra}

    def selector(self, case: str) -> str:
        return f'{{{RUN_LABEL}="{self.run_id}", case="{case}"}}'

    def push(self, streams: list[dict[str, Any]], **kwargs: Any) -> httpx.Response:
        return self.client.post(
            "/loki/api/v1/push", json={"streams": streams}, headers=self.headers, **kwargs
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=self.headers)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def loki() -> Iterator[Loki]:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    real = os.environ.get("COVENANT_CONFORMANCE_LOKI_URL")
    if real:
        token = os.environ.get("COVENANT_CONFORMANCE_LOKI_TOKEN") or None
        tenant = os.environ.get("COVENANT_CONFORMANCE_LOKI_TENANT") or None
        with httpx.Client(base_url=real.rstrip("/"), timeout=30) as client:
            yield Loki(real, token, tenant, run_id, client)
        return
    token = secrets.token_urlsafe(24)
    port = _free_port()
    env = {**os.environ, "LOKI_DOUBLE_TOKEN": token}
    argv = [sys.executable, "-m", "observability.doubles", "loki", "--port", str(port)]
    process = subprocess.Popen([*argv, "--auth-enabled"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:

            def ready() -> bool:
                try:
                    return client.get("/ready").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, timeout=30, what="the Loki double to be ready")
            yield Loki(url, token, "covenant", run_id, client)
    finally:
        process.terminate()
        process.wait(timeout=10)


def now_ns() -> int:
    return time.time_ns()
