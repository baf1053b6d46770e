"""Grafana-managed alert rules in the Grafana double: the rule store, the evaluation
scheduler and the state manager.

* Scheduling (``pkg/services/ngalert/schedule/schedule.go``): every rule group is
  evaluated on a timer, once per group ``interval``, never on read. ``run`` is the loop;
  ``evaluate_all`` evaluates every rule once (tests drive it with a fake clock).
* Evaluation (``pkg/services/ngalert/eval/eval.go``, see ``_grafana_rule_query``): all
  queries and expressions; the condition's series are the results.
* State (``pkg/services/ngalert/state/state.go``, ``manager.go``): ``Alerting`` results
  go ``Pending`` for the rule's ``for``, then ``Alerting``; ``NoData`` and ``Error``
  results are mapped by ``noDataState`` / ``execErrState`` (``Alerting``, ``NoData`` or
  ``Error``, ``OK`` = ``Normal``, ``KeepLast``), with the result's state as the state
  reason (``Alerting (NoData)``); a series that stops coming back is kept until
  ``lastEvaluation + 2 * interval <= now`` (``stateIsStale``), then resolved as
  ``Normal (MissingSeries)`` and deleted from the cache (``deleteStaleStatesFromCache``).
  Normal instances stay listed.

Annotations are returned as written (templates are not expanded); nothing is sent to an
Alertmanager, the double's own Alertmanager API lists what Grafana would have sent.
"""

from __future__ import annotations

import asyncio
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
from observability.doubles._grafana_rule_query import (
    EXPRESSION_UIDS,
    EvalResult,
    evaluate_rule_data,
)

__all__ = ["AlertRules", "Instance"]

DEFAULT_INTERVAL_S = 60.0
DEFAULT_RECEIVER = "grafana-default-email"
RESEND_DELAY_S = 30.0  # pkg/services/ngalert/state/state.go ResendDelay
EVALUATION_TIMEOUT_S = 10.0
_DATASOURCE_ALERTS = {"Error": "DatasourceError", "NoData": "DatasourceNoData"}


@dataclass
class Instance:
    """One alert instance (``state.State``)."""

    labels: dict[str, str]  # result labels, rule labels, alertname, grafana_folder
    state: str  # Normal, Pending, Alerting, NoData, Error
    starts_at: float
    last_eval: float
    reason: str = ""
    value: float | None = None
    error: str = ""
    ends_at: float = 0.0

    @property
    def display_state(self) -> str:
        """``state.FormatStateAndReason``: ``Alerting (NoData)``."""
        return f"{self.state} ({self.reason})" if self.reason else self.state

    @property
    def active_at(self) -> float:
        return self.starts_at


@dataclass
class _Status:
    last_evaluation: float | None = None
    evaluation_time: float = 0.0
    instances: dict[str, Instance] = field(default_factory=dict)

    @property
    def health(self) -> str:
        """api_prometheus.go toRuleGroup: ``error`` when an instance has an error or is
        Error, ``nodata`` when one is NoData, else ``ok``."""
        states = {i.state for i in self.instances.values()}
        if "Error" in states or any(i.error for i in self.instances.values()):
            return "error"
        return "nodata" if "NoData" in states else "ok"

    @property
    def last_error(self) -> str:
        return next((i.error for i in self.instances.values() if i.error), "")


class AlertRules:
    """Rules by uid (ProvisionedAlertRule shape), folders, group intervals and state."""

    def __init__(
        self,
        rules: Iterable[dict[str, Any]],
        folders: dict[str, str],
        intervals: dict[tuple[str, str], float],
        clock: Callable[[], float] = time.time,
        datasources: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.rules: dict[str, dict[str, Any]] = {r["uid"]: r for r in rules}
        self.folders = folders
        self.intervals = intervals
        self.clock = clock
        self.datasources = {ds["uid"]: ds for ds in datasources}
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

    def interval_of(self, rule: dict[str, Any]) -> float:
        return self.intervals.get((rule["folderUID"], rule["ruleGroup"]), DEFAULT_INTERVAL_S)

    async def run(self, tick_s: float = 0.5) -> None:
        """The scheduler: evaluates each group when its interval has passed since its
        last evaluation (the first right away). Runs until cancelled."""
        due: dict[tuple[str, str], float] = {}
        while True:
            now = time.monotonic()
            groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for rule in self.rules.values():
                groups.setdefault((rule["folderUID"], rule["ruleGroup"]), []).append(rule)
            ready = [key for key in groups if due.get(key, 0.0) <= now]
            for key in ready:
                due[key] = now + self.intervals.get(key, DEFAULT_INTERVAL_S)
            if ready:
                await self._evaluate_rules([r for key in ready for r in groups[key]])
            await asyncio.sleep(tick_s)

    async def evaluate_all(self) -> None:
        """Evaluate every rule once, now."""
        await self._evaluate_rules(list(self.rules.values()))

    async def _evaluate_rules(self, rules: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(timeout=EVALUATION_TIMEOUT_S, trust_env=False) as client:
            await asyncio.gather(*(self._evaluate(rule, client) for rule in rules))

    async def _evaluate(self, rule: dict[str, Any], client: httpx.AsyncClient) -> None:
        status = self.status.setdefault(rule["uid"], _Status())
        if rule["isPaused"]:  # schedule.go: paused rules are not evaluated, state dropped
            status.instances.clear()
            return
        started = time.perf_counter()
        now = self.clock()
        results = await evaluate_rule_data(rule, self.datasources, client, now)
        if self.rules.get(rule["uid"]) is not rule:
            return  # replaced or deleted while evaluating
        self._process(rule, status, results, now)
        status.last_evaluation = now
        status.evaluation_time = time.perf_counter() - started

    def _labels(self, rule: dict[str, Any], result_labels: dict[str, str]) -> dict[str, str]:
        # state/cache.go expandAnnotationsAndLabels: result labels, rule labels, then the
        # reserved alertname and grafana_folder.
        return {
            **result_labels,
            **rule["labels"],
            "alertname": rule["title"],
            "grafana_folder": self.folders.get(rule["folderUID"], rule["folderUID"]),
        }

    def _process(
        self, rule: dict[str, Any], status: _Status, results: list[EvalResult], now: float
    ) -> None:
        """state/manager.go ProcessEvalResults: next state per result, then stale ones."""
        interval = self.interval_of(rule)
        hold = parse_prom_duration(rule["for"])
        ends_at = now + 4 * max(interval, RESEND_DELAY_S)  # state.go nextEndsTime
        for result in results:
            labels = self._labels(rule, result.labels)
            key = label_fingerprint(labels)
            current = status.instances.get(key)
            if current is None:
                current = Instance(labels, "Normal", starts_at=now, last_eval=now)
                status.instances[key] = current
            _next_state(current, rule, result, now, hold)
            current.last_eval, current.ends_at = now, ends_at
        for key, instance in list(status.instances.items()):
            if instance.last_eval + 2 * interval <= now:  # state.go stateIsStale
                # manager.go deleteStaleStatesFromCache: resolved as Normal
                # (MissingSeries) and removed from the cache.
                del status.instances[key]

    def rule_state(self, uid: str) -> str:
        """api_prometheus.go toRuleGroup: ``firing`` / ``pending`` / ``inactive``."""
        states = {i.state for i in self._status(uid).instances.values()}
        return (
            "firing" if "Alerting" in states else "pending" if "Pending" in states else "inactive"
        )

    def _status(self, uid: str) -> _Status:
        return self.status.get(uid) or _Status()

    def prometheus_rules(self) -> dict[str, Any]:
        """``GET /api/prometheus/grafana/api/v1/rules`` body
        (``pkg/services/ngalert/api/prometheus/api_prometheus.go``)."""
        grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for rule in self.rules.values():
            title = self.folders.get(rule["folderUID"], rule["folderUID"])
            grouped.setdefault((title, rule["folderUID"], rule["ruleGroup"]), []).append(rule)
        groups: list[dict[str, Any]] = []
        totals: dict[str, int] = {}
        for (folder_title, folder_uid, name), rules in sorted(grouped.items()):
            # As in Grafana: a group's totals count its rules' states (and error or
            # nodata health), each rule's totals count its alert instances' states.
            group_totals: dict[str, int] = {}
            entries = [self._rule_entry(rule) for rule in rules]
            for entry in entries:
                health = entry["health"] if entry["health"] in ("error", "nodata") else None
                for key in (entry["state"], health):
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
        firing = [i.active_at for i in status.instances.values() if i.state == "Alerting"]
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
        # api_prometheus.go: the value only for Alerting and Pending (FormatValues, the
        # condition's value in Go's %e form), the state with its reason.
        shown = instance.state in ("Alerting", "Pending") and instance.value is not None
        return {
            "labels": instance.labels,
            "annotations": rule["annotations"],
            "state": instance.display_state,
            "activeAt": rfc3339(instance.active_at),
            "value": format_go_exp(instance.value) if shown and instance.value is not None else "",
        }

    def prometheus_alerts(self) -> dict[str, Any]:
        """``GET /api/prometheus/grafana/api/v1/alerts`` body: every instance
        (api_prometheus.go RouteGetAlertStatuses), Normal ones included."""
        alerts = [
            self._alert(self.rules[uid], instance)
            for uid in self.rules
            for instance in self._status(uid).instances.values()
        ]
        return {"status": "success", "data": {"alerts": alerts}}

    def alertmanager_alerts(self, base_url: str) -> list[dict[str, Any]]:
        """Alertmanager v2 ``GET /api/v2/alerts`` items: what the state manager sends
        (``pkg/services/ngalert/state/compat.go`` StateToPostableAlert): Alerting, and
        NoData / Error states as ``DatasourceNoData`` / ``DatasourceError`` alerts with
        the rule's title in ``rulename``. Resolved alerts are not listed (Alertmanager's
        getAlertsHandler skips them)."""
        out: list[dict[str, Any]] = []
        now = self.clock()
        for uid, rule in self.rules.items():
            for instance in self._status(uid).instances.values():
                if instance.state not in ("Alerting", "NoData", "Error"):
                    continue
                if instance.ends_at and instance.ends_at <= now:
                    continue
                labels = {
                    **instance.labels,
                    "__alert_rule_uid__": uid,
                    "__alert_rule_namespace_uid__": rule["folderUID"],
                }
                annotations = dict(rule["annotations"])
                if instance.state in _DATASOURCE_ALERTS:
                    labels["rulename"] = labels["alertname"]
                    labels["alertname"] = _DATASOURCE_ALERTS[instance.state]
                    if instance.error:
                        annotations["Error"] = instance.error
                out.append(
                    {
                        "annotations": annotations,
                        "endsAt": rfc3339(instance.ends_at),
                        "fingerprint": label_fingerprint(labels),
                        "receivers": [{"name": DEFAULT_RECEIVER}],
                        "startsAt": rfc3339(instance.starts_at),
                        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
                        "updatedAt": rfc3339(instance.last_eval),
                        "generatorURL": f"{base_url}alerting/grafana/{uid}/view?orgId=1",
                        "labels": labels,
                    }
                )
        out.sort(key=lambda a: str(a["fingerprint"]))
        return out


_IMPORTANCE = {"Alerting": 0, "Pending": 1, "Error": 2, "NoData": 3, "Normal": 4}


def _by_importance(instances: Iterable[Instance]) -> list[Instance]:
    """api_prometheus.go sorts alerts by importance (AlertsByImportance)."""
    return sorted(instances, key=lambda i: (_IMPORTANCE.get(i.state, 5), i.starts_at))


def _to_alerting(instance: Instance, now: float, hold: float, reason: str) -> None:
    """state.go resultAlerting: Pending for ``for``, then Alerting (a new StartsAt)."""
    if instance.state == "Alerting":
        pass
    elif instance.state == "Pending":
        if now - instance.starts_at >= hold:
            instance.state, instance.starts_at = "Alerting", now
    else:
        instance.state = "Alerting" if hold <= 0 else "Pending"
        instance.starts_at = now
    instance.reason = reason


def _to_state(instance: Instance, state: str, now: float, reason: str) -> None:
    """state.go resultNormal / resultNoData / resultError: a new StartsAt on change."""
    if instance.state != state:
        instance.state, instance.starts_at = state, now
    instance.reason = reason


def _next_state(
    instance: Instance, rule: dict[str, Any], result: EvalResult, now: float, hold: float
) -> None:
    """state/manager.go setNextState for one result."""
    instance.value, instance.error = result.value, result.error
    if result.state == "Normal":
        _to_state(instance, "Normal", now, "")
        return
    if result.state == "Alerting":
        _to_alerting(instance, now, hold, "")
        return
    mode = rule["noDataState"] if result.state == "NoData" else rule["execErrState"]
    keep_last = "KeepLast" in (rule["noDataState"], rule["execErrState"])
    # manager.go: the reason is the result's state, ", KeepLast" appended for KeepLast.
    reason = result.state + (", KeepLast" if keep_last else "")
    if mode == "Alerting":
        _to_alerting(instance, now, hold, reason)
    elif mode == "OK":
        _to_state(instance, "Normal", now, reason)
    elif mode == "KeepLast":
        instance.reason = reason  # the previous state stays
    else:  # NoData or Error: a state of its own
        _to_state(instance, result.state, now, "")
