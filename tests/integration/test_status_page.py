"""The status page and its JSON API on a real PostgreSQL, looked at by headless Chromium.

Runs are stored the way the scheduler stores them (``RunStore.save``), fuzz results
the way ``covenant fuzz`` does, pacts and verifications through the broker's own
endpoints. Hostile text (an error echoing ``<img onerror>``) must reach the browser
as text: Chromium's DOM must hold no element built from it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from covenant.app import BackgroundServer, create_app
from covenant.kernel.config import CovenantConfig
from schedules import CheckRun, ExpectationResult, RunStore
from tests.integration.broker._seed_b import publish, verify
from tests.integration.conftest import RunningStack, fresh_database
from verifiers.fuzz import Finding, FuzzOptions, FuzzResult, save_result

IMG = "<img src=x onerror=alert(1)>"
RW = "status-rw-token"
CHECK_FILE = """\
name: {name}
description: "{description}"
interval: 60s
jitter: 5s
deadline: 20s
traffic:
  sql:
    statements: ["SELECT 1"]
expect:
  - name: row-written
    sql:
      query: SELECT 1
  - name: commits-counted
    prometheus:
      increase: pg_stat_database_xact_commit
"""


@dataclass
class Served:
    url: str
    fuzz_run_id: str


def _run(check: str, minutes: int, result: str, error: str | None = None) -> CheckRun:
    started = datetime.now(UTC) - timedelta(minutes=minutes)
    run = CheckRun(
        check=check,
        run_id=f"{check}-{minutes}",
        trace_id="1" * 32,
        started_at=started,
        finished_at=started + timedelta(seconds=3),
        result=result,  # type: ignore[arg-type]
        error=error,
    )
    seen = result == "pass"
    run.expectations = [
        ExpectationResult("row-written", "sql", "seen", latency_s=0.1 + minutes / 100, polls=1),
        ExpectationResult(
            "commits-counted",
            "prometheus",
            "seen" if seen else "not_seen",
            latency_s=1.5 + minutes / 10 if seen else None,
            detail="" if seen else f"nothing within 20s: {IMG}",
            polls=4,
        ),
    ]
    return run


def _seed_runs(database_url: str, spool: Path) -> None:
    store = RunStore(database_url, spool)
    runs = [_run("orders-pipeline", m, "pass") for m in (9, 8, 7, 5, 4, 2)]
    runs += [_run("orders-pipeline", 6, "fail"), _run("orders-pipeline", 1, "error", IMG)]
    runs += [_run("ledger-sql", m, "pass") for m in (3, 2, 1)]

    async def save_all() -> None:
        for run in runs:
            assert await store.save(run)

    asyncio.run(save_all())


def _seed_fuzz(database_url: str) -> str:
    now = datetime.now(UTC)
    finding = Finding(
        id="finding-1",
        operation="GET /api/events",
        check="not_a_server_error",
        code="500",
        title=f"Server error {IMG}",
        message="the API answered 500",
        severity="high",
        request={"method": "GET", "path": "/api/events"},
        response={"status": 500},
        curl="curl -X GET http://127.0.0.1:1/api/events",
    )
    options = FuzzOptions(service="hono-api", spec="http://user:sekret@127.0.0.1:1/openapi.json")
    result = FuzzResult(options, now - timedelta(minutes=3), now, "findings", 4, 120, [finding])
    save_result(database_url, result)
    return str(result.run_id)


@pytest.fixture(scope="module")
def served(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    database_url = fresh_database(stack, "status_it")
    checks = tmp_path_factory.mktemp("checks")
    for name, description in (("orders-pipeline", f"orders flow {IMG}"), ("ledger-sql", "ok")):
        (checks / f"{name}.yaml").write_text(
            CHECK_FILE.format(name=name, description=description), encoding="utf-8"
        )
    _seed_runs(database_url, tmp_path_factory.mktemp("spool") / "runs.jsonl")
    fuzz_run_id = _seed_fuzz(database_url)
    config = CovenantConfig.model_validate(
        {
            "engines": {"postgres": {"url": database_url}},
            "checks": {"dir": str(checks)},
            "broker": {"read_write_tokens": [RW], "allow_anonymous_read": True},
        }
    )
    with BackgroundServer(create_app(config)) as server:
        headers = {"Authorization": f"Bearer {RW}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            shas = publish(client, "web-app", "1.0.0", ["orders-api", "ledger-api"])
            verify(client, "orders-api", "web-app", shas["orders-api"], "2.0.0", success=True)
            shas = publish(client, "mobile-app", "3.1.0", ["orders-api"])
            verify(client, "orders-api", "mobile-app", shas["orders-api"], "2.0.1", success=False)
        yield Served(server.url, fuzz_run_id)


def test_the_json_api_answers(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        checks = {c["name"]: c for c in client.get("/api/checks").json()["checks"]}
        orders = checks["orders-pipeline"]
        assert orders["last_run"]["result"] == "error"
        assert orders["recent_runs"] == 8
        assert orders["pass_rate"] == 0.75
        assert orders["signals"] == ["sql:row-written", "prometheus:commits-counted"]
        assert checks["ledger-sql"]["pass_rate"] == 1.0

        runs = client.get("/api/checks/orders-pipeline/runs", params={"limit": 2}).json()["runs"]
        assert [r["run_id"] for r in runs] == ["orders-pipeline-1", "orders-pipeline-2"]
        assert runs[0]["error"] == IMG
        missing = client.get("/api/checks/no-such-check/runs")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert client.get("/api/runs", params={"limit": 0}).status_code == 400

        failed = client.get("/api/runs", params={"result": "fail"}).json()["runs"]
        assert [r["run_id"] for r in failed] == ["orders-pipeline-6"]

        fuzz = client.get("/api/fuzz/runs").json()["runs"]
        assert [(r["service"], r["outcome"], r["findings"]) for r in fuzz] == [
            ("hono-api", "findings", 1)
        ]
        assert "sekret" not in fuzz[0]["spec"]
        findings = client.get(f"/api/fuzz/runs/{served.fuzz_run_id}/findings").json()
        assert findings["findings"][0]["title"] == f"Server error {IMG}"
        unknown = client.get("/api/fuzz/runs/00000000-0000-4000-8000-000000000000/findings")
        assert unknown.status_code == 404

        pairs = client.get("/api/contracts/matrix").json()["pairs"]
        statuses = {(p["consumer"], p["provider"]): p["status"] for p in pairs}
        assert statuses == {
            ("mobile-app", "orders-api"): "failure",
            ("web-app", "ledger-api"): "unverified",
            ("web-app", "orders-api"): "success",
        }

        spec = client.get("/openapi.json").json()
        assert "/api/checks" in spec["paths"]
        assert spec["paths"]["/api/checks"]["get"]["tags"] == ["status"]


def test_a_database_without_any_schema_reads_as_empty(stack: RunningStack, tmp_path: Path) -> None:
    database_url = fresh_database(stack, "status_empty")
    config = CovenantConfig.model_validate(
        {"engines": {"postgres": {"url": database_url}}, "checks": {"dir": str(tmp_path)}}
    )
    with (
        BackgroundServer(create_app(config)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert client.get("/api/runs").json() == {"runs": []}
        assert client.get("/api/fuzz/runs").json() == {"runs": []}
        assert client.get("/api/contracts/matrix").json() == {"pairs": []}
        assert client.get("/api/checks").json() == {"checks": [], "problems": []}
        page = client.get("/status")
        assert page.status_code == 200
        assert "No fuzz runs stored yet." in page.text


class _Elements(HTMLParser):
    """Every start tag of a document, as the browser serialised it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[bytes]:
    """Run headless Chromium, bounded: on timeout its whole process group is killed
    (the browser forks renderers that a plain kill would leave behind)."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (scripts/setup-system.sh installs it)")
    argv = [
        binary,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"chromium did not finish within 60s: {argv}") from None
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def test_chromium_renders_the_page_with_payloads_as_text(served: Served, tmp_path: Path) -> None:
    url = f"{served.url}/status"
    headers = httpx.get(url, timeout=30).headers
    assert headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    )

    dumped = _chromium("--dump-dom", url, profile=tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")[-2000:]
    dom = dumped.stdout.decode()
    assert "orders-pipeline" in dom and "ledger-sql" in dom
    assert '<span class="badge pass">pass</span>' in dom
    assert '<span class="badge fail">fail</span>' in dom
    assert '<span class="badge error">error</span>' in dom
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert '<img src="x"' not in dom
    parser = _Elements()
    parser.feed(dom)
    tags = [tag for tag, _ in parser.tags]
    assert "img" not in tags and "script" not in tags
    assert not any(name.startswith("on") for _, attrs in parser.tags for name in attrs)
    assert tags.count("svg") == 4  # two signals for each of two checks
    assert "hono-api" in dom and "web-app" in dom and "unverified" in dom

    shot = tmp_path / "status.png"
    taken = _chromium(
        f"--screenshot={shot}", "--window-size=1280,1600", url, profile=tmp_path / "profile-shot"
    )
    assert taken.returncode == 0, taken.stderr.decode(errors="replace")[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000
    print(f"status page screenshot: {shot}")
