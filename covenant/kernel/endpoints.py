"""Where each engine lives: the configuration first, then the local stack.

An engine whose URL is set in the configuration is used as given (an external
PostgreSQL, a real Loki). An engine left unset falls back to the local stack's
instance when the stack has one recorded. Engines with neither are simply not
configured, and /health leaves them out.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import SecretStr

from covenant.kernel.config import (
    ENGINE_NAMES,
    CovenantConfig,
    HttpEngineConfig,
)
from covenant.kernel.redact import redact_url
from covenant.kernel.stackstate import EngineRecord, load_state

__all__ = [
    "CredentialFields",
    "Credentials",
    "Endpoint",
    "credentials_of",
    "engine_key",
    "resolve_endpoints",
    "service_name",
    "stack_credentials",
]


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
class Credentials:
    """What an HTTP client sends to be let in: a bearer token, or basic auth, plus
    extra headers such as a Loki tenant (``X-Scope-OrgID``) or a Grafana
    organisation (``X-Grafana-Org-Id``). Values never reach a repr, a log or a
    report: :meth:`describe` names the kinds only."""

    token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.token or self.basic_auth or self.headers)

    def http_headers(self) -> dict[str, str]:
        """Every header to send: ``Authorization`` (bearer wins over basic) and the extras."""
        sent = dict(self.headers)
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        elif self.basic_auth:
            pair = f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return sent

    def describe(self) -> str:
        """The credential kinds, never their values: ``bearer token, header X-Scope-OrgID``."""
        kinds = []
        if self.token:
            kinds.append("bearer token")
        elif self.basic_auth:
            kinds.append(f"basic auth as '{self.basic_auth[0]}'")
        kinds += [f"header {name}" for name in sorted(self.headers)]
        return ", ".join(kinds) or "no credentials"


@dataclass(frozen=True)
class Endpoint:
    """One engine's address. ``target`` may hold credentials: never log it, use ``display``."""

    name: str
    target: str = field(repr=False)
    source: Literal["config", "stack"]
    credentials: Credentials = field(default_factory=Credentials)

    @property
    def token(self) -> str | None:
        return self.credentials.token

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        return self.credentials.basic_auth

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


class CredentialFields(Protocol):
    """What a configuration block with credentials has: an engine's, a check's
    (``checks.credentials``) or a fuzz target's (``fuzz.services``)."""

    @property
    def token(self) -> SecretStr | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> SecretStr | None: ...
    @property
    def headers(self) -> Mapping[str, SecretStr]: ...


def credentials_of(config: CredentialFields) -> Credentials:
    """The credentials a configuration block names (an engine's, a check's or a
    fuzz target's)."""
    token = config.token.get_secret_value() if config.token else None
    basic_auth = None
    if config.username:
        password = config.password.get_secret_value() if config.password else ""
        basic_auth = (config.username, password)
    headers = {name: value.get_secret_value() for name, value in config.headers.items()}
    return Credentials(token or None, basic_auth, headers)


def stack_credentials(record: EngineRecord) -> Credentials:
    """The credentials the local stack generated for one of its engines."""
    basic_auth = (record.username, record.password or "") if record.username else None
    return Credentials(record.token or None, basic_auth, dict(record.headers or {}))


def resolve_endpoints(config: CovenantConfig) -> dict[str, Endpoint]:
    """Every engine Covenant can reach, keyed by name, in display order.

    A configured engine brings the credentials of its configuration block; an
    engine of the local stack brings the ones the stack generated for it (its
    Loki and Grafana demand a token, its Prometheus and Alertmanager basic auth)."""
    stack = load_state(config.stack.state_dir)
    found: dict[str, Endpoint] = {}
    for name in ENGINE_NAMES:
        configured: str | None
        credentials = Credentials()
        if name == "postgres":
            url = config.engines.postgres.url
            configured = url.get_secret_value() if url else None
        elif name == "kafka":
            configured = config.engines.kafka.bootstrap_servers
        else:
            engine_config: HttpEngineConfig = getattr(config.engines, name)
            configured = engine_config.url
            credentials = credentials_of(engine_config)
        if configured:
            found[name] = Endpoint(name, configured.rstrip("/"), "config", credentials)
        elif name in stack.engines:
            record = stack.engines[name]
            found[name] = Endpoint(name, record.url, "stack", stack_credentials(record))
    return found
