"""Where a check's engines are, from the configuration or the local stack."""

from __future__ import annotations

from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import credentials_of, resolve_endpoints, stack_service_url
from schedules._probes import Engines

__all__ = ["engines_for"]

#: The services HTTP traffic finds in the local stack when checks.services names none.
STACK_SERVICES = ("hono-api", "elixir-processor", "baml-extractor", "event-worker")


def engines_for(config: CovenantConfig) -> Engines:
    found = resolve_endpoints(config)

    def target(name: str) -> str | None:
        endpoint = found.get(name)
        return endpoint.target if endpoint else None

    databases = {name: url.get_secret_value() for name, url in config.checks.connections.items()}
    postgres = target("postgres")
    if postgres:
        databases.setdefault("postgres", postgres)
    services = {name: url.rstrip("/") for name, url in config.checks.services.items()}
    for service in STACK_SERVICES:
        if service not in services:
            url = stack_service_url(config.stack.state_dir, service)
            if url:
                services[service] = url
    return Engines(
        prometheus=target("prometheus"),
        alertmanager=target("alertmanager"),
        loki=target("loki"),
        grafana=target("grafana"),
        auth={name: e.credentials for name, e in found.items() if e.credentials},
        databases=databases,
        kafka=target("kafka"),
        services=services,
        credentials={
            name: credentials_of(block) for name, block in config.checks.credentials.items()
        },
    )
