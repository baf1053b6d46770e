"""Where a check's engines are, from the configuration or the local stack."""

from __future__ import annotations

from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import resolve_endpoints
from schedules._probes import Engines

__all__ = ["engines_for"]


def engines_for(config: CovenantConfig) -> Engines:
    found = resolve_endpoints(config)

    def target(name: str) -> str | None:
        endpoint = found.get(name)
        return endpoint.target if endpoint else None

    databases = {name: url.get_secret_value() for name, url in config.checks.connections.items()}
    postgres = target("postgres")
    if postgres:
        databases.setdefault("postgres", postgres)
    grafana = found.get("grafana")
    return Engines(
        prometheus=target("prometheus"),
        alertmanager=target("alertmanager"),
        loki=target("loki"),
        grafana=target("grafana"),
        grafana_token=grafana.token if grafana else None,
        databases=databases,
        kafka=target("kafka"),
    )
