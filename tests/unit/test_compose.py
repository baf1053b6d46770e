"""Checks of docker-compose.yml with the docker-compose CLI (no Docker engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.compose

REPO_ROOT = Path(__file__).parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE_PROMETHEUS_CONFIG = REPO_ROOT / "observability" / "compose" / "prometheus.yml"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

EXPECTED_SERVICES = (
    "kafka",
    "postgres",
    "prometheus",
    "alertmanager",
    "postgres-exporter",
    "loki",
    "grafana",
    "covenant",
)

# The reference system (reference/API.md): service name -> port inside the container.
REFERENCE_SERVICES = {
    "hono-api": 8081,
    "elixir-processor": 8082,
    "baml-extractor": 8083,
    "event-worker": 8084,
}

COVENANT_ENV_NAMES = (
    "COVENANT_ENGINES__POSTGRES__URL",
    "COVENANT_ENGINES__KAFKA__BOOTSTRAP_SERVERS",
    "COVENANT_ENGINES__PROMETHEUS__URL",
    "COVENANT_ENGINES__ALERTMANAGER__URL",
    "COVENANT_ENGINES__POSTGRES_EXPORTER__URL",
    "COVENANT_ENGINES__LOKI__URL",
    "COVENANT_ENGINES__GRAFANA__URL",
    "COVENANT_ENGINES__GRAFANA__TOKEN",
)


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose is not on PATH; install it (Debian: apt-get install docker-compose) "
            "to validate docker-compose.yml"
        )
    return path


def _run_compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE_FILE), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _resolved_config() -> dict[str, Any]:
    result = _run_compose("config")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict), f"docker-compose config printed no mapping:\n{result.stdout}"
    return config


def _environment_names(service: dict[str, Any]) -> set[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return set(environment)
    return {str(item).split("=", 1)[0] for item in environment}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return {str(k): "" if v is None else str(v) for k, v in environment.items()}
    pairs = (str(item).split("=", 1) for item in environment)
    return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}


def _raw_services() -> dict[str, Any]:
    """The services as written in docker-compose.yml (before docker-compose resolves paths)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict), f"{COMPOSE_FILE} is not a YAML mapping"
    services = raw.get("services") or {}
    assert isinstance(services, dict), f"{COMPOSE_FILE}: services is not a mapping"
    return services


def _dockerfile_path(service: str) -> str:
    return f"reference/{service}/Dockerfile"


def test_compose_file_is_valid() -> None:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    result = _run_compose("config", "-q")
    assert result.returncode == 0, (
        f"docker-compose config -q exited {result.returncode}:\n{result.stderr}"
    )


def test_compose_defines_every_service() -> None:
    services = _resolved_config().get("services") or {}
    expected = (*EXPECTED_SERVICES, *REFERENCE_SERVICES)
    missing = [name for name in expected if name not in services]
    assert not missing, f"services missing from docker-compose.yml: {missing}"


def test_covenant_service_is_configured_by_environment() -> None:
    services = _resolved_config().get("services") or {}
    assert "covenant" in services, "docker-compose.yml has no covenant service"
    names = _environment_names(services["covenant"])
    missing = [name for name in COVENANT_ENV_NAMES if name not in names]
    assert not missing, f"covenant service environment lacks: {missing}"
    unexpected = sorted(name for name in names if name not in COVENANT_ENV_NAMES)
    assert not unexpected, (
        f"covenant service sets variables the service does not read: {unexpected}"
    )


def test_covenant_waits_for_healthy_postgres() -> None:
    services = _resolved_config().get("services") or {}
    depends_on = services.get("covenant", {}).get("depends_on") or {}
    assert isinstance(depends_on, dict), f"covenant depends_on has no conditions: {depends_on}"
    postgres = depends_on.get("postgres") or {}
    assert postgres.get("condition") == "service_healthy", (
        f"covenant must wait for postgres to be healthy, got: {postgres}"
    )
    missing = [name for name in EXPECTED_SERVICES if name != "covenant" and name not in depends_on]
    assert not missing, f"covenant service does not depend on: {missing}"


def test_no_service_enables_pact_provider_states() -> None:
    # POST /_pact/provider-states rewrites data and fakes outages: contract tests only.
    services = _resolved_config().get("services") or {}
    enabled = sorted(
        name
        for name, service in services.items()
        if "PACT_PROVIDER_STATES" in _environment_names(service)
    )
    assert not enabled, f"services that set PACT_PROVIDER_STATES in docker-compose.yml: {enabled}"
    for name in REFERENCE_SERVICES:
        dockerfile = REPO_ROOT / _dockerfile_path(name)
        if dockerfile.is_file():
            assert "PACT_PROVIDER_STATES" not in dockerfile.read_text(encoding="utf-8"), (
                f"{_dockerfile_path(name)} must not set PACT_PROVIDER_STATES"
            )


@pytest.mark.parametrize("name", sorted(REFERENCE_SERVICES))
def test_reference_service_builds_from_the_repository_root(name: str) -> None:
    raw = _raw_services().get(name) or {}
    build = raw.get("build")
    assert isinstance(build, dict), f"{name}: build must be a mapping with context and dockerfile"
    assert build.get("context") == ".", (
        f"{name}: build context must be the repository root ('.'), got {build.get('context')!r}"
    )
    expected = _dockerfile_path(name)
    assert build.get("dockerfile") == expected, (
        f"{name}: build dockerfile must be {expected!r}, got {build.get('dockerfile')!r}"
    )
    dockerfile = REPO_ROOT / expected
    assert dockerfile.is_file(), f"{expected} is missing"
    users = [
        line.split(None, 1)[1].strip()
        for line in dockerfile.read_text(encoding="utf-8").splitlines()
        if line.strip().upper().startswith("USER ") and len(line.split(None, 1)) == 2
    ]
    assert users, f"{expected} has no USER instruction (the service would run as root)"
    assert users[-1].split(":", 1)[0] not in {"root", "0"}, f"{expected} runs as {users[-1]}"

    resolved = (_resolved_config().get("services") or {}).get(name) or {}
    context = Path(str((resolved.get("build") or {}).get("context")))
    assert context.resolve() == REPO_ROOT.resolve(), (
        f"{name}: docker-compose resolves the build context to {context}, not the repository root"
    )


@pytest.mark.parametrize("name", sorted(REFERENCE_SERVICES))
def test_reference_service_listens_and_reports_health(name: str) -> None:
    service = (_resolved_config().get("services") or {}).get(name) or {}
    port = REFERENCE_SERVICES[name]
    environment = _environment(service)
    host, port_text = environment.get("HOST"), environment.get("PORT")
    assert host == "0.0.0.0", f"{name}: HOST must be 0.0.0.0, got {host!r}"
    assert port_text == str(port), f"{name}: PORT must be {port}, got {port_text!r}"
    test = (service.get("healthcheck") or {}).get("test") or []
    command = " ".join(test) if isinstance(test, list) else str(test)
    assert f":{port}/health" in command, f"{name}: health check does not call /health: {command}"


def test_reference_services_are_wired_together() -> None:
    services = _resolved_config().get("services") or {}
    hono = _environment(services.get("hono-api") or {})
    assert hono.get("PROCESSOR_URL") == "http://elixir-processor:8082", hono.get("PROCESSOR_URL")
    assert hono.get("KAFKA_BROKERS") == "kafka:9092", hono.get("KAFKA_BROKERS")
    processor = _environment(services.get("elixir-processor") or {})
    assert processor.get("BAML_URL") == "http://baml-extractor:8083", processor.get("BAML_URL")
    assert "FETCH_ALLOWED_HOSTS" not in processor, "FETCH_ALLOWED_HOSTS should keep its default"
    worker = _environment(services.get("event-worker") or {})
    assert worker.get("KAFKA_BROKERS") == "kafka:9092", worker.get("KAFKA_BROKERS")
    for name, env in (
        ("hono-api", hono),
        ("elixir-processor", processor),
        ("event-worker", worker),
    ):
        # The URL carries the password: report only whether it points at compose's postgres.
        database_url = env.get("DATABASE_URL", "")
        assert database_url.startswith("postgresql://") and "@postgres:5432/" in database_url, (
            f"{name}: DATABASE_URL must point at the compose postgres service"
        )
        depends_on = (services.get(name) or {}).get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name} depends_on has no conditions: {depends_on}"
        condition = (depends_on.get("postgres") or {}).get("condition")
        assert condition == "service_healthy", f"{name} must wait for a healthy postgres"
    hono_ports = services.get("hono-api", {}).get("ports") or []
    published = {
        (str(p.get("published")), str(p.get("target")))
        if isinstance(p, dict)
        else tuple(str(p).split(":")[-2:])
        for p in hono_ports
    }
    assert ("8081", "8081") in published, f"hono-api must publish 8081:8081, got {hono_ports}"


def test_prometheus_scrapes_the_reference_services() -> None:
    config = yaml.safe_load(COMPOSE_PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(config, dict), f"{COMPOSE_PROMETHEUS_CONFIG} is not a YAML mapping"
    targets: dict[str, set[str]] = {}
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            targets.setdefault(str(job.get("job_name")), set()).update(static.get("targets") or [])
    for name, port in REFERENCE_SERVICES.items():
        assert f"{name}:{port}" in targets.get(name, set()), (
            f"Prometheus job {name!r} does not scrape {name}:{port}: {targets.get(name)}"
        )


def test_dockerignore_keeps_local_build_output_out_of_the_context() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    missing = [p for p in ("**/node_modules", "**/dist", "**/ebin") if p not in patterns]
    assert not missing, f".dockerignore does not exclude {missing}"
