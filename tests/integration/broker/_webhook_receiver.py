"""What the webhook, security, restart and CLI tests share: an in-process HTTP
receiver on 127.0.0.1 that records requests, and publishing over the broker's API."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.conftest import wait_until


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``with Receiver() as r: r.url``; answers ``statuses`` in turn (then the last one).

    ``hang=True`` never answers (until the receiver closes); ``echo_headers`` puts
    the request headers into the response body (to check the broker scrubs them);
    ``delay_s`` holds each answer that long, and ``peak`` is the most requests
    that were in progress at once.
    """

    statuses: list[int] = field(default_factory=lambda: [200])
    hang: bool = False
    echo_headers: bool = False
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    peak: int = 0
    _active: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _closing: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )
                    index = len(receiver.requests) - 1
                    receiver._active += 1
                    receiver.peak = max(receiver.peak, receiver._active)
                try:
                    self._answer(index)
                finally:
                    with receiver._lock:
                        receiver._active -= 1

            def _answer(self, index: int) -> None:
                if receiver.delay_s:
                    receiver._closing.wait(receiver.delay_s)
                if receiver.hang:
                    receiver._closing.wait(30)
                    return
                status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                payload = (
                    json.dumps(dict(self.headers.items())).encode()
                    if receiver.echo_headers
                    else f"receiver says {status}".encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_until_active(self, count: int, timeout: float = 20) -> None:
        """Until ``count`` requests are in progress at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._active >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"never {count} requests in progress at once (peak {self.peak})")

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} request(s), got {len(self.requests)}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pact(consumer: str, provider: str, marker: str = "a") -> dict[str, Any]:
    return {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [
            {
                "description": f"a request for {marker}",
                "request": {"method": "GET", "path": f"/things/{marker}"},
                "response": {"status": 200, "body": {"marker": marker}},
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


def publish(
    client: httpx.Client,
    consumer: str,
    provider: str,
    version: str,
    *,
    marker: str = "a",
    branch: str | None = "main",
) -> dict[str, Any]:
    """POST /contracts/publish one pact; returns the broker's answer."""
    body: dict[str, Any] = {
        "pacticipantName": consumer,
        "pacticipantVersionNumber": version,
        "contracts": [
            {
                "consumerName": consumer,
                "providerName": provider,
                "specification": "pact",
                "contentType": "application/json",
                "content": base64.b64encode(
                    json.dumps(pact(consumer, provider, marker)).encode()
                ).decode(),
            }
        ],
    }
    if branch:
        body["branch"] = branch
    response = client.post("/contracts/publish", json=body)
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def deliveries(client: httpx.Client, webhook_url: str) -> list[dict[str, Any]]:
    response = client.get(webhook_url + "/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["_embedded"]["deliveries"]
    return found


def finished(client: httpx.Client, webhook_url: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait until ``count`` deliveries of the webhook are no longer pending."""

    def check() -> list[dict[str, Any]] | None:
        found = [d for d in deliveries(client, webhook_url) if d["status"] != "pending"]
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = wait_until(check, timeout=30, what="webhook deliveries")
    return result
