"""The typed configuration object.

Every field has a sane default so that an empty ``covenant.yaml`` (or none at
all) gives the embedded default: engines come from the local stack.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from covenant.kernel.redact import redact_url

__all__ = [
    "ENGINE_NAMES",
    "INFRA_ENGINES",
    "REFERENCE_SERVICES",
    "BrokerConfig",
    "CovenantConfig",
    "EnginesConfig",
    "FuzzConfig",
    "FuzzServiceConfig",
    "HttpEngineConfig",
    "KafkaConfig",
    "PactsConfig",
    "PostgresConfig",
    "ServerConfig",
    "StackConfig",
    "StackEngineName",
]

InfraEngineName = Literal["postgres", "kafka", "prometheus", "alertmanager", "postgres_exporter"]
ReferenceServiceName = Literal["baml_extractor", "elixir_processor", "hono_api", "event_worker"]
#: In-process doubles of servers that cannot be installed here (observability/doubles).
DoubleEngineName = Literal["loki", "grafana"]
StackEngineName = InfraEngineName | DoubleEngineName | ReferenceServiceName
INFRA_ENGINES: tuple[InfraEngineName, ...] = (
    "postgres",
    "kafka",
    "prometheus",
    "alertmanager",
    "postgres_exporter",
)
#: The system under test (reference/), in start order: each needs the one before.
REFERENCE_SERVICES: tuple[ReferenceServiceName, ...] = (
    "baml_extractor",
    "elixir_processor",
    "hono_api",
    "event_worker",
)
DOUBLE_ENGINES: tuple[DoubleEngineName, ...] = ("loki", "grafana")
STACK_ENGINES: tuple[StackEngineName, ...] = (*INFRA_ENGINES, *DOUBLE_ENGINES, *REFERENCE_SERVICES)
ENGINE_NAMES: tuple[str, ...] = (*INFRA_ENGINES, "loki", "grafana")


class _Strict(BaseModel):
    # No .inf or .nan: a timeout of infinity is a hang, not a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_flag_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        field = cls.model_fields[info.field_name]
        # pydantic reads true as 1; "port: true" is a mistake, not port 1.
        if isinstance(value, bool) and field.annotation in _NUMBERS:
            raise ValueError("must be a number, not true or false")
        # An empty string for a setting that may be unset is unset, as an empty
        # COVENANT_* variable is: "url: ${DATABASE_URL:-}" with no DATABASE_URL.
        if value == "" and field.default is None:
            return None
        return value


_NUMBERS: tuple[Any, ...] = (int, float, int | None, float | None)


# -- values with a shape ----------------------------------------------------------

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)


def _is_host(text: str) -> bool:
    """A host name or an IP address (IPv6 with or without brackets)."""
    if _HOSTNAME.match(text):
        return True
    try:
        ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


def _host(value: str) -> str:
    if not _is_host(value):
        raise ValueError("must be a host name or an IP address")
    return value


def _http_url(value: str) -> str:
    """An absolute http(s) URL with a host and (if given) a port from 1 to 65535."""
    if not value or any(c.isspace() or ord(c) < 0x20 for c in value):
        raise ValueError("must be an http:// or https:// URL without spaces")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL with a host")
    if port == 0:
        raise ValueError("port must be from 1 to 65535")
    return value


def _postgres_url(value: SecretStr) -> SecretStr:
    """A libpq connection URL; the message never repeats it (it holds a password)."""
    text = value.get_secret_value()
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL")
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(text)
    except Exception:
        raise ValueError("is not a valid PostgreSQL connection URL") from None
    # libpq reads the ports only when connecting; check them now (host:port[,host:port]).
    hosts = text.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    for host in hosts.split(","):
        port = host.rpartition("]")[2].rpartition(":")[2] if ":" in host else ""
        if port and (not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535):
            raise ValueError("port must be from 1 to 65535")
    return value


def _bootstrap_servers(value: str) -> str:
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not _is_host(host) or not port.isascii() or not port.isdigit():
            raise ValueError("must be host:port[,host:port]")
        if not 1 <= int(port) <= 65535:
            raise ValueError("port must be from 1 to 65535")
    return value


def _allowed_host(value: str) -> str:
    entry = value.strip()
    if "/" in entry:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError("is not a network such as 10.0.0.0/8") from None
    elif not _is_host(entry.removeprefix("*.")):
        raise ValueError("must be a host name, an address, '*.example.com' or a network")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
PostgresUrl = Annotated[SecretStr, AfterValidator(_postgres_url)]


class ServerConfig(_Strict):
    host: Annotated[str, AfterValidator(_host)] = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    health_timeout_s: float = Field(
        default=3.0, gt=0, description="Per-engine deadline for /health probes."
    )


class PostgresConfig(_Strict):
    url: PostgresUrl | None = Field(
        default=None,
        description="postgresql:// URL. Unset: the local stack's cluster.",
    )

    def display(self) -> str | None:
        return redact_url(self.url.get_secret_value()) if self.url else None


class KafkaConfig(_Strict):
    bootstrap_servers: Annotated[str, AfterValidator(_bootstrap_servers)] | None = Field(
        default=None, description="host:port[,host:port]. Unset: the local stack's broker."
    )


class HttpCredentialsConfig(_Strict):
    """What to send to be let in. Every value is a secret: shown masked, never logged."""

    token: SecretStr | None = Field(default=None, description="Bearer token, if required.")
    username: str | None = Field(default=None, description="Basic auth user, if required.")
    password: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Sent with every request, e.g. X-Scope-OrgID (a Loki tenant) or"
        " X-Grafana-Org-Id (a Grafana organisation).",
    )

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name in value:
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if name.lower() == "authorization":
                raise ValueError("set token, or username and password, not an Authorization header")
        return value


class HttpEngineConfig(HttpCredentialsConfig):
    url: HttpUrl | None = Field(default=None, description="Base URL. Unset: the local stack's.")


class EnginesConfig(_Strict):
    postgres: PostgresConfig = PostgresConfig()
    kafka: KafkaConfig = KafkaConfig()
    prometheus: HttpEngineConfig = HttpEngineConfig()
    alertmanager: HttpEngineConfig = HttpEngineConfig()
    postgres_exporter: HttpEngineConfig = HttpEngineConfig()
    loki: HttpEngineConfig = HttpEngineConfig()
    grafana: HttpEngineConfig = HttpEngineConfig()


class StackConfig(_Strict):
    state_dir: Path = Field(
        default=Path(".covenant"),
        description="Where the local stack keeps data, logs and generated config.",
    )
    engines: tuple[StackEngineName, ...] = STACK_ENGINES
    ready_timeout_s: float = Field(default=60.0, gt=0)
    stop_timeout_s: float = Field(default=15.0, gt=0)
    install_missing_packages: bool = Field(
        default=True, description="apt-get install missing Debian packages when root."
    )
    scrape_interval_s: int = Field(default=5, ge=1, le=300)
    provider_states: bool = Field(
        default=True,
        description="Mount the reference services' Pact provider-state endpoints.",
    )


class BrokerConfig(_Strict):
    """The built-in Pact Broker served by ``covenant serve``."""

    enabled: bool = True
    read_write_tokens: tuple[SecretStr, ...] = Field(
        default=(), description="Bearer tokens allowed to write (publish, record, webhooks)."
    )
    read_only_tokens: tuple[SecretStr, ...] = Field(
        default=(), description="Bearer tokens allowed to read."
    )
    allow_anonymous_read: bool = Field(
        default=True, description="Let requests without a token read."
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest request body accepted."
    )
    public_base_url: HttpUrl | None = Field(
        default=None, description="Base URL for HAL links (default: from the request)."
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0, le=10)
    webhook_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Webhook deliveries in progress at once; the others wait their turn"
        " (keeps the database pool free for requests).",
    )
    database_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Client-side deadline of one request's use of PostgreSQL (pool,"
        " statements, commit); past it the request gets 503 and nothing is half-stored.",
    )
    webhook_allowed_hosts: tuple[Annotated[str, AfterValidator(_allowed_host)], ...] = Field(
        default=(),
        description="Hosts webhooks may call: exact names or addresses, '*.example.com',"
        " or networks such as 10.0.0.0/8. Empty allows any host.",
    )


FuzzPhase = Literal["examples", "coverage", "fuzzing", "stateful"]


#: An HTTP status or a class of them, as Schemathesis takes it: "422", "4xx".
StatusPattern = Annotated[str, Field(pattern=r"^[1-5]([0-9]{2}|xx)$")]


class FuzzServiceConfig(_Strict):
    """A service to fuzz besides the reference services and Covenant itself."""

    name: str = Field(min_length=1)
    spec: str = Field(description="OpenAPI document: URL or file.")
    base_url: HttpUrl | None = Field(default=None, description="Needed when spec is a file.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Sent with every request (e.g. X-Api-Key)."
    )
    token: SecretStr | None = Field(default=None, description="Bearer token, if required.")
    username: str | None = Field(default=None, description="Basic auth user, if required.")
    password: SecretStr | None = None
    max_examples: int | None = Field(default=None, ge=1)
    max_time_s: int | None = Field(default=None, ge=1)
    rate_limit: str | None = Field(default=None, pattern=r"^\d+/[smhd]$|^auto$")
    response_time_budget_s: float | None = Field(default=None, gt=0)
    accepted_statuses: tuple[StatusPattern, ...] = Field(
        default=(),
        description="Statuses a schema-valid request may also get besides Schemathesis's"
        " defaults (e.g. 422 for contents the schema cannot describe).",
    )


class FuzzConfig(_Strict):
    services: tuple[FuzzServiceConfig, ...] = ()
    include_reference: bool = Field(
        default=True, description="Fuzz the reference services of the local stack."
    )
    include_covenant: bool = Field(default=True, description="Fuzz Covenant's own HTTP API.")
    phases: tuple[FuzzPhase, ...] = ("examples", "coverage", "fuzzing", "stateful")
    max_examples: int = Field(default=25, ge=1)
    seed: int = 20261121
    response_time_budget_s: float = Field(default=2.0, gt=0)
    rate_limit: str | None = Field(default=None, pattern=r"^\d+/[smhd]$|^auto$")
    report_dir: Path = Path("reports/fuzz")


class PactsConfig(_Strict):
    """How much of a pact file (or a pact in a broker request) Covenant reads."""

    max_file_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="A larger pact file is refused before it is parsed.",
    )
    max_depth: int = Field(
        default=64, ge=4, le=500, description="Deeper nesting of objects and lists is refused."
    )


class CompareConfig(_Strict):
    """``covenant contracts compare`` and the comparison gate of ``can-i-deploy``."""

    gate_can_i_deploy: bool = Field(
        default=False,
        description="covenant can-i-deploy also requires each pact it rests on to match"
        " its provider's OpenAPI document.",
    )
    specs: dict[str, str] = Field(
        default_factory=dict,
        description="Provider name -> OpenAPI document (URL or file); default: the"
        " local stack's <provider>/openapi.json.",
    )


class ChecksConfig(_Strict):
    """Synthetic checks (``schedules/*.yaml``)."""

    dir: Path = Field(default=Path("schedules"), description="Where the check files are.")
    connections: dict[str, PostgresUrl] = Field(
        default_factory=dict,
        description="Extra PostgreSQL URLs SQL traffic and expectations may name"
        " ('postgres' is engines.postgres).",
    )
    services: dict[str, HttpUrl] = Field(
        default_factory=dict,
        description="Base URLs HTTP traffic may name by service (default: the local"
        " stack's reference services, e.g. hono-api).",
    )
    credentials: dict[str, HttpCredentialsConfig] = Field(
        default_factory=dict,
        description="Named credentials HTTP traffic may refer to (credentials: NAME),"
        " so check files never hold a secret.",
    )
    location: str | None = Field(
        default=None, description="This instance's place; checks with a location run only here."
    )
    schedule: bool = Field(
        default=True, description="covenant serve runs every scheduled check of checks.dir."
    )
    reload_interval_s: float = Field(
        default=5.0, gt=0, description="How often serve looks for changed check files."
    )
    instance: str | None = Field(
        default=None, description="This instance's name in claims and runs (default host:pid)."
    )


class TelemetryConfig(_Strict):
    """Covenant's own traces (its metrics are always at /metrics)."""

    otlp_endpoint: HttpUrl | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces;"
        " unset: no traces are exported.",
    )
    service_name: str = "covenant"


class CovenantConfig(_Strict):
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerConfig = ServerConfig()
    engines: EnginesConfig = EnginesConfig()
    stack: StackConfig = StackConfig()
    broker: BrokerConfig = BrokerConfig()
    fuzz: FuzzConfig = FuzzConfig()
    compare: CompareConfig = CompareConfig()
    pacts: PactsConfig = PactsConfig()
    checks: ChecksConfig = ChecksConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
