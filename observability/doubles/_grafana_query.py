"""``POST /api/ds/query`` and data source health checks of the Grafana double.

PromQL goes to the data source's real Prometheus, LogQL to its Loki, and the answers
are converted into Grafana's data frames (the JSON of grafana-plugin-sdk-go's
``data.Frame``: ``schema`` with ``fields`` and ``meta``, ``data.values`` column-wise).
Simplified: the range step is ``max(intervalMs, (to - from) / maxDataPoints, the data
source's timeInterval or 15s, (to - from) / 11000)`` without Grafana's alignment to
round steps, and server-side expressions are not evaluated.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from typing import Any

import httpx

from observability.doubles._common import format_prom_duration, parse_prom_duration
from observability.doubles._grafana_credentials import upstream_headers

__all__ = [
    "QueryRequestError",
    "check_health",
    "parse_grafana_time",
    "public_error_body",
    "run_queries",
]

_log = logging.getLogger(__name__)

_RELATIVE = re.compile(r"^now(?:([+-])(\d+)([smhdwMy]))?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}
_LEGEND = re.compile(r"\{\{\s*(.+?)\s*\}\}")
HEALTH_TIMEOUT_S = 2.0
QUERY_TIMEOUT_S = 30.0
# pkg/promlib/healthcheck.go: an instant query of "1+1"; pkg/tsdb/loki/healthcheck.go:
# the messages below. The Loki check runs ``vector(1)+vector(1)`` in Grafana; the double
# asks Loki's labels endpoint instead (the Loki double has no vector()), which needs the
# same credentials.
_HEALTH = {
    "prometheus": ("/api/v1/query", "Successfully queried the Prometheus API."),
    "loki": ("/loki/api/v1/labels", "Data source successfully connected."),
}
_HEALTH_ERRORS = {
    "prometheus": "There was an error returned querying the Prometheus API.",
    "loki": "Unable to connect with Loki. Please check the server logs for more details.",
}


# Data source types whose plugin has no backend: Grafana cannot check their health
# (public/app/plugins/datasource/alertmanager/plugin.json declares no "backend").
_FRONTEND_ONLY = frozenset({"alertmanager"})


def public_error_body(status: int, message_id: str, message: str) -> dict[str, Any]:
    """An errutil public error as Grafana writes it (``pkg/apimachinery/errutil``
    ``Error.Public``, written by ``pkg/api/response`` ``Err``/``ErrOrFallback``)."""
    return {"message": message, "messageId": message_id, "statusCode": status, "traceID": ""}


class QueryRequestError(ValueError):
    """A ds/query body Grafana refuses as a whole: ``{"message": ...}``, or an errutil
    public error when ``message_id`` is set."""

    def __init__(self, message: str, status: int = 400, message_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.message_id = message_id

    def body(self) -> dict[str, Any]:
        if self.message_id:
            return public_error_body(self.status, self.message_id, self.message)
        return {"message": self.message}


def parse_grafana_time(value: object, now_ms: int) -> int:
    """``now``, ``now-5m`` (units s m h d w M y) or epoch milliseconds; returns epoch ms."""
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    match = _RELATIVE.match(text)
    if match is None:
        raise QueryRequestError(f"invalid time range value {text!r}")
    sign, amount, unit = match.groups()
    offset_ms = int(amount) * _UNIT_S[unit] * 1000 if amount else 0
    return now_ms - offset_ms if sign == "-" else now_ms + offset_ms


async def check_health(datasource: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The backend health check of a data source, with its credentials; Grafana's payload
    (``pkg/api/datasources.go`` checkDatasourceHealth): 200 ``status: OK``, or 400
    ``status: ERROR`` when the check failed.

    A type whose plugin has no backend (alertmanager) is 500 ``plugin.unavailable``
    "Plugin unavailable": ``pkg/plugins`` ``Plugin.CheckHealth`` answers
    ``ErrPluginUnavailable`` without a backend client, and ``pkg/api/plugins.go``
    translatePluginRequestErrorToAPIError writes it with ``ErrOrFallback``. A type the
    double has no plugin for at all is 404 ``plugin.notRegistered``, as Grafana answers
    for a data source whose plugin is not installed."""
    kind = datasource["type"]
    if kind in _FRONTEND_ONLY:
        return 500, public_error_body(500, "plugin.unavailable", "Plugin unavailable")
    if kind not in _HEALTH:
        return 404, public_error_body(404, "plugin.notRegistered", "Plugin not registered")
    path, ok_message = _HEALTH[kind]
    url = str(datasource["url"]).rstrip("/") + path
    headers = upstream_headers(datasource)
    try:
        async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S, trust_env=False) as client:
            if kind == "prometheus":
                response = await client.post(url, data={"query": "1+1"}, headers=headers)
            else:
                response = await client.get(url, headers=headers)
        if response.status_code == 200:
            return 200, {"status": "OK", "message": ok_message}
        detail = f"{url}: HTTP {response.status_code}: {response.text[:200].strip()}"
    except httpx.HTTPError as exc:
        detail = f"{url}: {exc or type(exc).__name__}"
    message = _HEALTH_ERRORS[kind]
    if kind == "prometheus":
        # pkg/promlib/healthcheck.go getHealthCheckMessage: "<error> - <message>".
        return 400, {"status": "ERROR", "message": f"{detail} - {message}"}
    # pkg/tsdb/loki/healthcheck.go: a fixed message, the error only in the server log.
    _log.warning("Loki health check failed for data source %s: %s", datasource["uid"], detail)
    return 400, {"status": "ERROR", "message": message}


def _number(value: str) -> float:
    return float(value)  # Prometheus writes NaN, +Inf, -Inf, which float() reads


def _frame(
    ref_id: str,
    meta: dict[str, Any],
    times: list[int],
    values: list[float],
    labels: dict[str, str] | None,
    legend: str,
    interval_ms: int | None,
) -> dict[str, Any]:
    time_field: dict[str, Any] = {
        "name": "Time",
        "type": "time",
        "typeInfo": {"frame": "time.Time"},
    }
    if interval_ms:
        time_field["config"] = {"interval": interval_ms}
    value_field: dict[str, Any] = {
        "name": "Value",
        "type": "number",
        "typeInfo": {"frame": "float64"},
    }
    if labels is not None:
        value_field["labels"] = labels
    if legend and legend != "__auto" and labels is not None:
        shown = _LEGEND.sub(lambda m: labels.get(m.group(1), ""), legend)
        value_field["config"] = {"displayNameFromDS": shown}
    data: dict[str, Any] = {
        "values": [times, [None if not math.isfinite(v) else v for v in values]]
    }
    special = {
        name: [i for i, v in enumerate(values) if test(v)]
        for name, test in (
            ("NaN", math.isnan),
            ("Inf", lambda v: v == math.inf),
            ("NegInf", lambda v: v == -math.inf),
        )
    }
    if any(special.values()):
        data["entities"] = [None, {k: v for k, v in special.items() if v}]
    return {
        "schema": {"refId": ref_id, "meta": meta, "fields": [time_field, value_field]},
        "data": data,
    }


def _numeric_frames(
    ref_id: str, body: dict[str, Any], executed: str, legend: str, interval_ms: int | None
) -> list[dict[str, Any]]:
    result_type = body["resultType"]
    frame_type = "timeseries-multi" if result_type == "matrix" else "numeric-multi"
    meta = {
        "type": frame_type,
        "typeVersion": [0, 1],
        "custom": {"resultType": result_type},
        "executedQueryString": executed,
    }
    result = body["result"]
    frames: list[dict[str, Any]] = []
    if result_type == "scalar":
        frames.append(
            _frame(ref_id, meta, [round(result[0] * 1000)], [_number(result[1])], None, "", None)
        )
    for series in result if result_type in ("matrix", "vector") else []:
        points = series["values"] if result_type == "matrix" else [series["value"]]
        times = [round(float(p[0]) * 1000) for p in points]
        values = [_number(p[1]) for p in points]
        frames.append(_frame(ref_id, meta, times, values, series["metric"], legend, interval_ms))
    if not frames:
        frames.append(
            {"schema": {"refId": ref_id, "meta": meta, "fields": []}, "data": {"values": []}}
        )
    return frames


def _log_frame(ref_id: str, streams: list[dict[str, Any]], executed: str) -> dict[str, Any]:
    rows = [(s["stream"], int(ts), line) for s in streams for ts, line, *_ in s["values"]]
    ids = [
        f"{ns}_{hashlib.sha256((line + json.dumps(lbl, sort_keys=True)).encode()).hexdigest()[:8]}"
        for lbl, ns, line in rows
    ]

    def field(name: str, kind: str, frame_type: str) -> dict[str, Any]:
        return {"name": name, "type": kind, "typeInfo": {"frame": frame_type}}

    return {
        "schema": {
            "refId": ref_id,
            "meta": {
                "typeVersion": [0, 0],
                "custom": {"frameType": "LabeledTimeValues"},
                "executedQueryString": executed,
            },
            "fields": [
                field("labels", "other", "json.RawMessage"),
                field("Time", "time", "time.Time"),
                field("Line", "string", "string"),
                field("tsNs", "string", "string"),
                field("id", "string", "string"),
            ],
        },
        "data": {
            "values": [
                [r[0] for r in rows],
                [r[1] // 1_000_000 for r in rows],
                [r[2] for r in rows],
                [str(r[1]) for r in rows],
                ids,
            ]
        },
    }


def _step_s(query: dict[str, Any], datasource: dict[str, Any], span_s: float) -> float:
    try:
        floor_s = parse_prom_duration(str(datasource["jsonData"].get("timeInterval") or "15s"))
    except ValueError:
        floor_s = 15.0
    interval_s = _as_float(query.get("intervalMs")) / 1000
    max_points = _as_float(query.get("maxDataPoints"))
    per_point = span_s / max_points if max_points > 0 else 0.0
    return max(interval_s, per_point, floor_s, span_s / 11000, 0.001)


def _interpolate(expr: str, step_s: float, span_s: float, scrape_s: float) -> str:
    """Grafana's global variables, as its Prometheus and Loki backends replace them
    (Grafana docs, "Global variables": $__interval, $__range; Prometheus data source,
    "Use $__rate_interval": max($__interval + scrape interval, 4 * scrape interval))."""
    rate_s = max(step_s + scrape_s, 4 * scrape_s)
    values = {
        "$__rate_interval_ms": str(round(rate_s * 1000)),
        "$__rate_interval": format_prom_duration(rate_s),
        "$__interval_ms": str(round(step_s * 1000)),
        "$__interval": format_prom_duration(step_s),
        "$__range_ms": str(round(span_s * 1000)),
        "$__range_s": str(round(span_s)),
        "$__range": format_prom_duration(span_s),
    }
    for name, value in values.items():  # longest names first, so prefixes do not clash
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    return expr


def _as_float(value: object) -> float:
    if not isinstance(value, int | float | str):
        return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


async def _one_query(
    client: httpx.AsyncClient,
    query: dict[str, Any],
    datasource: dict[str, Any],
    from_ms: int,
    to_ms: int,
) -> dict[str, Any]:
    ref_id = str(query.get("refId") or "A")
    expr = query.get("expr")
    kind = datasource["type"]
    if kind not in ("prometheus", "loki"):
        return _error(f"the Grafana double does not query {kind!r} data sources", 400)
    if not isinstance(expr, str) or not expr.strip():
        return _error("query expr is empty", 400)
    base = str(datasource["url"]).rstrip("/")
    span_s = max((to_ms - from_ms) / 1000, 0)
    step = _step_s(query, datasource, span_s)
    try:
        scrape_s = parse_prom_duration(str(datasource["jsonData"].get("timeInterval") or "15s"))
    except ValueError:
        scrape_s = 15.0
    expr = _interpolate(expr, step, span_s, scrape_s)
    instant = query.get("queryType") == "instant" or (
        bool(query.get("instant")) and not query.get("range")
    )
    executed = f"Expr: {expr}\nStep: {format_prom_duration(step)}"
    params: dict[str, Any] = {"query": expr}
    if kind == "prometheus":
        path = "/api/v1/query" if instant else "/api/v1/query_range"
        params |= (
            {"time": to_ms / 1000}
            if instant
            else {"start": from_ms / 1000, "end": to_ms / 1000, "step": step}
        )
    else:
        path = "/loki/api/v1/query" if instant else "/loki/api/v1/query_range"
        limit = query.get("maxLines") or datasource["jsonData"].get("maxLines") or 1000
        params |= {"limit": limit, "direction": query.get("direction") or "backward"}
        if instant:
            params["time"] = to_ms * 1_000_000
        else:
            params |= {"start": from_ms * 1_000_000, "end": to_ms * 1_000_000, "step": step}
    url = base + path
    try:
        headers = upstream_headers(datasource)  # datasource.go httpClientOptions
        if kind == "prometheus":
            response = await client.post(url, data=params, headers=headers)
        else:
            response = await client.get(url, params=params, headers=headers)
    except httpx.HTTPError as exc:  # worded like Go's net/http errors, as Grafana shows them
        if kind == "prometheus":
            # pkg/promlib/querydata/request.go instantQuery/rangeQuery: a request that
            # got no answer is status 502 (StatusBadGateway), with no frames.
            failed = _error(f'Post "{url}": {exc or type(exc).__name__}', 502)
            return {**failed, "frames": []}
        return _error(f'Get "{url}": {exc or type(exc).__name__}', 500)
    try:
        body = response.json()
    except ValueError:
        return _error(response.text.strip() or f"HTTP {response.status_code}", response.status_code)
    if response.status_code != 200 or body.get("status") != "success":
        return _error(
            f"{body.get('errorType', 'error')}: {body.get('error', body)}", response.status_code
        )
    data = body["data"]
    if data["resultType"] == "streams":
        return {"status": 200, "frames": [_log_frame(ref_id, data["result"], f"Expr: {expr}")]}
    interval_ms = None if instant else round(step * 1000)
    legend = str(query.get("legendFormat") or "")
    return {"status": 200, "frames": _numeric_frames(ref_id, data, executed, legend, interval_ms)}


def _error(message: str, status: int) -> dict[str, Any]:
    return {"error": message, "errorSource": "downstream", "status": status}


async def run_queries(
    body: object, datasources: list[dict[str, Any]]
) -> tuple[int, dict[str, Any]]:
    """Answer a ds/query body: HTTP 200 when every query succeeded, else 400 with the
    per-query errors in ``results`` (Grafana's behaviour without multi-status).

    ``pkg/api/ds_query.go`` QueryMetricsV2: a body that does not bind to a
    ``dtos.MetricRequest`` is 400 "bad request data"; ``pkg/services/query`` refuses an
    empty ``queries`` with ``ErrNoQueriesFound`` (400 ``query.noQueries``)."""
    if not isinstance(body, dict) or not isinstance(body.get("queries") or [], list):
        raise QueryRequestError("bad request data")
    if not body.get("queries"):
        raise QueryRequestError("No queries found", 400, "query.noQueries")
    now_ms = int(time.time() * 1000)
    from_ms = parse_grafana_time(body.get("from", "now-1h"), now_ms)
    to_ms = parse_grafana_time(body.get("to", "now"), now_ms)
    by_uid = {ds["uid"]: ds for ds in datasources}
    by_id = {ds["id"]: ds for ds in datasources}
    jobs: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for query in body["queries"]:
        if not isinstance(query, dict):
            raise QueryRequestError("bad request data: every query must be an object")
        if query.get("hide"):
            continue
        ref = query.get("datasource")
        uid = ref.get("uid") if isinstance(ref, dict) else ref
        datasource = by_uid.get(str(uid)) if uid else by_id.get(query.get("datasourceId"))
        if datasource is None:
            raise QueryRequestError("Data source not found", 404)
        jobs.append((str(query.get("refId") or "A"), query, datasource))
    async with httpx.AsyncClient(timeout=QUERY_TIMEOUT_S, trust_env=False) as client:
        answers = await asyncio.gather(
            *(_one_query(client, q, ds, from_ms, to_ms) for _, q, ds in jobs)
        )
    results = {ref_id: answer for (ref_id, _, _), answer in zip(jobs, answers, strict=True)}
    status = 400 if any("error" in r for r in results.values()) else 200
    return status, {"results": results}
