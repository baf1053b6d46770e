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


def test_compose_file_is_valid() -> None:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    result = _run_compose("config", "-q")
    assert result.returncode == 0, (
        f"docker-compose config -q exited {result.returncode}:\n{result.stderr}"
    )


def test_compose_defines_every_service() -> None:
    services = _resolved_config().get("services") or {}
    missing = [name for name in EXPECTED_SERVICES if name not in services]
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
