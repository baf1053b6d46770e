"""Checks of the Prometheus, Alertmanager and Grafana configuration with their own tools."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.promtool

REPO_ROOT = Path(__file__).parents[2]
OBSERVABILITY = REPO_ROOT / "observability"
RULES_DIR = OBSERVABILITY / "prometheus" / "rules"
ALERTMANAGER_CONFIG = OBSERVABILITY / "alertmanager" / "alertmanager.yml"
COMPOSE_PROMETHEUS_CONFIG = OBSERVABILITY / "compose" / "prometheus.yml"
COMPOSE_RULES_MOUNT = "/etc/prometheus/rules/"
DASHBOARDS_DIR = OBSERVABILITY / "grafana" / "dashboards"
DATASOURCES_FILE = OBSERVABILITY / "grafana" / "provisioning" / "datasources" / "datasources.yml"

RULE_TESTS_DIR = OBSERVABILITY / "prometheus" / "tests"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*_test.yml"))
DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH; install it (Debian: apt-get install prometheus "
            f"prometheus-alertmanager) to validate the observability configuration"
        )
    return path


def _run(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def _load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_there_is_something_to_check() -> None:
    assert RULE_FILES, f"no rule files in {RULES_DIR}"
    assert RULE_TEST_FILES, f"no promtool test files (*_test.yml) in {RULE_TESTS_DIR}"
    assert DASHBOARD_FILES, f"no dashboards in {DASHBOARDS_DIR}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=_ids(RULE_FILES))
def test_promtool_check_rules(rule_file: Path) -> None:
    result = _run(_tool("promtool"), "check", "rules", str(rule_file))
    assert result.returncode == 0, (
        f"promtool check rules {rule_file.name} failed\n{_output(result)}"
    )


@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=_ids(RULE_TEST_FILES))
def test_promtool_test_rules(test_file: Path) -> None:
    result = _run(_tool("promtool"), "test", "rules", str(test_file))
    assert result.returncode == 0, f"promtool test rules {test_file.name} failed\n{_output(result)}"


def test_compose_prometheus_loads_every_rule_file_and_no_test_file() -> None:
    rule_globs = _load_yaml(COMPOSE_PROMETHEUS_CONFIG).get("rule_files") or []
    assert rule_globs, f"{COMPOSE_PROMETHEUS_CONFIG} lists no rule_files"

    def loaded(path: Path) -> bool:
        return any(fnmatch.fnmatch(COMPOSE_RULES_MOUNT + path.name, g) for g in rule_globs)

    not_loaded = [p.name for p in RULE_FILES if not loaded(p)]
    assert not not_loaded, f"rule files Prometheus would not load: {not_loaded}"
    # The whole rules/ directory is mounted and globbed, so a promtool test file
    # dropped there would stop Prometheus from starting.
    test_files_in_rules = [p.name for p in RULE_FILES if "tests" in _load_yaml(p)]
    assert not test_files_in_rules, (
        f"promtool test files belong in {RULE_TESTS_DIR}, not in rules/: {test_files_in_rules}"
    )


def test_promtool_check_compose_prometheus_config(tmp_path: Path) -> None:
    config = _load_yaml(COMPOSE_PROMETHEUS_CONFIG)
    config["rule_files"] = [
        str(RULES_DIR / str(g).removeprefix(COMPOSE_RULES_MOUNT))
        for g in config.get("rule_files") or []
    ]
    local_config = tmp_path / "prometheus.yml"
    local_config.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = _run(_tool("promtool"), "check", "config", str(local_config))
    assert result.returncode == 0, f"promtool check config failed\n{_output(result)}"


def test_amtool_check_config() -> None:
    result = _run(_tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, f"amtool check-config failed\n{_output(result)}"


@pytest.mark.parametrize("dashboard_file", DASHBOARD_FILES, ids=_ids(DASHBOARD_FILES))
def test_dashboard_is_valid(dashboard_file: Path) -> None:
    with dashboard_file.open(encoding="utf-8") as handle:
        dashboard = json.load(handle)
    assert isinstance(dashboard, dict), f"{dashboard_file.name} is not a JSON object"
    assert dashboard.get("uid") == dashboard_file.stem, (
        f"{dashboard_file.name}: uid {dashboard.get('uid')!r} does not match the file name"
    )
    panels = dashboard.get("panels")
    assert isinstance(panels, list), f"{dashboard_file.name}: panels is not a list"
    assert panels, f"{dashboard_file.name} has no panels"
    datasource_uids = {
        ds.get("uid") for ds in _load_yaml(DATASOURCES_FILE).get("datasources") or []
    }
    for panel in panels:
        uid = (panel.get("datasource") or {}).get("uid")
        assert uid in datasource_uids, (
            f"{dashboard_file.name}: panel {panel.get('title')!r} uses unknown data source {uid!r}"
        )
        assert panel.get("targets"), (
            f"{dashboard_file.name}: panel {panel.get('title')!r} has no query"
        )


def test_covenant_stack_dashboard() -> None:
    with (DASHBOARDS_DIR / "covenant-stack.json").open(encoding="utf-8") as handle:
        dashboard = json.load(handle)
    assert dashboard["uid"] == "covenant-stack"
    assert dashboard["schemaVersion"] == 39
    panels = {
        (panel["type"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }
    assert ("timeseries", "min by (job) (up)") in panels, f"no `up` by job panel: {panels}"
    assert ("stat", "pg_up") in panels, f"no pg_up stat panel: {panels}"
    assert any(kind == "stat" and "ALERTS" in expr for kind, expr in panels), (
        f"no firing ALERTS stat panel: {panels}"
    )


def test_grafana_datasource_uids() -> None:
    datasources = {ds["uid"]: ds for ds in _load_yaml(DATASOURCES_FILE).get("datasources") or []}
    assert datasources.get("prometheus", {}).get("type") == "prometheus", datasources
    assert datasources.get("loki", {}).get("type") == "loki", datasources
    alertmanager = datasources.get("alertmanager", {})
    assert alertmanager.get("type") == "alertmanager", datasources
    assert (alertmanager.get("jsonData") or {}).get("implementation") == "prometheus", alertmanager
