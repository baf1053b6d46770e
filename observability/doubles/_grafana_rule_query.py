"""Running the data queries and expressions of one Grafana alert rule.

``pkg/services/ngalert/eval/eval.go`` is followed: every ``data`` item is run (data source
queries against the real Prometheus or Loki with the data source's credentials, then the
server-side expressions of ``_grafana_expressions``), and the ``condition`` refId's values
become the results: one per series, ``Alerting`` when nonzero (NaN included), ``Normal``
when 0. A data query that answers no series makes the whole evaluation ``NoData`` with
the labels ``datasource_uid`` and ``ref_id`` (``evaluateExecutionResult``); a failed query
or expression is one ``Error`` result, with those labels for a query error
(``NewResultFromError``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from observability.doubles._common import label_fingerprint
from observability.doubles._grafana_credentials import upstream_headers
from observability.doubles._grafana_expressions import (
    ExpressionError,
    Results,
    math_expression,
    reduce,
    threshold,
)

__all__ = ["EXPRESSION_UIDS", "EvalResult", "RuleQueryError", "evaluate_rule_data"]

EXPRESSION_UIDS = frozenset({"__expr__", "-100"})


class RuleQueryError(Exception):
    """A query or expression failed; ``labels`` identify the query, as Grafana's."""

    def __init__(self, message: str, labels: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.labels = labels or {}


@dataclass
class EvalResult:
    state: str  # Normal, Alerting, NoData, Error (eval.State)
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    error: str = ""


async def _query(
    client: httpx.AsyncClient, item: dict[str, Any], datasource: dict[str, Any], now: float
) -> Results:
    model = item["model"]
    expr = model.get("expr")
    ref = {"datasource_uid": datasource["uid"], "ref_id": item["refId"]}
    if not isinstance(expr, str) or not expr.strip():
        raise RuleQueryError(f"failed to execute query {item['refId']}: no expr", ref)
    kind = datasource["type"]
    relative = item.get("relativeTimeRange") or {}
    start, end = now - float(relative.get("from") or 0), now - float(relative.get("to") or 0)
    instant = bool(model.get("instant")) or not model.get("range", False) or start >= end
    step = max(float(model.get("intervalMs") or 15000) / 1000, 1.0)
    base = str(datasource["url"]).rstrip("/")
    if kind == "prometheus":
        path = "/api/v1/query" if instant else "/api/v1/query_range"
        params: dict[str, Any] = {"query": expr}
        params |= {"time": end} if instant else {"start": start, "end": end, "step": step}
    elif kind == "loki":
        path = "/loki/api/v1/query" if instant else "/loki/api/v1/query_range"
        params = {"query": expr}
        params |= (
            {"time": int(end * 1e9)}
            if instant
            else {"start": int(start * 1e9), "end": int(end * 1e9), "step": step}
        )
    else:
        raise RuleQueryError(f"data source type {kind!r} cannot be queried by alert rules", ref)
    url = base + path
    try:
        headers = upstream_headers(datasource)
        if kind == "prometheus":  # the Prometheus data source's default httpMethod is POST
            response = await client.post(url, data=params, headers=headers)
        else:
            response = await client.get(url, params=params, headers=headers)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        detail = exc or type(exc).__name__
        raise RuleQueryError(
            f"[sse.dataQueryError] failed to execute query [{item['refId']}]: "
            f'{"Post" if kind == "prometheus" else "Get"} "{url}": {detail}',
            ref,
        ) from None
    if response.status_code != 200 or body.get("status") != "success":
        detail = body.get("error", f"HTTP {response.status_code}")
        raise RuleQueryError(
            f"[sse.dataQueryError] failed to execute query [{item['refId']}]: {detail}", ref
        )
    data = body.get("data") or {}
    kind_of = data.get("resultType")
    if kind_of == "scalar":
        return {label_fingerprint({}): ({}, [float(data["result"][1])])}
    if kind_of == "vector":
        return {
            label_fingerprint(s.get("metric") or {}): (
                dict(s.get("metric") or {}),
                [float(s["value"][1])],
            )
            for s in data.get("result") or []
        }
    if kind_of == "matrix":
        return {
            label_fingerprint(s.get("metric") or {}): (
                dict(s.get("metric") or {}),
                [float(v[1]) for v in s.get("values") or []],
            )
            for s in data.get("result") or []
        }
    raise RuleQueryError(
        f"invalid format of evaluation results for the alert definition {item['refId']}: "
        "looks like logs data, only numeric data can be alerted on",
        ref,
    )


def _expression(item: dict[str, Any], values: dict[str, Results]) -> Results:
    model = item["model"]
    kind = model.get("type")
    source = str(model.get("expression") or "")
    if kind == "math":
        return math_expression(source, values)
    ref = source.strip().lstrip("$").strip("{}")
    if ref not in values:
        raise ExpressionError(f"expression {item['refId']} refers to unknown {source!r}")
    if kind == "reduce":
        settings = model.get("settings") or {}
        mode = settings.get("mode", "")
        data = values[ref]
        if mode == "dropNN":  # pkg/expr/mathexp/reduce.go: drop NaN and null
            data = {k: (lb, [v for v in vs if not math.isnan(v)]) for k, (lb, vs) in data.items()}
        elif mode == "replaceNN":
            sub = float(settings.get("replaceWithValue") or 0)
            data = {
                k: (lb, [sub if math.isnan(v) else v for v in vs]) for k, (lb, vs) in data.items()
            }
        return reduce(data, str(model.get("reducer") or "last"))
    if kind == "threshold":
        conditions = model.get("conditions") or [{}]
        evaluator = (conditions[0] or {}).get("evaluator") or {}
        params = [float(p) for p in evaluator.get("params") or []]
        return threshold(values[ref], str(evaluator.get("type") or "gt"), params)
    raise ExpressionError(f"expression type {kind!r} is not supported by the Grafana double")


async def evaluate_rule_data(
    rule: dict[str, Any],
    datasources: dict[str, dict[str, Any]],
    client: httpx.AsyncClient,
    now: float,
) -> list[EvalResult]:
    """One evaluation of ``rule`` at ``now``: the results for the state manager."""
    values: dict[str, Results] = {}
    no_data: dict[str, str] = {}
    try:
        for item in rule["data"]:
            if item["datasourceUid"] in EXPRESSION_UIDS:
                continue
            datasource = datasources.get(item["datasourceUid"])
            if datasource is None:
                raise RuleQueryError(
                    f"failed to build query '{item['refId']}': data source not found",
                    {"datasource_uid": item["datasourceUid"], "ref_id": item["refId"]},
                )
            values[item["refId"]] = await _query(client, item, datasource, now)
            if not values[item["refId"]]:
                no_data = {"datasource_uid": datasource["uid"], "ref_id": item["refId"]}
        if no_data:  # eval.go: any data query without series -> one NoData result
            return [EvalResult("NoData", no_data)]
        pending = [i for i in rule["data"] if i["datasourceUid"] in EXPRESSION_UIDS]
        while pending:  # in dependency order, as the expression service's graph
            ready = [i for i in pending if _deps(i) <= set(values)]
            if not ready:
                raise ExpressionError("expressions refer to unknown or circular refIds")
            for item in ready:
                values[item["refId"]] = _expression(item, values)
                pending.remove(item)
    except RuleQueryError as exc:
        return [EvalResult("Error", exc.labels, error=str(exc))]
    except (ExpressionError, ZeroDivisionError, OverflowError) as exc:
        return [EvalResult("Error", error=f"failed to execute conditions: {exc}")]
    condition = values.get(rule["condition"], {})
    if not condition:
        return [EvalResult("NoData")]
    results: list[EvalResult] = []
    for labels, numbers in condition.values():
        if len(numbers) != 1:
            message = (
                f"invalid format of evaluation results for the alert definition "
                f"{rule['condition']}: looks like time series data, only reduced data can be "
                "alerted on."
            )
            return [EvalResult("Error", error=message)]
        value = numbers[0]
        results.append(EvalResult("Normal" if value == 0 else "Alerting", labels, value))
    return results


def _deps(item: dict[str, Any]) -> set[str]:
    model = item["model"]
    source = str(model.get("expression") or "")
    if model.get("type") == "math":
        return {a or b for a, b in re.findall(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", source)}
    return {source.strip().lstrip("$").strip("{}")}
