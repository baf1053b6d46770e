"""Where each engine lives: the configuration first, then the local stack.

An engine whose URL is set in the configuration is used as given (an external
PostgreSQL, a real Loki). An engine left unset falls back to the local stack's
instance when the stack has one recorded. Engines with neither are simply not
configured, and /health leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from covenant.kernel.config import ENGINE_NAMES, CovenantConfig
from covenant.kernel.redact import redact_url
from covenant.kernel.stackstate import load_state

__all__ = ["Endpoint", "engine_key", "resolve_endpoints", "service_name"]


def engine_key(service: str) -> str:
    """The engine key of a service name: ``hono-api`` -> ``hono_api``.

    Services are named with dashes (pacts, the CLI); the configuration and the
    stack's state key the same engines with underscores."""
    return service.replace("-", "_")


def service_name(engine: str) -> str:
    """The service name of an engine key: ``hono_api`` -> ``hono-api``."""
    return engine.replace("_", "-")


def stack_service_url(state_dir: Path, service: str) -> str | None:
    """Where the local stack runs ``service`` (``hono-api`` or ``hono_api``), as it
    recorded the address; None when it runs no such service.

    The one lookup of a reference service in the stack's state: services are not
    engines of the configuration, so :func:`resolve_endpoints` does not list them."""
    record = load_state(state_dir.resolve()).engines.get(engine_key(service))
    return record.url if record else None


ProbeKind = Literal["postgres", "kafka", "http"]

#: The path that answers 200 when each HTTP engine is ready.
READY_PATHS: dict[str, str] = {
    "prometheus": "/-/ready",
    "alertmanager": "/-/ready",
    "postgres_exporter": "/metrics",
    "loki": "/ready",
    "grafana": "/api/health",
    "baml_extractor": "/health",
    "elixir_processor": "/health",
    "hono_api": "/health",
    "event_worker": "/health",
}


@dataclass(frozen=True)
class Endpoint:
    """One engine's address. ``target`` may hold credentials: never log it, use ``display``."""

    name: str
    target: str = field(repr=False)
    source: Literal["config", "stack"]
    token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def probe(self) -> ProbeKind:
        if self.name == "postgres":
            return "postgres"
        if self.name == "kafka":
            return "kafka"
        return "http"

    @property
    def display(self) -> str:
        return redact_url(self.target)


def resolve_endpoints(config: CovenantConfig) -> dict[str, Endpoint]:
    """Every engine Covenant can reach, keyed by name, in display order."""
    stack = load_state(config.stack.state_dir)
    found: dict[str, Endpoint] = {}
    for name in ENGINE_NAMES:
        engine_config = getattr(config.engines, name)
        configured: str | None
        token: str | None = None
        basic_auth: tuple[str, str] | None = None
        if name == "postgres":
            url = config.engines.postgres.url
            configured = url.get_secret_value() if url else None
        elif name == "kafka":
            configured = config.engines.kafka.bootstrap_servers
        else:
            configured = engine_config.url
            token = engine_config.token.get_secret_value() if engine_config.token else None
            token = token or None
            if engine_config.username:
                password = engine_config.password
                basic_auth = (
                    engine_config.username,
                    password.get_secret_value() if password else "",
                )
        if configured:
            found[name] = Endpoint(name, configured.rstrip("/"), "config", token, basic_auth)
        elif name in stack.engines:
            found[name] = Endpoint(name, stack.engines[name].url, "stack")
    return found
