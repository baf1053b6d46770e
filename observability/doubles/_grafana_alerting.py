"""Grafana-managed alert rules in the Grafana double: the rule store and a deliberately
simple evaluator.

How a rule is evaluated (on every request to a read endpoint, not on a schedule):

1. Its query is the first ``data`` item whose ``datasourceUid`` is a Prometheus data
   source; ``model.expr`` is run against that Prometheus as an instant query. Server-side
   expressions (reduce, threshold, math) and the ``condition`` are not evaluated: every
   returned series whose value is nonzero (and not NaN) is an alert instance.
2. An instance first seen at time T is ``Pending`` until the rule's ``for`` has elapsed
   since T (first-seen times live in memory), then ``Alerting``; with ``for: 0s`` it is
   ``Alerting`` at once. A series that disappears or turns zero is forgotten.
3. No series: the rule is ``inactive`` (``noDataState`` is stored but not applied). A
   failed query: ``health: "error"`` with ``lastError``, and no instances.

Annotations are returned as written (templates are not expanded); nothing is sent to an
Alertmanager, the double's own Alertmanager API lists the ``Alerting`` instances.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from observability.doubles._common import (
    format_go_exp,
    label_fingerprint,
    parse_prom_duration,
    rfc3339,
)

__all__ = ["AlertRules", "Instance"]

DEFAULT_INTERVAL_S = 60.0
DEFAULT_RECEIVER = "grafana-default-email"
EXPRESSION_UIDS = frozenset({"__expr__", "-100"})


@dataclass
class Instance:
    labels: dict[str, str]  # series labels, rule labels, alertname, grafana_folder
    value: float
    first_seen: float
    firing_since: float | None = None
    updated: float = 0.0

    @property
    def state(self) -> str:
        return "Alerting" if self.firing_since is not None else "Pending"

    @property
    def active_at(self) -> float:
        """Grafana's ``StartsAt``: when the instance entered its current state."""
        return self.firing_since if self.firing_since is not None else self.first_seen


@dataclass
class _Status:
    health: str = "ok"
    last_error: str = ""
    last_evaluation: float | None = None
    evaluation_time: float = 0.0
    instances: dict[str, Instance] = field(default_factory=dict)


class AlertRules:
    """Rules by uid (ProvisionedAlertRule shape), folders, group intervals and state."""

    def __init__(
        self,
        rules: Iterable[dict[str, Any]],
        folders: dict[str, str],
        intervals: dict[tuple[str, str], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules: dict[str, dict[str, Any]] = {r["uid"]: r for r in rules}
        self.folders = folders
        self.intervals = intervals
        self.clock = clock
        self.status: dict[str, _Status] = {}
        self.next_id = max((r["id"] for r in self.rules.values()), default=0) + 1
        for rule in self.rules.values():
            rule["updated"] = rfc3339(clock())

    def put(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Store a created or replaced rule; a replaced rule's state starts over."""
        self.folders.setdefault(rule["folderUID"], rule["folderUID"])
        self.intervals.setdefault((rule["folderUID"], rule["ruleGroup"]), DEFAULT_INTERVAL_S)
        rule["updated"] = rfc3339(self.clock())
        self.rules[rule["uid"]] = rule
        self.status.pop(rule["uid"], None)
        return rule

    def delete(self, uid: str) -> None:
        self.rules.pop(uid, None)
        self.status.pop(uid, None)

    def title_taken(self, rule: dict[str, Any]) -> bool:
        return any(
            other["uid"] != rule["uid"]
            and other["folderUID"] == rule["folderUID"]
            and other["title"] == rule["title"]
            for other in self.rules.values()
        )

    async def evaluate_all(self, prometheus_urls: dict[str, str]) -> None:
        """Evaluate every rule once; ``prometheus_urls`` maps Prometheus data source uids
        to their URLs."""
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            await asyncio.gather(
                *(self._evaluate(rule, prometheus_urls, client) for rule in self.rules.values())
            )

    async def _evaluate(
        self, rule: dict[str, Any], prometheus_urls: dict[str, str], client: httpx.AsyncClient
    ) -> None:
        status = self.status.setdefault(rule["uid"], _Status())
        started = time.perf_counter()
        now = self.clock()
        if rule["isPaused"]:
            status.instances.clear()
            return
        try:
            series = await _run_query(rule, prometheus_urls, client, now)
        except _EvaluationError as exc:
            status.health, status.last_error = "error", str(exc)
            status.instances.clear()
        else:
            status.health, status.last_error = "ok", ""
            self._transition(rule, status, series, now)
        status.last_evaluation = now
        status.evaluation_time = time.perf_counter() - started

    def _transition(
        self,
        rule: dict[str, Any],
        status: _Status,
        series: list[tuple[dict[str, str], float]],
        now: float,
    ) -> None:
        hold = parse_prom_duration(rule["for"])
        seen: dict[str, Instance] = {}
        for series_labels, value in series:
            if value == 0 or math.isnan(value):
                continue
            labels = {
                **series_labels,
                **rule["labels"],
                "alertname": rule["title"],
                "grafana_folder": self.folders.get(rule["folderUID"], rule["folderUID"]),
            }
            key = label_fingerprint(series_labels)
            instance = status.instances.get(key) or Instance(labels, value, first_seen=now)
            instance.labels, instance.value, instance.updated = labels, value, now
            if instance.firing_since is None and now - instance.first_seen >= hold:
                instance.firing_since = now
            seen[key] = instance
        status.instances = seen

    def rule_state(self, uid: str) -> str:
        states = {i.state for i in self._status(uid).instances.values()}
        return "firing" if "Alerting" in states else "pending" if states else "inactive"

    def _status(self, uid: str) -> _Status:
        return self.status.get(uid) or _Status()

    def prometheus_rules(self) -> dict[str, Any]:
        """``GET /api/prometheus/grafana/api/v1/rules`` body."""
        grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for rule in self.rules.values():
            title = self.folders.get(rule["folderUID"], rule["folderUID"])
            grouped.setdefault((title, rule["folderUID"], rule["ruleGroup"]), []).append(rule)
        groups: list[dict[str, Any]] = []
        totals: dict[str, int] = {}
        for (folder_title, folder_uid, name), rules in sorted(grouped.items()):
            # As in Grafana: a group's totals count its rules' states (and error health),
            # each rule's totals count its alert instances' states.
            group_totals: dict[str, int] = {}
            entries = [self._rule_entry(rule) for rule in rules]
            for entry in entries:
                for key in (entry["state"], "error" if entry["health"] == "error" else None):
                    if key:
                        group_totals[key] = group_totals.get(key, 0) + 1
                        totals[key] = totals.get(key, 0) + 1
            last = max((self._status(r["uid"]).last_evaluation or 0.0 for r in rules), default=0.0)
            groups.append(
                {
                    "name": name,
                    "file": folder_title,
                    "folderUid": folder_uid,
                    "rules": entries,
                    "totals": group_totals,
                    "interval": self.intervals.get((folder_uid, name), DEFAULT_INTERVAL_S),
                    "lastEvaluation": rfc3339(last) if last else "0001-01-01T00:00:00Z",
                    "evaluationTime": sum(self._status(r["uid"]).evaluation_time for r in rules),
                }
            )
        return {"status": "success", "data": {"groups": groups, "totals": totals}}

    def _rule_entry(self, rule: dict[str, Any]) -> dict[str, Any]:
        status = self._status(rule["uid"])
        alerts = [self._alert(rule, i) for i in _by_importance(status.instances.values())]
        rule_totals: dict[str, int] = {}
        for instance in status.instances.values():
            key = instance.state.lower()
            rule_totals[key] = rule_totals.get(key, 0) + 1
        firing = [i.active_at for i in status.instances.values() if i.firing_since is not None]
        entry: dict[str, Any] = {
            "state": self.rule_state(rule["uid"]),
            "name": rule["title"],
            "query": " | ".join(
                str(q["model"].get("expr"))
                for q in rule["data"]
                if q["datasourceUid"] not in EXPRESSION_UIDS and q["model"].get("expr")
            ),
            "duration": parse_prom_duration(rule["for"]),
            "annotations": rule["annotations"],
            "activeAt": rfc3339(min(firing)) if firing else None,
            "alerts": alerts,
            "totals": rule_totals,
            "totalsFiltered": dict(rule_totals),
            "uid": rule["uid"],
            "folderUid": rule["folderUID"],
            "labels": rule["labels"],
            "health": status.health,
            "lastError": status.last_error,
            "type": "alerting",
            "lastEvaluation": (
                rfc3339(status.last_evaluation)
                if status.last_evaluation
                else "0001-01-01T00:00:00Z"
            ),
            "evaluationTime": status.evaluation_time,
            "isPaused": rule["isPaused"],
        }
        # Grafana's Go structs mark these omitempty.
        omit_empty = ("duration", "annotations", "activeAt", "alerts", "totals", "totalsFiltered")
        for key in (*omit_empty, "labels", "lastError"):
            if not entry[key]:
                del entry[key]
        return entry

    def _alert(self, rule: dict[str, Any], instance: Instance) -> dict[str, Any]:
        return {
            "labels": instance.labels,
            "annotations": rule["annotations"],
            "state": instance.state,
            "activeAt": rfc3339(instance.active_at),
            "value": format_go_exp(instance.value),
        }

    def prometheus_alerts(self) -> dict[str, Any]:
        """``GET /api/prometheus/grafana/api/v1/alerts`` body."""
        alerts = [
            self._alert(self.rules[uid], instance)
            for uid in self.rules
            for instance in self._status(uid).instances.values()
        ]
        return {"status": "success", "data": {"alerts": alerts}}

    def alertmanager_alerts(self, base_url: str) -> list[dict[str, Any]]:
        """Alertmanager v2 ``GET /api/v2/alerts`` items for the Alerting instances."""
        out: list[dict[str, Any]] = []
        for uid, rule in self.rules.items():
            status = self._status(uid)
            interval = self.intervals.get(
                (rule["folderUID"], rule["ruleGroup"]), DEFAULT_INTERVAL_S
            )
            for instance in status.instances.values():
                if instance.firing_since is None:
                    continue
                labels = {
                    **instance.labels,
                    "__alert_rule_uid__": uid,
                    "__alert_rule_namespace_uid__": rule["folderUID"],
                }
                out.append(
                    {
                        "annotations": rule["annotations"],
                        "endsAt": rfc3339(instance.updated + 4 * interval),
                        "fingerprint": label_fingerprint(labels),
                        "receivers": [{"name": DEFAULT_RECEIVER}],
                        "startsAt": rfc3339(instance.firing_since),
                        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
                        "updatedAt": rfc3339(instance.updated),
                        "generatorURL": f"{base_url}alerting/grafana/{uid}/view?orgId=1",
                        "labels": labels,
                    }
                )
        out.sort(key=lambda a: str(a["fingerprint"]))
        return out


def _by_importance(instances: Iterable[Instance]) -> list[Instance]:
    return sorted(instances, key=lambda i: (i.firing_since is None, i.first_seen))


class _EvaluationError(Exception):
    pass


async def _run_query(
    rule: dict[str, Any], prometheus_urls: dict[str, str], client: httpx.AsyncClient, now: float
) -> list[tuple[dict[str, str], float]]:
    query = next((q for q in rule["data"] if q["datasourceUid"] in prometheus_urls), None)
    if query is None:
        raise _EvaluationError(
            "the Grafana double evaluates only rules with a data query on a Prometheus data source"
        )
    expr = query["model"].get("expr")
    if not isinstance(expr, str) or not expr.strip():
        raise _EvaluationError(f"query {query['refId']} has no model.expr")
    url = prometheus_urls[query["datasourceUid"]].rstrip("/") + "/api/v1/query"
    try:
        response = await client.post(url, data={"query": expr, "time": f"{now:.3f}"})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise _EvaluationError(f'Post "{url}": {exc or type(exc).__name__}') from None
    if body.get("status") != "success":
        raise _EvaluationError(f"{body.get('errorType', 'error')}: {body.get('error', body)}")
    data = body.get("data") or {}
    if data.get("resultType") == "scalar":
        return [({}, float(data["result"][1]))]
    if data.get("resultType") != "vector":
        raise _EvaluationError(
            f"invalid format of evaluation results for the alert definition {query['refId']}: "
            "looks like time series data, only reduced data can be alerted on."
        )
    return [(dict(s.get("metric") or {}), float(s["value"][1])) for s in data["result"]]
