"""How each kind of expectation asks whether its signal has appeared.

A probe's ``poll`` answers True (seen) or False (not yet) and raises
:class:`ProbeError` when Covenant cannot ask at all (engine unreachable, 5xx,
auth refused), which makes the run an error rather than a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from covenant.kernel.endpoints import Credentials
from covenant.kernel.errors import CovenantError
from schedules._model import (
    AlertExpectation,
    Expectation,
    GrafanaExpectation,
    LokiExpectation,
    PrometheusExpectation,
    SqlExpectation,
    render,
)

__all__ = ["Engines", "Probe", "ProbeError", "make_probe"]

HTTP_TIMEOUT_S = 5.0


class ProbeError(CovenantError):
    """Covenant could not ask (unreachable, 5xx, auth refused, bad query)."""


@dataclass(frozen=True)
class Engines:
    """Where the engines are; ``None`` when not configured."""

    prometheus: str | None = None
    alertmanager: str | None = None
    loki: str | None = None
    grafana: str | None = None
    #: engine name -> what to send it (every HTTP call of a probe sends them)
    auth: Mapping[str, Credentials] = field(default_factory=dict, repr=False)
    #: connection name -> PostgreSQL URL (``postgres`` is engines.postgres)
    databases: Mapping[str, str] = field(default_factory=dict, repr=False)
    kafka: str | None = None
    #: service name (``hono-api``) -> base URL, for HTTP traffic
    services: Mapping[str, str] = field(default_factory=dict)
    #: named credentials (``checks.credentials``) HTTP traffic refers to
    credentials: Mapping[str, Credentials] = field(default_factory=dict, repr=False)

    def credentials_for(self, engine: str) -> Credentials:
        return self.auth.get(engine) or Credentials()


def _need(url: str | None, engine: str) -> str:
    if not url:
        raise ProbeError(f"{engine} is not configured (engines.{engine}.url or the local stack)")
    return url.rstrip("/")


def _refused(engine: str, status: int, credentials: Credentials) -> ProbeError:
    """A 401/403: names the engine and the kind of credential tried, never its value."""
    return ProbeError(f"{engine} refused the request (HTTP {status}) with {credentials.describe()}")


async def _request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    engine: str,
    credentials: Credentials,
    *,
    params: Mapping[str, str] | None = None,
    json: Any = None,
) -> httpx.Response:
    """One call to an engine with its credentials; transport errors and refused
    credentials become :class:`ProbeError`, other statuses are the caller's."""
    try:
        response = await client.request(
            method,
            url,
            params=dict(params) if params else None,
            json=json,
            headers=credentials.http_headers(),
            timeout=HTTP_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise ProbeError(f"{engine} is unreachable: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise _refused(engine, response.status_code, credentials)
    return response


def _json_of(response: httpx.Response, engine: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProbeError(f"{engine} answered something that is not JSON") from None


async def _get_json(
    client: httpx.AsyncClient, url: str, engine: str, credentials: Credentials, **params: str
) -> Any:
    response = await _request(client, "GET", url, engine, credentials, params=params)
    if response.status_code >= 400:
        raise ProbeError(f"{engine} answered HTTP {response.status_code}: {response.text[:200]}")
    return _json_of(response, engine)


class Probe:
    """Base: ``prepare`` before the traffic, ``poll`` until seen, ``confirm`` after."""

    def __init__(self, expectation: Expectation, engines: Engines, values: Mapping[str, str]):
        self.expectation = expectation
        self.engines = engines
        self.values = dict(values)
        self.detail = ""

    async def prepare(self, client: httpx.AsyncClient) -> None:
        """Before the traffic (e.g. a counter's baseline)."""

    async def poll(self, client: httpx.AsyncClient) -> bool:
        raise NotImplementedError

    async def confirm_late(self, client: httpx.AsyncClient) -> bool:
        """After the deadline: did the signal arrive after all (late, not missing)?"""
        return False

    async def close(self) -> None:
        """Release what polling held (a database connection)."""


class PrometheusProbe(Probe):
    baseline: float | None = None

    @property
    def spec(self) -> PrometheusExpectation:
        assert self.expectation.prometheus is not None
        return self.expectation.prometheus

    async def _query(self, client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
        """An instant query (``POST /api/v1/query``, Prometheus HTTP API)."""
        url = _need(self.engines.prometheus, "prometheus")
        credentials = self.engines.credentials_for("prometheus")
        try:
            response = await client.post(
                f"{url}/api/v1/query",
                data={"query": query},
                headers=credentials.http_headers(),
                timeout=HTTP_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise ProbeError(f"prometheus is unreachable: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            raise _refused("prometheus", response.status_code, credentials)
        body = _json_of(response, "prometheus") if response.content else {}
        if response.status_code >= 400 or body.get("status") != "success":
            reason = body.get("error") if isinstance(body, dict) else None
            raise ProbeError(
                f"prometheus refused the query {query!r}: "
                f"HTTP {response.status_code}: {reason or response.text[:200]}"
            )
        result: list[dict[str, Any]] = (body.get("data") or {}).get("result") or []
        return result

    async def _sum(self, client: httpx.AsyncClient) -> float:
        rows = await self._query(client, f"sum({self.spec.increase})")
        return float(rows[0]["value"][1]) if rows else 0.0

    async def prepare(self, client: httpx.AsyncClient) -> None:
        if self.spec.increase is not None:
            self.baseline = await self._sum(client)

    async def poll(self, client: httpx.AsyncClient) -> bool:
        if self.spec.condition is not None:
            rows = await self._query(client, self.spec.condition)
            self.detail = f"{len(rows)} series"
            return bool(rows)
        now = await self._sum(client)
        self.detail = f"{self.baseline:g} -> {now:g}"
        return self.baseline is not None and now > self.baseline


class LokiProbe(Probe):
    """Polls a window around the send time; after the deadline one range query over
    the whole window tells a late line from a missing one (as the Loki canary does)."""

    sent_at_ns: int = 0

    @property
    def spec(self) -> LokiExpectation:
        assert self.expectation.loki is not None
        return self.expectation.loki

    def _query(self) -> str:
        needle = render(self.spec.contains, self.values).replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.spec.selector} |= "{needle}"'

    async def prepare(self, client: httpx.AsyncClient) -> None:
        self.sent_at_ns = time.time_ns()

    async def _count(self, client: httpx.AsyncClient) -> int:
        base = _need(self.engines.loki, "loki")
        start = self.sent_at_ns - int(self.spec.window_before * 1e9)
        body = await _get_json(
            client,
            f"{base}/loki/api/v1/query_range",
            "loki",
            self.engines.credentials_for("loki"),
            query=self._query(),
            start=str(start),
            end=str(time.time_ns() + 1_000_000_000),
            limit="10",
            direction="forward",
        )
        streams = (body.get("data") or {}).get("result") or []
        return sum(len(s.get("values") or []) for s in streams)

    async def poll(self, client: httpx.AsyncClient) -> bool:
        found = await self._count(client)
        self.detail = f"{found} line(s)"
        return found > 0

    async def confirm_late(self, client: httpx.AsyncClient) -> bool:
        return await self._count(client) > 0


class AlertProbe(Probe):
    """Reads alert state. Prometheus and Grafana must also know a rule of that name:
    otherwise "not firing" would be seen for an alert that cannot fire at all."""

    rule_known = False

    @property
    def spec(self) -> AlertExpectation:
        assert self.expectation.alert is not None
        return self.expectation.alert

    async def _check_rule_exists(self, client: httpx.AsyncClient) -> None:
        source = self.spec.source
        if self.rule_known or source == "alertmanager":
            return
        if source == "prometheus":
            base = _need(self.engines.prometheus, "prometheus")
            url = f"{base}/api/v1/rules"
        else:
            base = _need(self.engines.grafana, "grafana")
            url = f"{base}/api/prometheus/grafana/api/v1/rules"
        body = await _get_json(client, url, source, self.engines.credentials_for(source))
        groups = (body.get("data") or {}).get("groups") or []
        names = {r.get("name") for g in groups for r in g.get("rules") or []}
        if self.spec.name not in names:
            raise ProbeError(f"{source} has no alerting rule named '{self.spec.name}'")
        self.rule_known = True

    def _matches(self, labels: Mapping[str, Any]) -> bool:
        wanted = {"alertname": self.spec.name, **self.spec.labels}
        return all(str(labels.get(k)) == v for k, v in wanted.items())

    async def _firing(self, client: httpx.AsyncClient) -> bool:
        source = self.spec.source
        if source == "prometheus":
            base = _need(self.engines.prometheus, "prometheus")
            body = await _get_json(
                client, f"{base}/api/v1/alerts", "prometheus", self.engines.credentials_for(source)
            )
            alerts = (body.get("data") or {}).get("alerts") or []
            return any(
                a.get("state") == "firing" and self._matches(a.get("labels") or {}) for a in alerts
            )
        if source == "alertmanager":
            base = _need(self.engines.alertmanager, "alertmanager")
            body = await _get_json(
                client,
                f"{base}/api/v2/alerts",
                "alertmanager",
                self.engines.credentials_for(source),
                active="true",
            )
            return any(
                (a.get("status") or {}).get("state") == "active"
                and self._matches(a.get("labels") or {})
                for a in body or []
            )
        base = _need(self.engines.grafana, "grafana")
        body = await _get_json(
            client,
            f"{base}/api/prometheus/grafana/api/v1/alerts",
            "grafana",
            self.engines.credentials_for("grafana"),
        )
        alerts = (body.get("data") or {}).get("alerts") or []
        return any(
            str(a.get("state", "")).lower().startswith(("firing", "alerting"))
            and self._matches(a.get("labels") or {})
            for a in alerts
        )

    async def poll(self, client: httpx.AsyncClient) -> bool:
        await self._check_rule_exists(client)
        firing = await self._firing(client)
        self.detail = (
            f"{self.spec.name} {'firing' if firing else 'not firing'} ({self.spec.source})"
        )
        return firing if self.spec.state == "firing" else not firing


class GrafanaProbe(Probe):
    @property
    def spec(self) -> GrafanaExpectation:
        assert self.expectation.grafana is not None
        return self.expectation.grafana

    async def poll(self, client: httpx.AsyncClient) -> bool:
        """Data source health and dashboard data through Grafana's HTTP API, called
        directly so a Grafana under a sub path (``https://host/grafana``) works."""
        base = _need(self.engines.grafana, "grafana")
        credentials = self.engines.credentials_for("grafana")
        notes = []
        if self.spec.datasource:
            uid = quote(self.spec.datasource, safe="")
            # GET /api/datasources/uid/:uid/health: 200 OK, 400 with status ERROR
            # when the backend check fails (pkg/api/plugins.go CheckHealth).
            health = await _request(
                client, "GET", f"{base}/api/datasources/uid/{uid}/health", "grafana", credentials
            )
            body = _json_of(health, "grafana") if health.content else {}
            if health.status_code >= 500:
                # 500 "Unable to load datasource metadata" is an unknown uid: no run can pass.
                message = body.get("message") if isinstance(body, dict) else None
                raise ProbeError(
                    f"grafana answered HTTP {health.status_code} for data source "
                    f"{self.spec.datasource!r}: {message or health.text[:200]}"
                )
            if health.status_code != 200 or str(body.get("status", "")).upper() != "OK":
                message = body.get("message") if isinstance(body, dict) else None
                self.detail = (
                    f"datasource {self.spec.datasource}: HTTP {health.status_code}"
                    f"{': ' + str(message) if message else ''}"
                )
                return False
            notes.append(f"datasource {self.spec.datasource} OK")
        if self.spec.dashboard:
            uid = quote(self.spec.dashboard, safe="")
            found = await _request(
                client, "GET", f"{base}/api/dashboards/uid/{uid}", "grafana", credentials
            )
            if found.status_code == 404:
                self.detail = f"dashboard {self.spec.dashboard}: not found"
                return False
            if found.status_code >= 400:
                raise ProbeError(f"grafana answered HTTP {found.status_code}: {found.text[:200]}")
            dashboard = _json_of(found, "grafana").get("dashboard") or {}
            empty = await self._empty_panels(client, base, dashboard)
            if empty:
                self.detail = f"dashboard {self.spec.dashboard}: no data in {', '.join(empty)}"
                return False
            notes.append(f"dashboard {self.spec.dashboard} has data")
        self.detail = "; ".join(notes)
        return True

    async def _empty_panels(
        self, client: httpx.AsyncClient, base: str, dashboard: dict[str, Any]
    ) -> list[str]:
        """Titles of panels whose queries return no data, via ``POST /api/ds/query``."""
        credentials = self.engines.credentials_for("grafana")
        empty = []
        for panel in dashboard.get("panels") or []:
            targets = [t for t in panel.get("targets") or [] if t.get("expr")]
            if not targets:
                continue
            datasource = panel.get("datasource") or {}
            queries = [
                {
                    "refId": t.get("refId", "A"),
                    "datasource": t.get("datasource") or datasource,
                    "expr": t["expr"],
                    # A range query: log panels cannot be instant queries.
                    "instant": False,
                    "range": True,
                    "intervalMs": 15_000,
                    "maxDataPoints": 100,
                }
                for t in targets
            ]
            response = await _request(
                client,
                "POST",
                f"{base}/api/ds/query",
                "grafana",
                credentials,
                json={"from": "now-5m", "to": "now", "queries": queries},
            )
            results = (response.json().get("results") or {}) if response.is_success else {}
            has_data = any(
                _rows(frame) > 0 for r in results.values() for frame in r.get("frames") or []
            )
            if not has_data:
                empty.append(str(panel.get("title") or panel.get("id")))
        return empty


def _rows(frame: dict[str, Any]) -> int:
    """Rows of a Grafana data frame: the length of its first column."""
    columns = (frame.get("data") or {}).get("values") or []
    return len(columns[0]) if columns and isinstance(columns[0], list) else 0


class SqlProbe(Probe):
    @property
    def spec(self) -> SqlExpectation:
        assert self.expectation.sql is not None
        return self.expectation.sql

    _conn: Any = None

    async def poll(self, client: httpx.AsyncClient) -> bool:
        """One connection for all the polls of a run (autocommit: each poll sees new rows)."""
        import psycopg

        url = self.engines.databases.get(self.spec.connection)
        if not url:
            raise ProbeError(f"no database connection named '{self.spec.connection}'")
        try:
            # Bounded on the client: a frozen PostgreSQL (SIGSTOP) keeps the socket
            # open and never answers, which is "could not ask", not "not seen".
            async with asyncio.timeout(HTTP_TIMEOUT_S):
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        url, connect_timeout=5, autocommit=True
                    )
                cur = await self._conn.execute(self.spec.query.encode(), self.values)
                found = await cur.fetchone()
        except TimeoutError:
            await self.close()
            raise ProbeError(f"PostgreSQL did not answer within {HTTP_TIMEOUT_S:g} s") from None
        except psycopg.OperationalError as exc:
            raise ProbeError(f"PostgreSQL is unreachable: {exc}") from None
        except psycopg.Error as exc:
            raise ProbeError(f"the query failed: {type(exc).__name__}: {exc}") from None
        self.detail = "row found" if found else "no row yet"
        return found is not None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


_KINDS: dict[str, type[Probe]] = {
    "prometheus": PrometheusProbe,
    "loki": LokiProbe,
    "alert": AlertProbe,
    "grafana": GrafanaProbe,
    "sql": SqlProbe,
}


def make_probe(expectation: Expectation, engines: Engines, values: Mapping[str, str]) -> Probe:
    return _KINDS[expectation.kind](expectation, engines, values)
