"""Running the data queries and expressions of one Grafana alert rule.

``pkg/services/ngalert/eval/eval.go`` (11.x) is followed:

* every ``data`` item runs: data source queries against the real Prometheus or Loki with
  the data source's credentials, then the server-side expressions of
  ``_grafana_expressions`` in dependency order (``pkg/expr/graph.go``: an expression
  whose input failed fails with it, the others still run);
* only a failure on the ``condition``'s dependency chain makes the evaluation fail
  (``FindConditionError``): one ``Error`` result, without labels
  (``NewResultFromError``); a query error keeps its ``ref_id`` / ``datasource_uid`` for
  the state manager (``expr.QueryError``'s payload, ``State.AddErrorInformation``);
* otherwise any data query that answered no series (a failed one included:
  ``IsNoData`` of a response without frames) makes the evaluation ``NoData``: one result
  per data source, labelled ``datasource_uid`` and ``ref_id`` (its refIds, sorted,
  comma-joined; ``datasourceUIDsToRefIDs``);
* otherwise the ``condition`` refId's values are the results: one per series,
  ``Alerting`` when nonzero (NaN included), ``Normal`` when 0 (``buildResult``); no
  series at all is one label-less ``NoData``.
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
    # A query error's {"ref_id", "datasource_uid"}: not labels of the result (an Error
    # result has none), but what State.AddErrorInformation adds to the state.
    error_source: dict[str, str] = field(default_factory=dict)


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
    for item in rule["data"]:
        # eval.go getExprRequest: an unknown data source fails the whole evaluation
        # before anything runs ("failed to build query").
        if item["datasourceUid"] not in EXPRESSION_UIDS and item["datasourceUid"] not in (
            datasources
        ):
            message = f"failed to build query '{item['refId']}': data source not found"
            return [EvalResult("Error", error=message)]
    values: dict[str, Results] = {}
    failures: dict[str, Exception] = {}
    no_data: dict[str, str] = {}  # refId -> data source uid
    for item in rule["data"]:
        if item["datasourceUid"] in EXPRESSION_UIDS:
            continue
        datasource = datasources[item["datasourceUid"]]
        try:
            values[item["refId"]] = await _query(client, item, datasource, now)
        except RuleQueryError as exc:
            failures[item["refId"]] = exc
        if not values.get(item["refId"]):  # eval.go IsNoData: no frames, errors included
            no_data[item["refId"]] = datasource["uid"]
    pending = [i for i in rule["data"] if i["datasourceUid"] in EXPRESSION_UIDS]
    while pending:  # in dependency order, as the expression service's graph
        ready = [i for i in pending if _deps(i) <= set(values) | set(failures)]
        if not ready:
            message = "expressions refer to unknown or circular refIds"
            return [EvalResult("Error", error=f"failed to execute conditions: {message}")]
        for item in ready:
            pending.remove(item)
            failed = next((failures[d] for d in sorted(_deps(item)) if d in failures), None)
            if failed is not None:  # graph.go: a dependency error, traced to its cause
                failures[item["refId"]] = failed
                continue
            try:
                values[item["refId"]] = _expression(item, values)
            except (ExpressionError, ZeroDivisionError, OverflowError) as exc:
                failures[item["refId"]] = ExpressionError(f"failed to execute conditions: {exc}")
    failure = failures.get(rule["condition"])
    if failure is not None:  # eval.go FindConditionError
        source = failure.labels if isinstance(failure, RuleQueryError) else {}
        return [EvalResult("Error", error=str(failure), error_source=dict(source))]
    if no_data:  # eval.go evaluateExecutionResult: one NoData per data source
        by_datasource: dict[str, list[str]] = {}
        for ref_id in sorted(no_data):
            by_datasource.setdefault(no_data[ref_id], []).append(ref_id)
        return [
            EvalResult("NoData", {"datasource_uid": uid, "ref_id": ",".join(refs)})
            for uid, refs in by_datasource.items()
        ]
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
