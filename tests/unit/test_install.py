"""Guards the urllib3-future pitfall in the install step.

grafana-client pulls in urllib3-future, whose wheel ships a .pth file that
replaces urllib3 at every interpreter start; Schemathesis then errors every
request. scripts/setup-python.sh installs it from source with
URLLIB3_NO_OVERRIDE=1. These tests run fresh interpreters of the installed
environment, because the .pth acts at interpreter start.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "ping", "version": "1"},
    "paths": {
        "/ping": {
            "get": {
                "responses": {
                    "200": {
                        "description": "pong",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["pong"],
                                    "properties": {"pong": {"type": "boolean"}},
                                }
                            }
                        },
                    }
                },
            }
        }
    },
}


class _PingHandler(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        if self.path == "/openapi.json":
            body = json.dumps(SPEC).encode()
        elif self.path.startswith("/ping"):
            type(self).hits += 1
            body = b'{"pong": true}'
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def ping_server() -> Iterator[str]:
    _PingHandler.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_urllib3_is_the_real_one_while_grafana_client_imports() -> None:
    code = (
        "import grafana_client, urllib3, json;"
        "api = grafana_client.GrafanaApi.from_url('http://127.0.0.1:1');"
        "print(json.dumps({'file': urllib3.__file__, 'version': urllib3.__version__}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    # urllib3-future reports 2.<minor>.9xx versions; the real urllib3 never does.
    patch = int(info["version"].split(".")[2])
    assert patch < 900, f"urllib3 was replaced by urllib3-future: {info}"


def test_schemathesis_sends_requests_in_the_installed_environment(ping_server: str) -> None:
    done = subprocess.run(
        [
            _bin("schemathesis"),
            "run",
            f"{ping_server}/openapi.json",
            "--max-examples",
            "5",
            "--phases",
            "examples,fuzzing",
            "--mode",
            "positive",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "TrafficPolice" not in output, output
    assert done.returncode == 0, output
    assert _PingHandler.hits > 0, f"schemathesis passed without calling the API:\n{output}"
