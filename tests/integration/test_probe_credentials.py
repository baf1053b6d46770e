"""Every probe against the stack's secured engines: with the stack's credentials it
asks, with wrong or no credentials the run is an ``error`` that names the engine and
the kind of credential tried, never its value."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from covenant.kernel.endpoints import Credentials
from schedules import Check, CheckRun, Engines, engines_for, run_check
from tests.integration.conftest import RunningStack

#: (engine, expectation): one of each probe, per engine it calls.
PROBES: list[tuple[str, dict[str, Any]]] = [
    ("prometheus", {"prometheus": {"condition": "up"}}),
    ("prometheus", {"prometheus": {"increase": "prometheus_http_requests_total"}}),
    ("prometheus", {"alert": {"name": "EventPipelineStalled", "state": "not_firing"}}),
    ("alertmanager", {"alert": {"name": "X", "state": "not_firing", "source": "alertmanager"}}),
    ("loki", {"loki": {"selector": '{service="event-worker"}'}}),
    ("grafana", {"grafana": {"datasource": "prometheus", "dashboard": "event-pipeline"}}),
    ("grafana", {"alert": {"name": "DatabaseWriteErrors", "source": "grafana"}}),
]


def check_of(expectation: dict[str, Any]) -> Check:
    return Check.model_validate(
        {
            "name": "probe",
            "deadline": "5s",
            "traffic": "none",
            "expect": [{"name": "e", **expectation}],
        }
    )


def run_with(stack: RunningStack, engine: str, credentials: Credentials, check: Check) -> CheckRun:
    engines = engines_for(stack.config)
    engines = replace(engines, auth={**engines.auth, engine: credentials})
    return asyncio.run(run_check(check, engines))


def wrong(credentials: Credentials) -> tuple[Credentials, str, str]:
    """The same kind of credential with a wrong secret, the secret, and the kind's words."""
    secret = "wrong-secret-value-1234"
    if credentials.token:
        return replace(credentials, token=secret), secret, "bearer token"
    assert credentials.basic_auth is not None
    user = credentials.basic_auth[0]
    return replace(credentials, basic_auth=(user, secret)), secret, f"basic auth as '{user}'"


@pytest.mark.parametrize(("engine", "expectation"), PROBES, ids=lambda p: str(p)[:40])
def test_probes_send_credentials_and_name_a_refusal(
    stack: RunningStack, engine: str, expectation: dict[str, Any]
) -> None:
    check = check_of(expectation)
    right = stack.credentials(engine)
    assert right, f"the stack's {engine} demands credentials"

    asked = run_with(stack, engine, right, check)
    assert asked.expectations[0].outcome != "error", asked.to_dict()

    bad, secret, kind = wrong(right)
    refused = run_with(stack, engine, bad, check)
    assert refused.result == "error", refused.to_dict()
    # The expectation's detail, or (a counter's baseline is read before sending) the run's.
    assert f"{engine} refused the request (HTTP 401) with {kind}" in (refused.error or "")
    assert secret not in str(refused.to_dict())

    anonymous = run_with(stack, engine, Credentials(), check)
    assert anonymous.result == "error", anonymous.to_dict()
    assert f"{engine} refused the request (HTTP 401) with no credentials" in (anonymous.error or "")


def test_a_loki_tenant_is_sent_and_required(stack: RunningStack) -> None:
    """The stack's Loki runs multi-tenant: the token without X-Scope-OrgID is refused."""
    right = stack.credentials("loki")
    assert "X-Scope-OrgID" in right.headers
    check = check_of({"loki": {"selector": '{service="event-worker"}'}})
    no_tenant = run_with(stack, "loki", replace(right, headers={}), check)
    assert no_tenant.result == "error", no_tenant.to_dict()
    assert "loki refused the request (HTTP 401) with bearer token" in (no_tenant.error or "")


def test_engines_reprs_hold_no_secret(stack: RunningStack) -> None:
    engines: Engines = engines_for(stack.config)
    text = repr(engines)
    for engine in ("prometheus", "alertmanager", "loki", "grafana"):
        credentials = stack.credentials(engine)
        for secret in (credentials.token, *(credentials.basic_auth or ())[1:]):
            if secret:
                assert secret not in text
