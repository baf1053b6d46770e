"""covenant.app: /health and /metrics against loopback addresses, no real engines."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from covenant import __version__
from covenant.app import create_app
from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Credentials, Endpoint
from covenant.kernel.health import probe_sync

PASSWORD = "pw"


@pytest.fixture
def config() -> CovenantConfig:
    return CovenantConfig.model_validate({"server": {"health_timeout_s": 1}})


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FakeEngine:
    """A tiny HTTP server on loopback that answers ``status`` on ``ready_path``."""

    url: str
    status: int
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    body: bytes = b"ready\n"
    content_type: str = "text/plain"


def _serve(status: int, ready_path: str) -> Iterator[FakeEngine]:
    engine = FakeEngine(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            engine.requests.append((self.path, self.headers.get("Authorization")))
            code = engine.status if self.path == ready_path else 404
            body = engine.body
            self.send_response(code)
            self.send_header("Content-Type", engine.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    engine.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield engine
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def loki() -> Iterator[FakeEngine]:
    yield from _serve(200, "/ready")


@pytest.fixture
def broken_grafana() -> Iterator[FakeEngine]:
    yield from _serve(500, "/api/health")


def _get_health(config: CovenantConfig, endpoints: dict[str, Endpoint]) -> Any:
    app = create_app(config, endpoints=lambda: endpoints)
    with TestClient(app) as client:
        return client.get("/health")


def test_unreachable_engines_are_down(config: CovenantConfig, closed_port: int) -> None:
    endpoints = {
        "postgres": Endpoint(
            "postgres", f"postgresql://u:{PASSWORD}@127.0.0.1:{closed_port}/db", "config"
        ),
        "kafka": Endpoint("kafka", f"127.0.0.1:{closed_port}", "config"),
        "loki": Endpoint("loki", f"http://127.0.0.1:{closed_port}", "config"),
    }
    response = _get_health(config, endpoints)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["version"] == __version__
    engines = {engine["engine"]: engine for engine in body["engines"]}
    assert list(engines) == ["postgres", "kafka", "loki"]
    for engine in engines.values():
        assert engine["status"] == "down"
        assert isinstance(engine["error"], str)
        assert engine["error"]
        assert isinstance(engine["latency_ms"], int | float)
    assert engines["postgres"]["url"] == f"postgresql://u:***@127.0.0.1:{closed_port}/db"
    assert engines["kafka"]["url"] == f"127.0.0.1:{closed_port}"
    assert PASSWORD not in response.text


def test_a_ready_engine_is_up(config: CovenantConfig, loki: FakeEngine) -> None:
    response = _get_health(config, {"loki": Endpoint("loki", loki.url, "config")})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["engines"] == [
        {
            "engine": "loki",
            "url": loki.url,
            "status": "up",
            "latency_ms": body["engines"][0]["latency_ms"],
            "error": None,
        }
    ]
    assert [path for path, _ in loki.requests] == ["/ready"]


def test_one_engine_down_degrades_the_whole(
    config: CovenantConfig, loki: FakeEngine, closed_port: int
) -> None:
    response = _get_health(
        config,
        {
            "loki": Endpoint("loki", loki.url, "config"),
            "prometheus": Endpoint("prometheus", f"http://127.0.0.1:{closed_port}", "config"),
        },
    )
    assert response.status_code == 503
    statuses = {e["engine"]: e["status"] for e in response.json()["engines"]}
    assert statuses == {"loki": "up", "prometheus": "down"}


def test_non_200_answer_is_down_and_token_is_sent(
    config: CovenantConfig, broken_grafana: FakeEngine
) -> None:
    endpoint = Endpoint("grafana", broken_grafana.url, "config", Credentials(token="tok-secret"))
    response = _get_health(config, {"grafana": endpoint})
    assert response.status_code == 503
    (engine,) = response.json()["engines"]
    assert engine["status"] == "down"
    assert "HTTP 500" in engine["error"]
    assert broken_grafana.requests == [("/api/health", "Bearer tok-secret")]
    assert "tok-secret" not in response.text


@pytest.fixture
def event_worker() -> Iterator[FakeEngine]:
    yield from _serve(200, "/health")


def test_a_degraded_answer_is_reachable_but_says_degraded(
    config: CovenantConfig, event_worker: FakeEngine
) -> None:
    event_worker.content_type = "application/json"
    event_worker.body = json.dumps(
        {"status": "degraded", "degraded": ["kafka"], "since": "2026-12-02T00:00:00Z"}
    ).encode()
    endpoint = Endpoint("event_worker", event_worker.url, "stack")
    result = probe_sync(endpoint, timeout=2)
    assert result.healthy and result.degraded == "degraded: kafka"
    assert result.status == "degraded"
    response = _get_health(config, {"event_worker": endpoint})
    assert response.status_code == 200  # it answers; the stack's start waits for "ok"
    (engine,) = response.json()["engines"]
    assert engine["status"] == "degraded"
    event_worker.body = json.dumps({"status": "ok"}).encode()
    assert probe_sync(endpoint, timeout=2).status == "up"


def test_basic_auth_is_sent(config: CovenantConfig, loki: FakeEngine) -> None:
    endpoint = Endpoint(
        "loki", loki.url, "config", Credentials(basic_auth=("reader", "basic-secret"))
    )
    response = _get_health(config, {"loki": endpoint})
    assert response.status_code == 200
    expected = "Basic " + base64.b64encode(b"reader:basic-secret").decode()
    assert loki.requests == [("/ready", expected)]
    assert "basic-secret" not in response.text


def test_no_engines_is_healthy(config: CovenantConfig) -> None:
    response = _get_health(config, {})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["engines"] == []


def test_endpoints_are_read_on_every_health_check(config: CovenantConfig, loki: FakeEngine) -> None:
    current: dict[str, Endpoint] = {}
    app = create_app(config, endpoints=lambda: current)
    with TestClient(app) as client:
        assert client.get("/health").json()["engines"] == []
        current["loki"] = Endpoint("loki", loki.url, "config")
        assert [e["engine"] for e in client.get("/health").json()["engines"]] == ["loki"]


def test_metrics_after_health(config: CovenantConfig, loki: FakeEngine, closed_port: int) -> None:
    endpoints = {
        "loki": Endpoint("loki", loki.url, "config"),
        "kafka": Endpoint("kafka", f"127.0.0.1:{closed_port}", "config"),
    }
    app = create_app(config, endpoints=lambda: endpoints)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 503
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'covenant_engine_up{engine="loki"} 1.0' in text
    assert 'covenant_engine_up{engine="kafka"} 0.0' in text
    assert 'covenant_engine_probe_duration_seconds_count{engine="loki"} 1.0' in text
    assert "covenant_http_requests_total" in text
    assert 'covenant_http_requests_total{method="GET",route="/health",status="503"} 1.0' in text
    assert f'covenant_build_info{{version="{__version__}"}} 1.0' in text


def test_each_app_has_its_own_metrics(config: CovenantConfig, loki: FakeEngine) -> None:
    first = create_app(config, endpoints=lambda: {"loki": Endpoint("loki", loki.url, "config")})
    second = create_app(config, endpoints=dict)
    with TestClient(first) as client:
        client.get("/health")
    with TestClient(second) as client:
        text = client.get("/metrics").text
    assert 'covenant_engine_up{engine="loki"}' not in text


def test_unmatched_routes_are_counted_as_such(config: CovenantConfig) -> None:
    app = create_app(config, endpoints=dict)
    with TestClient(app) as client:
        assert client.get("/no/such/path").status_code == 404
        text = client.get("/metrics").text
    assert 'covenant_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text


def test_multi_host_postgres_url_is_reported_down_not_a_crash(
    config: CovenantConfig, closed_port: int
) -> None:
    # libpq accepts several hosts in one URL; a probe must never raise.
    target = f"postgresql://u:{PASSWORD}@127.0.0.1:{closed_port},127.0.0.1:{closed_port}/db"
    app = create_app(config, endpoints=lambda: {"postgres": Endpoint("postgres", target, "config")})
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/health")
    assert response.status_code == 503
    (engine,) = response.json()["engines"]
    assert engine["status"] == "down"
    assert PASSWORD not in response.text
