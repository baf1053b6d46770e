"""Push the worker's JSON log lines to Loki (``POST {LOKI_URL}/loki/api/v1/push``).

Why a pusher inside the worker rather than a log shipper next to it: the local
stack runs the worker as a plain process, without Promtail or Docker log
drivers, and Covenant's checks look a run's log line up in Loki. The pusher is
strictly best effort, because logging must never slow down or break message
handling:

* ``submit`` only puts the line on a bounded queue (``put_nowait``); when the
  queue is full the line is dropped and counted, the caller never waits;
* a daemon thread sends batches (every ``flush_interval`` seconds or
  ``batch_size`` lines, whichever comes first), so the asyncio loop that
  consumes Kafka never does network I/O for logs;
* a failed push is retried with exponential backoff a bounded number of times,
  then the batch is dropped and counted; no exception ever leaves the thread;
* ``close`` flushes what is queued within a deadline, so a shutdown is not held
  up by an unreachable Loki.

Stream labels are only ``service`` and ``level``: run ids and trace ids are
unbounded, and as labels they would create one Loki stream per run. They stay
in the JSON line, where ``{service="event-worker"} |= "<run id>"`` or
``| json | run_id="<run id>"`` finds them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from event_worker import logs

__all__ = ["PUSH_PATH", "LokiMetrics", "LokiPusher", "start_from_env", "stop"]

PUSH_PATH = "/loki/api/v1/push"


@dataclass(frozen=True)
class _Line:
    ts_ns: int
    level: str
    line: str


_WAKE = object()  # put on the queue by close() so the thread stops waiting at once


class LokiMetrics:
    """Counters for what never reached Loki; registered on the worker's registry."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.push_errors = Counter(
            "event_worker_loki_push_errors_total",
            "Failed attempts to push a batch of log lines to Loki (each retry counts)",
            registry=registry,
        )
        self.dropped_lines = Counter(
            "event_worker_loki_dropped_lines_total",
            "Log lines not sent to Loki: the queue was full or every retry failed",
            registry=registry,
        )


class LokiPusher:
    """Batch log lines and push them to Loki from a background thread.

    ``url`` is Loki's base URL (``http://127.0.0.1:3100``); a URL that already
    ends with the push path is used as it is.
    """

    def __init__(
        self,
        url: str,
        metrics: LokiMetrics,
        *,
        service: str = logs.SERVICE,
        batch_size: int = 100,
        flush_interval: float = 0.5,
        max_queue: int = 10_000,
        timeout: float = 2.0,
        max_attempts: int = 5,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        token: str | None = None,
        tenant: str | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"LOKI_URL must be an http(s) URL, got {url!r}")
        base = url.rstrip("/")
        self.push_url = base if base.endswith(PUSH_PATH) else base + PUSH_PATH
        self.metrics = metrics
        self.service = service
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        # A gateway's bearer token and the tenant of a multi-tenant Loki (auth_enabled).
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        if tenant:
            self._headers["X-Scope-OrgID"] = tenant
        self._queue: queue.Queue[_Line | object] = queue.Queue(maxsize=max(1, max_queue))
        self._closing = threading.Event()
        self._deadline: float | None = None  # monotonic time by which close() gives up
        self._failing = False  # only the first failure of a series is reported on stdout
        self._thread = threading.Thread(target=self._run, name="loki-pusher", daemon=True)

    def start(self) -> LokiPusher:
        self._thread.start()
        return self

    def submit(self, line: str, level: str) -> None:
        """Queue one log line; never blocks, never raises."""
        if self._closing.is_set():
            self.metrics.dropped_lines.inc()
            return
        try:
            self._queue.put_nowait(_Line(time.time_ns(), level, line))
        except queue.Full:
            self.metrics.dropped_lines.inc()

    def close(self, timeout: float = 5.0) -> None:
        """Flush the queued lines, giving up after ``timeout`` seconds; idempotent."""
        if not self._closing.is_set():
            self._deadline = time.monotonic() + timeout
            self._closing.set()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_WAKE)
        if self._thread.is_alive():
            self._thread.join(timeout + 1.0)

    # -- background thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                batch = self._collect()
                if batch:
                    self._push(batch)
            except Exception as exc:  # the pusher must never take the worker down
                self._report(f"loki pusher error: {exc!r}")
            if self._closing.is_set() and (self._queue.empty() or self._past_deadline()):
                break
        leftover = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            leftover += isinstance(item, _Line)
        if leftover:
            self.metrics.dropped_lines.inc(leftover)

    def _collect(self) -> list[_Line]:
        """Up to ``batch_size`` lines, waiting at most ``flush_interval`` after the first."""
        batch: list[_Line] = []
        first_at: float | None = None
        while len(batch) < self.batch_size:
            if self._closing.is_set():
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            else:
                wait = (
                    self.flush_interval
                    if first_at is None
                    else first_at + self.flush_interval - time.monotonic()
                )
                if wait <= 0:
                    break
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    break
            if isinstance(item, _Line):
                batch.append(item)
                if first_at is None:
                    first_at = time.monotonic()
        return batch

    def _push(self, batch: list[_Line]) -> None:
        body = json.dumps(self._body(batch), separators=(",", ":")).encode()
        delay = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            timeout = self.timeout
            if self._deadline is not None:
                timeout = min(timeout, self._deadline - time.monotonic())
                if timeout <= 0:
                    break
            retry, error = self._send(body, timeout)
            if error is None:
                if self._failing:
                    self._failing = False
                    self._report("loki push recovered", level="info")
                return
            self.metrics.push_errors.inc()
            if not self._failing:
                self._failing = True
                self._report(f"loki push failed: {error}", attempt=attempt)
            if not retry or attempt == self.max_attempts:
                break
            # During close() the backoff is cut short; the deadline still bounds the retries.
            self._closing.wait(delay)
            delay = min(delay * 2, self.max_backoff)
        self.metrics.dropped_lines.inc(len(batch))

    def _send(self, body: bytes, timeout: float) -> tuple[bool, str | None]:
        """POST one batch: ``(worth retrying, error or None)``."""
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.push_url,
            data=body,
            method="POST",
            headers=self._headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
            return False, None
        except urllib.error.HTTPError as exc:
            # 429 and 5xx are Loki being busy or down; other 4xx (a line too long or too
            # old) would be refused again, so the batch is dropped without retrying.
            return exc.code == 429 or exc.code >= 500, f"HTTP {exc.code}"
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return True, str(exc) or type(exc).__name__

    def _body(self, batch: list[_Line]) -> dict[str, object]:
        streams: dict[str, list[list[str]]] = {}
        for item in batch:
            streams.setdefault(item.level, []).append([str(item.ts_ns), item.line])
        return {
            "streams": [
                {"stream": {"service": self.service, "level": level}, "values": values}
                for level, values in streams.items()
            ]
        }

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    @staticmethod
    def _report(msg: str, *, level: str = "warn", **fields: object) -> None:
        """Say it on stdout only: sending the pusher's own trouble to Loki could loop."""
        with contextlib.suppress(Exception):
            logs.log_local(level, msg, **fields)


def start_from_env(registry: CollectorRegistry | None) -> LokiPusher | None:
    """Start pushing every log line to ``LOKI_URL`` when it is set; ``None`` otherwise.

    ``LOKI_TOKEN`` (a bearer token, as a gateway in front of Loki asks for) and
    ``LOKI_TENANT`` (sent as ``X-Scope-OrgID`` to a Loki with ``auth_enabled``)
    are optional.

    A malformed ``LOKI_URL`` is reported on stderr and ignored: logs on stdout are
    the worker's primary output and Loki is an optional extra.
    """
    url = os.environ.get("LOKI_URL", "").strip()
    if not url:
        return None
    try:
        pusher = LokiPusher(
            url,
            LokiMetrics(registry),
            token=os.environ.get("LOKI_TOKEN", "").strip() or None,
            tenant=os.environ.get("LOKI_TENANT", "").strip() or None,
        )
    except ValueError as exc:
        sys.stderr.write(f"event-worker: {exc}; not pushing logs to Loki\n")
        return None
    logs.set_sink(pusher.start())
    return pusher


def stop(pusher: LokiPusher | None, timeout: float = 5.0) -> None:
    """Detach ``pusher`` from the logs and flush it (shutdown)."""
    if pusher is None:
        return
    logs.set_sink(None)
    pusher.close(timeout)
