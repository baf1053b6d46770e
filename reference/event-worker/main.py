"""Start the event worker: ``python reference/event-worker/main.py``.

Environment: ``DATABASE_URL``, ``KAFKA_BROKERS`` (required); ``HOST``, ``PORT``
(HTTP: health, metrics), ``PACT_PROVIDER_STATES=true`` (the Pact message
endpoint), ``COVENANT_FAULT=renamed-field`` (a broken variant for tests),
``LOKI_URL`` (e.g. ``http://127.0.0.1:3100``: also push every log line to Loki),
with ``LOKI_TOKEN`` (bearer token) and ``LOKI_TENANT`` (``X-Scope-OrgID``) when
that Loki asks for them.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvicorn
from event_worker import loki
from event_worker.http import create_app
from event_worker.logs import log
from event_worker.store import EventStore
from event_worker.worker import Settings, Worker, WorkerMetrics
from prometheus_client import CollectorRegistry


async def serve(settings: Settings) -> None:
    registry = CollectorRegistry()
    pusher = loki.start_from_env(registry)
    try:
        await _serve(settings, registry)
    finally:
        # Synchronous on purpose: the server and the consumer have stopped, and the
        # final flush must not be cut short by a cancellation.
        loki.stop(pusher)


async def _serve(settings: Settings, registry: CollectorRegistry) -> None:
    store = EventStore(settings.database_url)
    await store.open()
    worker = Worker(settings, store, WorkerMetrics(registry))
    stopping = asyncio.Event()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, store, worker, registry),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    )
    consuming = asyncio.create_task(worker.run(stopping))
    log("info", "started", port=settings.port)
    try:
        await server.serve()
    finally:
        stopping.set()
        await consuming
        await store.close()
        log("info", "stopped")


def main() -> None:
    settings = Settings.from_env()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)  # uvicorn re-raises; exit 0 after shutdown
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
