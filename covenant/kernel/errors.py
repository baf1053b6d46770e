"""One exception tree for the whole tool.

Library code raises :class:`CovenantError` subclasses carrying an
:class:`ErrorKind`; only the edges (the CLI and the HTTP API) turn a kind into
an exit code or an HTTP status, so every layer below stays free of
presentation concerns.

Tree (the kernel's three, then those of the capabilities, then the shell's, each
defined where it is raised)::

    CovenantError
    ├── ConfigError           bad covenant.yaml, bad environment override (CONFIG)
    ├── EngineError           an engine could not be started or reached (UNREACHABLE / ENGINE)
    ├── MissingPackagesError  Debian packages are missing, not installable (ENVIRONMENT)
    ├── MalformedPact         contracts.pactfile: a pact file breaks the format (CONFIG)
    ├── BrokerRequestError    contracts.broker.client: the broker refused a request
    ├── ProviderUnreachable   verifiers.provider: the provider did not answer (UNREACHABLE)
    ├── SpecUnreachable       verifiers.compare: an OpenAPI document could not be read
    ├── CheckFileError        schedules: check files with problems, every one listed (CONFIG)
    ├── TrafficError          schedules: synthetic traffic could not be sent (the run is an error)
    ├── ProbeError            schedules: an engine could not be asked (the run is an error)
    └── StatusUnavailable     covenant.app: the status page's database cannot be read
                              (UNREACHABLE; the status API answers 503)

``tests/unit/test_errors.py`` fails when a subclass is missing from this list.
"""

from __future__ import annotations

import enum

__all__ = [
    "ConfigError",
    "CovenantError",
    "EngineError",
    "ErrorKind",
    "MissingPackagesError",
    "exit_code_for",
]


class ErrorKind(enum.Enum):
    """Why something failed; callers branch on this, not on message text."""

    CONFIG = "config"
    USAGE = "usage"
    UNREACHABLE = "unreachable"
    ENGINE = "engine"
    ENVIRONMENT = "environment"


class CovenantError(Exception):
    """Base of every error Covenant raises on purpose."""

    kind: ErrorKind = ErrorKind.ENGINE

    def __init__(self, message: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(CovenantError):
    """The configuration is invalid.

    ``location`` is ``file:line`` when the offending key came from a file, or
    the name of the environment variable it came from.
    """

    kind = ErrorKind.CONFIG

    def __init__(self, message: str, *, location: str | None = None, key: str | None = None):
        self.location = location
        self.key = key
        parts = [p for p in (location, key) if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class EngineError(CovenantError):
    """An engine (PostgreSQL, Kafka, Prometheus, ...) failed to start or answer."""

    def __init__(self, engine: str, message: str, *, kind: ErrorKind = ErrorKind.ENGINE):
        self.engine = engine
        super().__init__(f"{engine}: {message}", kind=kind)


class MissingPackagesError(CovenantError):
    """System packages are missing and cannot be installed by this process."""

    kind = ErrorKind.ENVIRONMENT

    def __init__(self, packages: list[str]):
        self.packages = packages
        super().__init__(
            "missing system packages; install them with: "
            f"sudo apt-get install -y {' '.join(sorted(packages))}"
        )


_EXIT_CODES = {
    ErrorKind.CONFIG: 2,
    ErrorKind.USAGE: 2,
    ErrorKind.UNREACHABLE: 3,
    ErrorKind.ENGINE: 4,
    ErrorKind.ENVIRONMENT: 4,
}


def exit_code_for(error: CovenantError) -> int:
    """Exit code convention shared by every command: 2 usage/config, 3 unreachable."""
    return _EXIT_CODES[error.kind]
