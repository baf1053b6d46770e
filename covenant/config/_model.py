"""The typed configuration object.

Every field has a sane default so that an empty ``covenant.yaml`` (or none at
all) gives the embedded default: engines come from the local stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from covenant.redact import redact_url

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
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    health_timeout_s: float = Field(
        default=3.0, gt=0, description="Per-engine deadline for /health probes."
    )


class PostgresConfig(_Strict):
    url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL. Unset: the local stack's cluster.",
    )

    def display(self) -> str | None:
        return redact_url(self.url.get_secret_value()) if self.url else None


class KafkaConfig(_Strict):
    bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port]. Unset: the local stack's broker."
    )


class HttpEngineConfig(_Strict):
    url: str | None = Field(default=None, description="Base URL. Unset: the local stack's.")
    token: SecretStr | None = Field(default=None, description="Bearer token, if required.")
    username: str | None = None
    password: SecretStr | None = None


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
    public_base_url: str | None = Field(
        default=None, description="Base URL for HAL links (default: from the request)."
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0, le=10)
    webhook_allowed_hosts: tuple[str, ...] = Field(
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
    base_url: str | None = Field(default=None, description="Needed when spec is a file.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Sent with every request (e.g. Authorization)."
    )
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
    connections: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Extra PostgreSQL URLs SQL traffic and expectations may name"
        " ('postgres' is engines.postgres).",
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

    otlp_endpoint: str | None = Field(
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
    checks: ChecksConfig = ChecksConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
