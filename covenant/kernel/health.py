"""Reachability probes for every engine, run concurrently under one deadline.

Used by ``covenant stack status``, the stack's readiness waits and the
``/health`` endpoint, so all three agree on what "healthy" means.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import psycopg

from covenant.kernel.endpoints import READY_PATHS, Endpoint
from covenant.kernel.tls import default_ssl_context

__all__ = ["ProbeResult", "probe", "probe_all", "probe_sync"]


@dataclass(frozen=True)
class ProbeResult:
    name: str
    url: str
    healthy: bool
    latency_ms: float
    error: str | None = None
    #: The engine answers but says it is degraded (the event-worker's ``/health``
    #: while Kafka or PostgreSQL recovers): what it names as degraded.
    degraded: str | None = None

    @property
    def status(self) -> str:
        if not self.healthy:
            return "down"
        return "degraded" if self.degraded else "up"

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.name,
            "url": self.url,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 1),
            "error": self.error,
        }


async def _probe_postgres(endpoint: Endpoint, timeout: float) -> str | None:
    conn = await psycopg.AsyncConnection.connect(
        endpoint.target, connect_timeout=max(1, int(timeout)), autocommit=True
    )
    async with conn:
        await conn.execute("SELECT 1")
    return None


async def _probe_kafka(endpoint: Endpoint, timeout: float) -> str | None:
    from aiokafka import AIOKafkaClient  # heavy import, only when probing Kafka

    client = AIOKafkaClient(
        bootstrap_servers=endpoint.target, request_timeout_ms=int(timeout * 1000)
    )
    try:
        await client.bootstrap()
    finally:
        await client.close()
    return None


def _degraded(response: httpx.Response) -> str | None:
    """What a 200 answer says is degraded (``{"status": "degraded", "degraded": [...]}``)."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("status") != "degraded":
        return None
    names = body.get("degraded")
    if isinstance(names, list) and names:
        return "degraded: " + ", ".join(str(n) for n in names)[:200]
    return "degraded"


async def _probe_http(endpoint: Endpoint, timeout: float) -> str | None:
    url = endpoint.target + READY_PATHS.get(endpoint.name, "/")
    async with httpx.AsyncClient(
        timeout=timeout,
        headers=endpoint.credentials.http_headers(),
        verify=default_ssl_context(),
    ) as client:
        response = await client.get(url)
    if response.status_code in (401, 403):
        raise RuntimeError(
            f"HTTP {response.status_code} from {READY_PATHS.get(endpoint.name)}: "
            f"refused {endpoint.credentials.describe()}"
        )
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code} from {READY_PATHS.get(endpoint.name)}")
    return _degraded(response)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


async def probe(endpoint: Endpoint, timeout: float = 3.0) -> ProbeResult:
    """Probe one engine; never raises, the failure is in the result."""
    runner = {"postgres": _probe_postgres, "kafka": _probe_kafka, "http": _probe_http}[
        endpoint.probe
    ]
    started = time.perf_counter()
    try:
        degraded = await asyncio.wait_for(runner(endpoint, timeout), timeout)
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        # The message of a failed connection can echo the DSN; keep it redacted.
        message = _describe(exc).replace(endpoint.target, endpoint.display)
        return ProbeResult(endpoint.name, endpoint.display, False, elapsed, message)
    elapsed = (time.perf_counter() - started) * 1000
    return ProbeResult(endpoint.name, endpoint.display, True, elapsed, degraded=degraded)


async def probe_all(endpoints: Iterable[Endpoint], timeout: float = 3.0) -> list[ProbeResult]:
    return list(await asyncio.gather(*(probe(e, timeout) for e in endpoints)))


def probe_sync(endpoint: Endpoint, timeout: float = 3.0) -> ProbeResult:
    return asyncio.run(probe(endpoint, timeout))
