"""HTTP journeys against the real reference system: the shipped example end to end,
a journey that breaks, and steps that must bring credentials to a secured engine."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import yaml

from tests.conftest import CovenantCli
from tests.integration.conftest import RunningStack

STEP_LINE = re.compile(r"^\s+(passed|failed|error)\s+http:([\w.-]+)\s+(\S+)\s+(.*)$", re.M)


def test_the_example_journey_passes_each_step_printed_with_its_latency(
    stack: RunningStack, cli: CovenantCli
) -> None:
    done = cli("check", "run", "journey-http", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = STEP_LINE.findall(done.stdout)
    assert [(word, name) for word, name, _, _ in steps] == [
        ("passed", "scrape"),
        ("passed", "process"),
        ("passed", "processed"),
        ("passed", "read-back"),
        ("passed", "list"),
    ]
    for _, name, latency, detail in steps:
        assert re.fullmatch(r"\d+\.\d{3}s", latency), (name, latency)
        assert "HTTP 20" in detail
    for signal in ("sql:stored", "prometheus:counted", "loki:logged", "prometheus:read-p95"):
        assert re.search(rf"seen\s+{signal}\s+\d", done.stdout), done.stdout
    run_id = re.search(r"run ([0-9a-f]{32})", done.stdout)
    assert run_id is not None
    # Stored like signals: each step with its latency.
    with psycopg.connect(stack.url("postgres")) as conn:
        rows = conn.execute(
            "SELECT name, outcome, latency_s FROM checks.expectation_results"
            " WHERE run_id = %s AND kind = 'http' ORDER BY name",
            (run_id.group(1),),
        ).fetchall()
    assert sorted(r[0] for r in rows) == ["list", "process", "processed", "read-back", "scrape"]
    assert all(r[1] == "seen" and r[2] is not None and r[2] > 0 for r in rows), rows


def write_checks(
    tmp_path: Path, checks: list[dict[str, object]], config: dict[str, object]
) -> Path:
    directory = tmp_path / "checks"
    directory.mkdir()
    (directory / "checks.yaml").write_text(yaml.safe_dump(checks), encoding="utf-8")
    path = tmp_path / "covenant.yaml"
    settings: dict[str, object] = dict(config.get("checks") or {})  # type: ignore[call-overload]
    settings["dir"] = str(directory)
    path.write_text(yaml.safe_dump({**config, "checks": settings}), encoding="utf-8")
    return path


def test_a_broken_journey_fails_at_its_step_and_leaves_the_rest(
    tmp_path: Path, cli: CovenantCli
) -> None:
    check: dict[str, object] = {
        "name": "broken-journey",
        "deadline": "20s",
        "traffic": {
            "steps": [
                {
                    "name": "scrape",
                    "method": "POST",
                    "service": "hono-api",
                    "path": "/api/scrape/luma",
                    # hono-api accepts only lu.ma and luma.com pages: 400.
                    "json": {"url": "https://example.com/{{ run_id }}"},
                    "capture": {"eventId": "$.eventId"},
                    "assert": {"status": 202},
                },
                {"name": "read", "service": "hono-api", "path": "/api/events/{{ eventId }}"},
            ]
        },
        "expect": [{"name": "stored", "sql": {"query": "SELECT 1 WHERE %(eventId)s = ''"}}],
    }
    config = write_checks(tmp_path, [check], {})
    done = cli("check", "run", "broken-journey", "--no-store", config=config)
    assert done.returncode == 1, done.stdout + done.stderr
    steps = STEP_LINE.findall(done.stdout)
    assert [(word, name) for word, name, _, _ in steps] == [
        ("failed", "scrape"),
        ("failed", "read"),
    ]
    assert "HTTP 400, expected 202" in steps[0][3]
    assert "not sent: step 'scrape' did not pass" in steps[1][3]
    assert "not polled: step 'scrape' did not pass" in done.stdout


def test_steps_bring_named_credentials_to_a_secured_engine(
    stack: RunningStack, tmp_path: Path, cli: CovenantCli
) -> None:
    """The stack's Prometheus demands basic auth: a step passes with the named
    credentials, and with a wrong password it ends error, naming the credential kind
    and never the password."""
    prometheus = stack.credentials("prometheus")
    assert prometheus.basic_auth is not None
    user, password = prometheus.basic_auth
    check: dict[str, object] = {
        "name": "secured-step",
        "deadline": "10s",
        "traffic": {
            "http": {
                "service": "prometheus",
                "path": "/api/v1/query?query=up",
                "credentials": "prometheus",
                "assert": {"status": 200, "body": [{"path": "$.status", "equals": "success"}]},
            }
        },
        "expect": [{"name": "up", "prometheus": {"condition": "up"}}],
    }

    def config(name: str, secret: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        return write_checks(
            where,
            [check],
            {
                "checks": {
                    "services": {"prometheus": stack.url("prometheus")},
                    "credentials": {"prometheus": {"username": user, "password": secret}},
                }
            },
        )

    good = cli("check", "run", "secured-step", "--no-store", config=config("right", password))
    assert good.returncode == 0, good.stdout + good.stderr
    assert STEP_LINE.findall(good.stdout)[0][0] == "passed"

    wrong = "wrong-" + password
    refused = cli("check", "run", "secured-step", "--no-store", config=config("wrong", wrong))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert (
        f"prometheus refused the request (HTTP 401) with basic auth as '{user}'" in refused.stdout
    )
    assert wrong not in refused.stdout + refused.stderr
    assert password not in refused.stdout + refused.stderr
