"""Which services ``covenant fuzz`` knows: the reference services of the local
stack, Covenant's own HTTP API, and any service configured under ``fuzz.services``."""

from __future__ import annotations

from dataclasses import replace

from covenant.kernel.config import REFERENCE_SERVICES, CovenantConfig
from covenant.kernel.endpoints import credentials_of, engine_key, service_name, stack_service_url
from covenant.kernel.errors import CovenantError, ErrorKind
from verifiers.fuzz._model import FuzzOptions

__all__ = ["COVENANT_SERVICE", "base_options", "known_services", "resolve_target"]

COVENANT_SERVICE = "covenant"


def base_options(config: CovenantConfig, service: str) -> FuzzOptions:
    """The configuration's fuzz defaults for ``service``, its spec still to be set."""
    fuzz = config.fuzz
    return FuzzOptions(
        service=service,
        spec="",
        phases=tuple(fuzz.phases),
        max_examples=fuzz.max_examples,
        seed=fuzz.seed,
        rate_limit=fuzz.rate_limit,
        response_time_budget_s=fuzz.response_time_budget_s,
    )


def known_services(config: CovenantConfig) -> list[str]:
    names = []
    if config.fuzz.include_reference:
        names += [service_name(s) for s in REFERENCE_SERVICES]
    if config.fuzz.include_covenant:
        names.append(COVENANT_SERVICE)
    names += [s.name for s in config.fuzz.services]
    return names


def resolve_target(config: CovenantConfig, service: str) -> FuzzOptions:
    """Options for ``service``; Covenant itself is resolved by the caller, which serves it."""
    for configured in config.fuzz.services:
        if configured.name == service:
            base = base_options(config, service)
            return replace(
                base,
                spec=configured.spec,
                base_url=configured.base_url,
                headers=credentials_of(configured).http_headers(),
                max_examples=configured.max_examples or base.max_examples,
                max_time_s=configured.max_time_s,
                rate_limit=configured.rate_limit or base.rate_limit,
                response_time_budget_s=configured.response_time_budget_s
                or base.response_time_budget_s,
                accepted_statuses=configured.accepted_statuses,
            )
    engine = engine_key(service)
    if engine in REFERENCE_SERVICES:
        url = stack_service_url(config.stack.state_dir, service)
        if url is None:
            raise CovenantError(
                f"'{service}' is not running in the local stack (covenant stack up)",
                kind=ErrorKind.UNREACHABLE,
            )
        return replace(base_options(config, service), spec=f"{url}/openapi.json")
    if service == COVENANT_SERVICE:
        # The broker answers 422 to schema-valid requests it cannot carry out
        # (names contradicting the path, unknown pacticipants); 400 stays a finding.
        return replace(base_options(config, service), accepted_statuses=("422",))
    raise CovenantError(
        f"unknown service '{service}'; known: {', '.join(known_services(config))}",
        kind=ErrorKind.USAGE,
    )
