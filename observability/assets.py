"""Locate the observability configuration files shipped with the package."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "alertmanager_config",
    "grafana_dashboards",
    "grafana_provisioning",
    "prometheus_rule_files",
    "root",
]


def root() -> Path:
    return Path(__file__).resolve().parent


def alertmanager_config() -> Path:
    return root() / "alertmanager" / "alertmanager.yml"


def prometheus_rule_files() -> list[Path]:
    """Alert and recording rule files; promtool unit tests live in prometheus/tests/."""
    return sorted((root() / "prometheus" / "rules").glob("*.yml"))


def grafana_provisioning() -> Path:
    """Datasources and alert rules in Grafana's file-provisioning format."""
    return root() / "grafana" / "provisioning"


def grafana_dashboards() -> Path:
    return root() / "grafana" / "dashboards"
