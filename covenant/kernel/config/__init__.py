"""One typed, validated configuration object, loaded once."""

from covenant.kernel.config._loader import ENV_PREFIX, load_config, resolve_config_path
from covenant.kernel.config._model import (
    ENGINE_NAMES,
    INFRA_ENGINES,
    REFERENCE_SERVICES,
    STACK_ENGINES,
    BrokerConfig,
    ChecksConfig,
    CompareConfig,
    CovenantConfig,
    EnginesConfig,
    FuzzConfig,
    FuzzServiceConfig,
    HttpEngineConfig,
    KafkaConfig,
    PactsConfig,
    PostgresConfig,
    ServerConfig,
    StackConfig,
    TelemetryConfig,
)
from covenant.kernel.config._show import render_config

__all__ = [
    "ENGINE_NAMES",
    "ENV_PREFIX",
    "INFRA_ENGINES",
    "REFERENCE_SERVICES",
    "STACK_ENGINES",
    "BrokerConfig",
    "ChecksConfig",
    "CompareConfig",
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
    "TelemetryConfig",
    "load_config",
    "render_config",
    "resolve_config_path",
]
